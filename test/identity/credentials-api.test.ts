import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';
import { api, login, memberOfNewProject, startTestCloud, type Session, type TestCloud } from '../support/cloud.js';

/** Keystone's credentials: EC2 blobs, encrypted at rest, a user's own or an admin's. */
for (const engine of ['sqlite', 'postgresql'] as const) {
describe(`the credentials API on ${engine}`, { skip: engine === 'postgresql' ? pgSkip : false }, () => {
  let pg: TestPgDatabase | undefined;
  let cloud: TestCloud;
  let admin: Session;
  let alice: Session;
  let bob: Session;
  const url = (p: string): string => `${cloud.urls.identity}/v3${p}`;
  const ec2 = (who: Session, access: string, secret = 'sekrit-' + access) => ({
    credential: { type: 'ec2', user_id: who.userId, project_id: who.projectId, blob: JSON.stringify({ access, secret }) },
  });

  before(async () => {
    if (engine === 'postgresql') pg = await createPgDatabase();
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: '' }, ...(pg ? { database: { connection: pg.url } } : {}) });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    alice = await memberOfNewProject(cloud, admin, 'cred-a', 'alice');
    bob = await memberOfNewProject(cloud, admin, 'cred-b', 'bob');
  });
  after(async () => {
    await cloud?.close();
    await pg?.drop();
  });

  it('creates an EC2 credential whose id is the hash of its access key, stored only encrypted', async () => {
    const r = await api(alice, 'POST', url('/credentials'), ec2(alice, 'AKIAALICE', 'the-secret-value'));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const c = r.body.credential;
    assert.equal(c.id, createHash('sha256').update('AKIAALICE').digest('hex'));
    assert.deepEqual(JSON.parse(c.blob), { access: 'AKIAALICE', secret: 'the-secret-value' });
    assert.equal(c.user_id, alice.userId);
    assert.equal(c.project_id, alice.projectId);
    assert.equal(c.type, 'ec2');
    assert.match(c.links.self, new RegExp(`/v3/credentials/${c.id}$`));
    // Neither the secret nor the access key is anywhere in the row.
    const rows = (await sql<Record<string, unknown>>`SELECT * FROM credentials WHERE id = ${c.id}`.execute(cloud.db)).rows;
    assert.equal(rows.length, 1);
    assert.doesNotMatch(JSON.stringify(rows[0]), /the-secret-value|AKIAALICE/);
    // The key repository is the owner's alone.
    const key = statSync(join(cloud.stateDir, 'credential-keys', '0'));
    assert.equal(key.mode & 0o077, 0);
    const shown = await api(alice, 'GET', url(`/credentials/${c.id}`));
    assert.equal(shown.status, 200);
    assert.deepEqual(shown.body.credential, c);
  });

  it('refuses what Keystone refuses: duplicates, bad blobs, an EC2 credential without a project', async () => {
    assert.equal((await api(alice, 'POST', url('/credentials'), ec2(alice, 'AKIAALICE'))).status, 409);
    for (const blob of ['not json', '[]', '{"secret": "s"}', '{"access": ""}']) {
      const r = await api(alice, 'POST', url('/credentials'), { credential: { type: 'ec2', user_id: alice.userId, project_id: alice.projectId, blob } });
      assert.equal(r.status, 400, blob);
      assert.equal(r.body.error.code, 400);
    }
    const noProject = await api(alice, 'POST', url('/credentials'), { credential: { type: 'ec2', user_id: alice.userId, blob: '{"access": "A2"}' } });
    assert.equal(noProject.status, 400);
    assert.equal((await api(alice, 'POST', url('/credentials'), { credential: { type: 'ec2', user_id: alice.userId } })).status, 400);
    assert.equal((await api(admin, 'POST', url('/credentials'), { credential: { type: 'totp', user_id: 'nobody', blob: 'x' } })).status, 404);
  });

  it("keeps a user from another user's credentials: 403 whether one exists or not; an admin sees all", async () => {
    const alices = createHash('sha256').update('AKIAALICE').digest('hex');
    // bob may not create one for alice, nor see, change or delete hers.
    const forAlice = await api(bob, 'POST', url('/credentials'), ec2(alice, 'AKIABOB-FOR-ALICE'));
    assert.equal(forAlice.status, 403);
    assert.match(forAlice.body.error.message, /identity:create_credential/);
    for (const [method, body] of [['GET', undefined], ['PATCH', { credential: { blob: '{"access": "AKIAALICE", "secret": "mine"}' } }], ['DELETE', undefined]] as const) {
      assert.equal((await api(bob, method, url(`/credentials/${alices}`), body)).status, 403, method);
      assert.equal((await api(bob, method, url('/credentials/0000'), body)).status, 403, `${method} of none`);
    }
    assert.equal((await api(admin, 'GET', url('/credentials/0000'))).status, 404);
    assert.equal((await api(admin, 'GET', url(`/credentials/${alices}`))).status, 200);

    // A user lists its own by naming itself; the whole list is an admin's.
    const b = await api(bob, 'POST', url('/credentials'), { credential: { type: 'cert', user_id: bob.userId, blob: 'PEM...' } });
    assert.equal(b.status, 201);
    assert.match(b.body.credential.id, /^[0-9a-f]{32}$/);
    const own = await api(bob, 'GET', url(`/credentials?user_id=${bob.userId}`));
    assert.deepEqual(own.body.credentials.map((c: any) => c.id), [b.body.credential.id]);
    assert.equal((await api(bob, 'GET', url(`/credentials?user_id=${alice.userId}`))).status, 403);
    assert.equal((await api(bob, 'GET', url('/credentials'))).status, 403);
    const all = await api(admin, 'GET', url('/credentials'));
    assert.deepEqual(all.body.credentials.map((c: any) => c.id).sort(), [alices, b.body.credential.id].sort());
    assert.deepEqual((await api(admin, 'GET', url('/credentials?type=ec2'))).body.credentials.map((c: any) => c.id), [alices]);
    // Nor may bob give his credential to alice.
    assert.equal((await api(bob, 'PATCH', url(`/credentials/${b.body.credential.id}`), { credential: { user_id: alice.userId } })).status, 403);
  });

  it('updates the secret of an EC2 credential but not its access key, and deletes it', async () => {
    const id = createHash('sha256').update('AKIAALICE').digest('hex');
    const secret = await api(alice, 'PATCH', url(`/credentials/${id}`), { credential: { blob: '{"access": "AKIAALICE", "secret": "rotated"}' } });
    assert.equal(secret.status, 200, JSON.stringify(secret.body));
    assert.equal(JSON.parse(secret.body.credential.blob).secret, 'rotated');
    assert.equal(JSON.parse((await api(alice, 'GET', url(`/credentials/${id}`))).body.credential.blob).secret, 'rotated');
    const access = await api(alice, 'PATCH', url(`/credentials/${id}`), { credential: { blob: '{"access": "OTHER", "secret": "x"}' } });
    assert.equal(access.status, 400);
    assert.equal((await api(alice, 'DELETE', url(`/credentials/${id}`))).status, 204);
    assert.equal((await api(alice, 'GET', url(`/credentials/${id}`))).status, 403);
    assert.equal((await api(admin, 'GET', url(`/credentials/${id}`))).status, 404);
  });
  it('makes EC2 keys through OS-EC2 for a project the user has a role on, readable as a credential too', async () => {
    const base = url(`/users/${alice.userId}/credentials/OS-EC2`);
    const made = await api(alice, 'POST', base, { tenant_id: alice.projectId });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const c = made.body.credential;
    assert.match(c.access, /^[0-9a-f]{32}$/);
    assert.match(c.secret, /^[0-9a-f]{32}$/);
    assert.equal(c.tenant_id, alice.projectId);
    assert.equal(c.user_id, alice.userId);
    assert.equal(c.trust_id, null);
    assert.match(c.links.self, new RegExp(`/OS-EC2/${c.access}$`));
    assert.deepEqual((await api(alice, 'GET', `${base}/${c.access}`)).body.credential, c);
    assert.deepEqual((await api(alice, 'GET', base)).body.credentials.map((x: any) => x.access), [c.access]);
    const asCredential = await api(alice, 'GET', url(`/credentials/${createHash('sha256').update(c.access).digest('hex')}`));
    assert.equal(asCredential.body.credential.type, 'ec2');
    assert.equal(JSON.parse(asCredential.body.credential.blob).secret, c.secret);
    // Not on a project alice has no role on; not for, nor of, anyone else.
    assert.equal((await api(alice, 'POST', base, { tenant_id: bob.projectId })).status, 403);
    assert.equal((await api(bob, 'POST', base, { tenant_id: alice.projectId })).status, 403);
    assert.equal((await api(bob, 'POST', base, {})).status, 403);
    assert.equal((await api(alice, 'POST', base, {})).status, 400);
    assert.equal((await api(bob, 'GET', base)).status, 403);
    assert.equal((await api(bob, 'GET', `${base}/${c.access}`)).status, 403);
    assert.equal((await api(bob, 'DELETE', `${base}/${c.access}`)).status, 403);
    assert.equal((await api(bob, 'GET', url(`/users/${bob.userId}/credentials/OS-EC2/${c.access}`))).status, 403);
    assert.equal((await api(admin, 'GET', url(`/users/${bob.userId}/credentials/OS-EC2/${c.access}`))).status, 404);
    assert.equal((await api(alice, 'DELETE', `${base}/${c.access}`)).status, 204);
    assert.equal((await api(alice, 'GET', `${base}/${c.access}`)).status, 403);
    assert.deepEqual((await api(alice, 'GET', base)).body.credentials, []);
  });
});
}
