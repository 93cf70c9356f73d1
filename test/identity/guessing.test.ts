import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { IniData } from '../../src/common/config.js';
import { getUser } from '../../src/db/identity.js';
import { PasswordAuthenticator } from '../../src/identity/password-auth.js';
import { adminLogin, call, memberOf, passwordAuth, postFrom, startServices, type Login, type Services } from './harness.js';

/** A clock the test moves: lockouts and refills happen without sleeping. */
function testClock(): { now: () => Date; advance: (seconds: number) => void } {
  let t = Date.now();
  return { now: () => new Date(t), advance: (s) => (t += s * 1000) };
}

const tokensUrl = (s: Services): string => `${s.identityUrl}/v3/auth/tokens`;
const attempt = (s: Services, user: string, password: string, from = '127.0.0.1') => postFrom(from, tokensUrl(s), passwordAuth(user, password));
const lockedMessage = (userId: string): string => `The account is locked for user: ${userId}.`;

describe('lockout ([security_compliance] lockout_failure_attempts, lockout_duration)', () => {
  let s: Services;
  let admin: Login;
  const clock = testClock();
  before(async () => {
    s = await startServices({
      security_compliance: { lockout_failure_attempts: '3', lockout_duration: '60' },
      identity: { auth_failure_burst: '0' }, // the per-source limit is tested below, on its own
    }, { clock: clock.now });
    admin = await adminLogin(s);
  });
  after(async () => s?.close());

  it('locks a user after N consecutive failures for lockout_duration, even against the right password; a success resets the count', async () => {
    const { userId } = await memberOf(s, admin, 'lock-a', 'locky');
    for (let i = 0; i < 2; i++) assert.equal((await attempt(s, 'locky', 'wrong')).status, 401);
    assert.equal((await attempt(s, 'locky', 'pw')).status, 201); // resets the count
    assert.equal((await getUser(s.db, userId))!.failed_auth_count, 0);
    for (let i = 0; i < 3; i++) {
      const r = await attempt(s, 'locky', 'wrong');
      assert.equal(r.status, 401);
      assert.equal(r.body.error.message, 'The request you have made requires authentication.');
    }
    const locked = await attempt(s, 'locky', 'pw');
    assert.equal(locked.status, 401);
    assert.deepEqual(locked.body, { error: { code: 401, title: 'Unauthorized', message: lockedMessage(userId) } });
    assert.equal((await getUser(s.db, userId))!.failed_auth_count, 3); // a locked attempt is not counted again
    clock.advance(59);
    assert.equal((await attempt(s, 'locky', 'pw')).body.error.message, lockedMessage(userId));
    clock.advance(2);
    assert.equal((await attempt(s, 'locky', 'pw')).status, 201);
    assert.equal((await getUser(s.db, userId))!.failed_auth_count, 0);
  });

  it('counts parallel guesses atomically: no more than N passwords are checked per lockout', async () => {
    const { userId } = await memberOf(s, admin, 'lock-b', 'racey');
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => attempt(s, 'racey', `guess-${i}`)));
    assert.deepEqual(answers.map((a) => a.status), Array(12).fill(401));
    const checked = answers.filter((a) => a.body.error.message !== lockedMessage(userId));
    assert.equal(checked.length, 3);
    assert.equal((await getUser(s.db, userId))!.failed_auth_count, 3);
    assert.equal((await attempt(s, 'racey', 'pw')).body.error.message, lockedMessage(userId));
  });

  it('counts a wrong original password of a password change, and an admin enabling the user unlocks it', async () => {
    const m = await memberOf(s, admin, 'lock-c', 'changer');
    const change = (original: string) => call('POST', `${s.identityUrl}/v3/users/${m.userId}/password`, {
      token: m.token, body: { user: { original_password: original, password: 'new' } },
    });
    for (let i = 0; i < 3; i++) assert.equal((await change('wrong')).status, 401);
    assert.equal((await change('pw')).body.error.message, lockedMessage(m.userId));
    const enable = await call('PATCH', `${s.identityUrl}/v3/users/${m.userId}`, { token: admin.token, body: { user: { enabled: true } } });
    assert.equal(enable.status, 200);
    assert.equal((await attempt(s, 'changer', 'pw')).status, 201);
  });
});

