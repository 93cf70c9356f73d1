import assert from 'node:assert/strict';
import { pbkdf2Sync } from 'node:crypto';
import { describe, it } from 'node:test';
import { hashPassword, needsRehash, passwordHashOptions, verifyPassword, type PasswordHashOptions } from '../../src/auth/passwords.js';
import { Config } from '../../src/common/config.js';

const PBKDF2: PasswordHashOptions = { algorithm: 'pbkdf2_sha512', rounds: 1000 };
const SCRYPT: PasswordHashOptions = { algorithm: 'scrypt', cost: 1024 };

/** Made by the scrypt-only passwords.ts (before PBKDF2), for 'correct horse': databases hold such strings. */
const STORED_SCRYPT = [
  '$scrypt$N=1024,r=8,p=1$uJRe8dDVamKk1GpyeG/w/w==$eC8RnGTB7H/Wuwj2Y8r+k2D4hd6tG8kntXXgCnba7NU=',
  '$scrypt$N=16384,r=8,p=1$vgtPG3LnArlbTVKRAK8cWQ==$a+rSQj6YJioE+KH04u0S2jym2GCEPT9i+ERn3juzRwg=',
];

/**
 * passlib's pbkdf2_sha512 format, computed apart from Orrery with Python's hashlib.pbkdf2_hmac and
 * adapted base64 ('.' for '+', no padding). Several contain '.', one a 10-byte salt, one no salt.
 */
const PASSLIB: Array<[password: string, hash: string]> = [
  ['correct horse', '$pbkdf2-sha512$1000$obLD1OX2BxgpOktcbX6PkA$cERz0/CqJhhtoco97CXsJbx9rlWrHC93QpX34tBr8RH2hJfJgNCEBq17TO4tkBVZXvVphQgn1Ya8.zi/pLzDqw'],
  ['pässwörd ✓', '$pbkdf2-sha512$25000$obLD1OX2BxgpOktcbX6PkA$/VMD6MBxDPSTsjBADkfdVzbr3l0TaV/.N0s6nwJzVSPt7whg08tgQb1/c0jxYQy/IFqUebJMkuijgAbnjC7vYQ'],
  ['correct horse', '$pbkdf2-sha512$1000$yMnKy8zNzs/Q0Q$0qWQ4xiHH/xV7UhGuJa96EPvOvPe4ogljQYl0e3PD6QVPxE9lpxiRvg/j2Fjj8bDniNgQvEq7sM6fDn5UBZdTQ'],
  ['correct horse', '$pbkdf2-sha512$1000$$Dt0k4jJKsZr6z2xehF6HGqTv9YTwuVOt1Sr4TuE4mfcxww9cPdD/2r7un2h6mhyKsZM3g9y9C9iTR4mN1wzuxQ'],
];

const fromAb64 = (s: string): Buffer => Buffer.from(s.replaceAll('.', '+'), 'base64');

