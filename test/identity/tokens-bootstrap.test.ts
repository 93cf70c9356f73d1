import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { verifyPassword } from '../../src/auth/passwords.js';
import { TokenService } from '../../src/auth/tokens.js';
import { Config } from '../../src/common/config.js';
import { OrreryError } from '../../src/common/errors.js';
import { migrate, openDatabase, type Db } from '../../src/db/connection.js';
import { DEFAULT_DOMAIN_ID, findProjectByName, findUserByName, getUser } from '../../src/db/identity.js';
import { bootstrapIdentity } from '../../src/identity/bootstrap.js';

const config = new Config({ identity: { password_hash_cost: '1024', password_hash_rounds: '1000' } }, {});

const rejects401 = (p: Promise<unknown>) =>
  assert.rejects(p, (err: unknown) => err instanceof OrreryError && err.status === 401);

describe('bootstrap and tokens', () => {
  let db: Db;
  let adminId: string;
  let adminProject: string;
  before(async () => {
    db = openDatabase('sqlite://');
    await migrate(db);
    await bootstrapIdentity(db, config);
    adminId = (await findUserByName(db, 'admin', DEFAULT_DOMAIN_ID))!.id;
    adminProject = (await findProjectByName(db, 'admin', DEFAULT_DOMAIN_ID))!.id;
  });
  after(async () => db.destroy());

  const count = async (table: 'roles' | 'users' | 'projects' | 'role_assignments'): Promise<number> =>
    Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

  it('bootstraps roles, admin and service accounts idempotently', async () => {
    const counts = async () => [await count('roles'), await count('users'), await count('projects'), await count('role_assignments')];
    assert.deepEqual(await counts(), [3, 2, 2, 2]);
    await bootstrapIdentity(db, config);
    assert.deepEqual(await counts(), [3, 2, 2, 2]);
    const service = await findUserByName(db, 'orrery', DEFAULT_DOMAIN_ID);
    assert.ok(service && await verifyPassword('orrery-service', service.password_hash));
    assert.match(service.password_hash, /^\$pbkdf2-sha512\$1000\$/);
  });

  it('rehashes the bootstrap users whose hash has another algorithm or cost, keeping their password', async () => {
    // An existing database from before PBKDF2 became the default: its hashes are scrypt.
    const scrypt = config.with({ identity: { password_hash_algorithm: 'scrypt' } });
    await bootstrapIdentity(db, scrypt);
    const before = (await getUser(db, adminId))!.password_hash;
    assert.match(before, /^\$scrypt\$N=1024,/);
    await bootstrapIdentity(db, scrypt);
    assert.equal((await getUser(db, adminId))!.password_hash, before, 'an up-to-date hash is left alone');
    await bootstrapIdentity(db, config);
    for (const [name, password] of [['admin', 'secret'], ['orrery', 'orrery-service']] as const) {
      const hash = (await findUserByName(db, name, DEFAULT_DOMAIN_ID))!.password_hash;
      assert.match(hash, /^\$pbkdf2-sha512\$1000\$/);
      assert.equal(await verifyPassword(password, hash), true);
    }
  });

  it('refuses to start with a nonsense hashing configuration', async () => {
    for (const [option, value, message] of [
      ['password_hash_algorithm', 'bcrypt', /password_hash_algorithm must be pbkdf2_sha512 or scrypt, got "bcrypt"/],
      ['password_hash_rounds', '999', /password_hash_rounds must be an integer from 1000/],
      ['password_hash_rounds', 'many', /password_hash_rounds must be an integer from 1000 .* got NaN/],
    ] as const) {
      await assert.rejects(bootstrapIdentity(db, config.with({ identity: { [option]: value } })), message);
    }
    const scrypt = config.with({ identity: { password_hash_algorithm: 'scrypt', password_hash_cost: '1000' } });
    await assert.rejects(bootstrapIdentity(db, scrypt), /password_hash_cost \(scrypt's N\) must be a power of two/);
  });

  it('gives the admin user the configured password again at start', async () => {
    await bootstrapIdentity(db, config.with({ identity: { admin_password: 'changed' } }));
    const admin = (await getUser(db, adminId))!;
    assert.equal(await verifyPassword('changed', admin.password_hash), true);
    await bootstrapIdentity(db, config);
    assert.equal(await verifyPassword('secret', (await getUser(db, adminId))!.password_hash), true);
  });

  it('issues and validates tokens with roles, implied roles and admin status', async () => {
    const tokens = new TokenService(db, config);
    const issued = await tokens.issue(adminId, adminProject);
    assert.match(issued.tokenId, /^gAAAA/);
    const ctx = await new TokenService(db, config).validate(issued.tokenId);
    assert.equal(ctx.userId, adminId);
    assert.equal(ctx.userName, 'admin');
    assert.equal(ctx.projectId, adminProject);
    assert.equal(ctx.projectName, 'admin');
    assert.equal(ctx.isAdmin, true);
    assert.deepEqual(ctx.roles.map((r) => r.name).sort(), ['admin', 'member', 'reader']);
    assert.equal(ctx.expiresAt.getTime() - ctx.issuedAt.getTime(), 3600 * 1000);

    const unscoped = await tokens.issue(adminId, null);
    const u = await tokens.validate(unscoped.tokenId);
    assert.equal(u.projectId, null);
    assert.deepEqual(u.roles, []);
    assert.equal(u.isAdmin, false);

    const service = await findProjectByName(db, 'service', DEFAULT_DOMAIN_ID);
    await rejects401(tokens.issue(adminId, service!.id)); // no role there
  });

  it('rejects missing, malformed, unknown, expired and revoked tokens', async () => {
    const tokens = new TokenService(db, config);
    await rejects401(tokens.validate(undefined));
    await rejects401(tokens.validate(''));
    await rejects401(tokens.validate('abc'));
    await rejects401(tokens.validate(`gAAAA${'A'.repeat(50)}`));
    const expiring = new TokenService(db, config.with({ identity: { token_expiration: '0' } }));
    const expired = await expiring.issue(adminId, adminProject);
    await rejects401(expiring.validate(expired.tokenId));
    await rejects401(tokens.validate(expired.tokenId));

    const t = await tokens.issue(adminId, adminProject);
    await tokens.validate(t.tokenId);
    await tokens.revoke(t.tokenId);
    await rejects401(tokens.validate(t.tokenId)); // evicted from the local cache at once
  });

  it('caches validations for a while, bounded, and forgets them on request', async () => {
    const issuer = new TokenService(db, config);
    const cached = new TokenService(db, config, { cacheTtlMs: 60_000, cacheSize: 2 });
    const [a, b, c] = [await issuer.issue(adminId, adminProject), await issuer.issue(adminId, adminProject), await issuer.issue(adminId, adminProject)];
    for (const t of [a, b, c]) await cached.validate(t.tokenId); // a is dropped: only two fit
    for (const t of [a, b, c]) await issuer.revoke(t.tokenId); // revoked by "another process"
    await rejects401(cached.validate(a.tokenId)); // not cached any more: read again
    assert.equal((await cached.validate(c.tokenId)).tokenId, c.tokenId); // still trusted from the cache
    cached.forget({ userId: adminId });
    await rejects401(cached.validate(c.tokenId));
  });
});