describe('lockout without a duration', () => {
  let s: Services;
  let admin: Login;
  const clock = testClock();
  before(async () => {
    s = await startServices({
      security_compliance: { lockout_failure_attempts: '2', lockout_duration: '' },
      identity: { auth_failure_burst: '0' },
    }, { clock: clock.now });
    admin = await adminLogin(s);
  });
  after(async () => s?.close());

  it('keeps the user locked until an admin enables it again', async () => {
    const { userId } = await memberOf(s, admin, 'forever', 'stuck');
    for (let i = 0; i < 2; i++) await attempt(s, 'stuck', 'wrong');
    clock.advance(365 * 24 * 3600);
    assert.equal((await attempt(s, 'stuck', 'pw')).body.error.message, lockedMessage(userId));
    await call('PATCH', `${s.identityUrl}/v3/users/${userId}`, { token: admin.token, body: { user: { enabled: true } } });
    assert.equal((await attempt(s, 'stuck', 'pw')).status, 201);
  });

  it('refuses nonsense lockout and limit settings at start', () => {
    const start = (overrides: IniData) => new PasswordAuthenticator(s.db, s.config.with(overrides), clock.now);
    assert.throws(() => start({ security_compliance: { lockout_failure_attempts: 'three' } }), /lockout_failure_attempts must be an integer >= 0 or empty, got "three"/);
    assert.throws(() => start({ security_compliance: { lockout_duration: '-1' } }), /lockout_duration must be an integer/);
    assert.throws(() => start({ identity: { auth_failure_burst: '5', auth_failure_refill_per_second: '0' } }), /refill rate/);
  });
});

describe('no lockout by default (as Keystone)', () => {
  let s: Services;
  let admin: Login;
  before(async () => {
    s = await startServices({ identity: { auth_failure_burst: '0' } });
    admin = await adminLogin(s);
  });
  after(async () => s?.close());

  it('checks every attempt and lets the right password in after many wrong ones', async () => {
    const { userId } = await memberOf(s, admin, 'free', 'free-u');
    for (let i = 0; i < 15; i++) assert.equal((await attempt(s, 'free-u', `wrong-${i}`)).status, 401);
    assert.equal((await attempt(s, 'free-u', 'pw')).status, 201);
    assert.equal((await getUser(s.db, userId))!.failed_auth_count, 0); // nothing counted, nothing written
  });
});

describe('per-source limit on failed logins ([identity] auth_failure_burst, auth_failure_refill_per_second)', () => {
  let s: Services;
  let admin: Login;
  const clock = testClock();
  before(async () => {
    s = await startServices({ identity: { auth_failure_burst: '3', auth_failure_refill_per_second: '0.5' } }, { clock: clock.now });
    admin = await adminLogin(s);
    await memberOf(s, admin, 'limited', 'lim');
  });
  after(async () => s?.close());

  it('refuses a source that spent its failures with 429, before any password is checked; another source is unaffected', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await attempt(s, 'lim', 'wrong', '127.0.0.11')).status, 401);
    const refused = await attempt(s, 'lim', 'wrong', '127.0.0.11');
    assert.equal(refused.status, 429);
    assert.deepEqual(refused.body, {
      error: { code: 429, title: 'Too Many Requests', message: 'Too many failed authentication attempts from this address; retry in 2 s.' },
    });
    // The right password too: telling it apart would cost the hashing the limit refuses.
    assert.equal((await attempt(s, 'lim', 'pw', '127.0.0.11')).status, 429);
    // Another address: its own correct login passes, and its failures are its own.
    assert.equal((await attempt(s, 'lim', 'pw', '127.0.0.12')).status, 201);
    assert.equal((await attempt(s, 'lim', 'wrong', '127.0.0.12')).status, 401);
    // One failure regained after 1 / 0.5 s.
    clock.advance(2);
    assert.equal((await attempt(s, 'lim', 'pw', '127.0.0.11')).status, 201);
  });

  it('counts unknown users as failures too', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await attempt(s, `nobody-${i}`, 'x', '127.0.0.13')).status, 401);
    assert.equal((await attempt(s, 'nobody', 'x', '127.0.0.13')).status, 429);
  });

  it('never limits correct logins, however many', async () => {
    for (let i = 0; i < 20; i++) assert.equal((await attempt(s, 'lim', 'pw', '127.0.0.14')).status, 201);
  });
});