describe('passwords', () => {
  it('hashes with PBKDF2-SHA512 in passlib\'s format, with a random salt', async () => {
    const a = await hashPassword('hunter2', PBKDF2);
    const b = await hashPassword('hunter2', PBKDF2);
    assert.notEqual(a, b);
    const m = /^\$pbkdf2-sha512\$1000\$([A-Za-z0-9./]{22})\$([A-Za-z0-9./]{86})$/.exec(a);
    assert.ok(m, a);
    // The fields mean what passlib means: 16 bytes of salt, the 64-byte PBKDF2-HMAC-SHA512 output.
    assert.deepEqual(fromAb64(m[2]!), pbkdf2Sync('hunter2', fromAb64(m[1]!), 1000, 64, 'sha512'));
    assert.equal(await verifyPassword('hunter2', a), true);
    assert.equal(await verifyPassword('hunter3', a), false);
  });

  it('still hashes with scrypt when so configured', async () => {
    const a = await hashPassword('hunter2', SCRYPT);
    assert.match(a, /^\$scrypt\$N=1024,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.notEqual(a, await hashPassword('hunter2', SCRYPT));
    assert.equal(await verifyPassword('hunter2', a), true);
    assert.equal(await verifyPassword('hunter3', a), false);
  });

  it('verifies scrypt hashes stored by earlier releases, whatever is configured now', async () => {
    for (const stored of STORED_SCRYPT) {
      assert.equal(await verifyPassword('correct horse', stored), true, stored);
      assert.equal(await verifyPassword('correct horsf', stored), false, stored);
    }
  });

  it('verifies hashes made by passlib (Keystone)', async () => {
    for (const [password, stored] of PASSLIB) {
      assert.equal(await verifyPassword(password, stored), true, stored);
      assert.equal(await verifyPassword(`${password} `, stored), false, stored);
    }
  });

  it('matches no password against a malformed, truncated or unknown stored hash', async () => {
    const good = PASSLIB[0]![1];
    const bad = [
      '', 'correct horse', '$pbkdf2-sha512$', '$scrypt$garbage',
      good.slice(0, -1), STORED_SCRYPT[0]!.slice(0, -8), // shortened keys: prefixes of the real ones
      good.replace('$1000$', '$999$'), // other rounds: another key
      good.replace('$1000$', '$0$'), good.replace('$1000$', '$01000$'), good.replace('$1000$', '$-1000$'),
      good.replace('$1000$', '$4294967296$'), // more rounds than PBKDF2 takes
      good.replace(/\$[^$]+$/, '$'), // no checksum
      good.replaceAll('.', '+'), // standard base64 is not passlib's alphabet
      good.replace('$pbkdf2-sha512$', '$pbkdf2-sha256$'),
      `${good}$extra`,
      '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW', // bcrypt: not supported
      STORED_SCRYPT[0]!.replace('N=1024', 'N=1000'), // scrypt refuses an N that is no power of two
      STORED_SCRYPT[0]!.replace(/\$[^$]+$/, '$'),
    ];
    for (const stored of bad) assert.equal(await verifyPassword('correct horse', stored), false, stored);
  });

  it('rejects nonsense hashing options', async () => {
    for (const opts of [
      { algorithm: 'pbkdf2_sha512', rounds: 999 }, { algorithm: 'pbkdf2_sha512', rounds: 1000.5 },
      { algorithm: 'pbkdf2_sha512', rounds: 2 ** 31 }, { algorithm: 'pbkdf2_sha512', rounds: Number.NaN },
      { algorithm: 'scrypt', cost: 1000 }, { algorithm: 'scrypt', cost: 512 }, { algorithm: 'scrypt', cost: 2 ** 21 },
    ] as PasswordHashOptions[]) {
      await assert.rejects(hashPassword('x', opts), /^Error: config: \[identity\] password_hash_(rounds|cost)/, JSON.stringify(opts));
    }
  });

  it('reads and checks the configuration: PBKDF2 with OWASP\'s 210,000 rounds by default', () => {
    assert.deepEqual(passwordHashOptions(new Config(undefined, {})), { algorithm: 'pbkdf2_sha512', rounds: 210_000 });
    assert.deepEqual(
      passwordHashOptions(new Config({ identity: { password_hash_algorithm: 'scrypt' } }, {})), { algorithm: 'scrypt', cost: 16384 });
    // An unused option is not checked: only the configured algorithm's cost matters.
    assert.deepEqual(
      passwordHashOptions(new Config({ identity: { password_hash_cost: 'n/a' } }, { ORRERY_IDENTITY__PASSWORD_HASH_ROUNDS: '5000' })),
      { algorithm: 'pbkdf2_sha512', rounds: 5000 });
    assert.throws(() => passwordHashOptions(new Config({ identity: { password_hash_algorithm: 'pbkdf2_sha256' } }, {})),
      /password_hash_algorithm must be pbkdf2_sha512 or scrypt, got "pbkdf2_sha256"/);
    assert.throws(() => passwordHashOptions(new Config({ identity: { password_hash_rounds: '' } }, {})),
      /password_hash_rounds must be an integer from 1000 to 2147483647, got 0/);
  });

  it('tells which stored hashes another algorithm or cost made', async () => {
    const pbkdf2 = await hashPassword('x', PBKDF2);
    assert.equal(needsRehash(pbkdf2, PBKDF2), false);
    assert.equal(needsRehash(pbkdf2, { algorithm: 'pbkdf2_sha512', rounds: 2000 }), true);
    assert.equal(needsRehash(pbkdf2, SCRYPT), true);
    assert.equal(needsRehash(STORED_SCRYPT[0]!, SCRYPT), false);
    assert.equal(needsRehash(STORED_SCRYPT[1]!, SCRYPT), true);
    assert.equal(needsRehash(STORED_SCRYPT[0]!, PBKDF2), true);
    assert.equal(needsRehash('', PBKDF2), true);
  });
});
