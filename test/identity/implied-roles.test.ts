import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminLogin, call, login, memberOf, startServices, type Login, type Services } from './harness.js';

/** Keystone's role implications: bootstrap's admin → member → reader, the API over them, and tokens that carry them. */
describe('role implications', () => {
  let s: Services;
  let admin: Login;
  const ids = new Map<string, string>();
  before(async () => {
    s = await startServices();
    admin = await adminLogin(s);
    const roles = await call('GET', `${s.identityUrl}/v3/roles`, { token: admin.token });
    for (const r of roles.body.roles as Array<{ id: string; name: string }>) ids.set(r.name, r.id);
  });
  after(async () => s?.close());
  const url = (path: string): string => `${s.identityUrl}${path}`;

  it('bootstrap makes admin imply member and member imply reader', async () => {
    const all = await call('GET', url('/v3/role_inferences'), { token: admin.token });
    assert.equal(all.status, 200);
    const pairs = (all.body.role_inferences as Array<{ prior_role: { name: string }; implies: Array<{ name: string }> }>)
      .flatMap((i) => i.implies.map((r) => `${i.prior_role.name}>${r.name}`)).sort();
    assert.deepEqual(pairs, ['admin>member', 'member>reader']);
    const ofAdmin = await call('GET', url(`/v3/roles/${ids.get('admin')}/implies`), { token: admin.token });
    assert.deepEqual(ofAdmin.body.role_inference.implies.map((r: { name: string }) => r.name), ['member']);
    assert.equal(ofAdmin.body.role_inference.prior_role.name, 'admin');
  });

  it("a member's token carries reader, and an admin's all three", async () => {
    const member = await memberOf(s, admin, 'imp-proj', 'imp-user');
    const body = await call('GET', url('/v3/auth/tokens'), { token: member.token, headers: { 'x-subject-token': member.token } });
    assert.deepEqual(body.body.token.roles.map((r: { name: string }) => r.name).sort(), ['member', 'reader']);
    const own = await call('GET', url('/v3/auth/tokens'), { token: admin.token, headers: { 'x-subject-token': admin.token } });
    assert.deepEqual(own.body.token.roles.map((r: { name: string }) => r.name).sort(), ['admin', 'member', 'reader']);
  });

  it('creates, checks and deletes an implication; refuses admin as implied, cycles and members', async () => {
    const made = await call('POST', url('/v3/roles'), { token: admin.token, body: { role: { name: 'auditor' } } });
    const auditor = made.body.role.id as string;
    const pair = url(`/v3/roles/${auditor}/implies/${ids.get('reader')}`);
    const put = await call('PUT', pair, { token: admin.token });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    assert.equal(put.body.role_inference.implies.name, 'reader');
    assert.equal((await call('GET', pair, { token: admin.token })).status, 200);
    assert.equal((await call('HEAD', pair, { token: admin.token })).status, 204);
    assert.equal((await call('PUT', url(`/v3/roles/${auditor}/implies/${ids.get('admin')}`), { token: admin.token })).status, 403);
    assert.equal((await call('PUT', url(`/v3/roles/${ids.get('reader')}/implies/${ids.get('admin')}`), { token: admin.token })).status, 403);
    assert.equal((await call('PUT', url(`/v3/roles/${ids.get('reader')}/implies/${ids.get('member')}`), { token: admin.token })).status, 400, 'a cycle');
    assert.equal((await call('PUT', url(`/v3/roles/${auditor}/implies/${auditor}`), { token: admin.token })).status, 400);

    // A user holding only auditor gets reader in its token.
    const member = await memberOf(s, admin, 'aud-proj', 'aud-user');
    await call('PUT', url(`/v3/projects/${member.projectId}/users/${member.userId}/roles/${auditor}`), { token: admin.token });
    const again = await login(s, 'aud-user', 'pw', 'aud-proj');
    const token = await call('GET', url('/v3/auth/tokens'), { token: again.token, headers: { 'x-subject-token': again.token } });
    assert.ok(token.body.token.roles.some((r: { name: string }) => r.name === 'auditor'));

    const refused = await call('PUT', url(`/v3/roles/${auditor}/implies/${ids.get('member')}`), { token: member.token });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.message, 'You are not authorized to perform the requested action: identity:create_implied_role.');
    assert.equal((await call('DELETE', pair, { token: admin.token })).status, 204);
    assert.equal((await call('GET', pair, { token: admin.token })).status, 404);
    assert.equal((await call('DELETE', pair, { token: admin.token })).status, 404);
  });
});
