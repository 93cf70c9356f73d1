import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminLogin, call, login, memberOf, startServices, type Login, type Services } from './harness.js';

/** Names an ordinary object already "has": each must behave as `foo` does. */
const INHERITED = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

describe('role names that are Object.prototype properties', () => {
  let s: Services;
  let admin: Login;
  before(async () => {
    s = await startServices();
    admin = await adminLogin(s);
  });
  after(async () => s?.close());

  const url = (path: string): string => `${s.identityUrl}${path}`;

  it('are created, listed, found by name, assigned, held at login, renamed and deleted like any other', async () => {
    const member = await memberOf(s, admin, 'proto-proj', 'proto-user');
    const ids = new Map<string, string>();
    for (const name of INHERITED) {
      const created = await call('POST', url('/v3/roles'), { token: admin.token, body: { role: { name } } });
      assert.equal(created.status, 201, `${name}: ${JSON.stringify(created.body)}`);
      assert.equal(created.body.role.name, name);
      ids.set(name, created.body.role.id);
      const again = await call('POST', url('/v3/roles'), { token: admin.token, body: { role: { name } } });
      assert.equal(again.status, 409, name);
    }
    const listed = await call('GET', url('/v3/roles'), { token: admin.token });
    for (const name of INHERITED) assert.ok(listed.body.roles.some((r: { name: string }) => r.name === name), `${name} listed`);
    for (const [name, id] of ids) {
      const byName = await call('GET', url(`/v3/roles?name=${encodeURIComponent(name)}`), { token: admin.token });
      assert.deepEqual(byName.body.roles.map((r: { id: string }) => r.id), [id], name);
      const grant = await call('PUT', url(`/v3/projects/${member.projectId}/users/${member.userId}/roles/${id}`), { token: admin.token });
      assert.equal(grant.status, 204, name);
    }

    // Holding them all, the user logs in (this was a 500: IMPLIED_ROLES['constructor'] is a function).
    const again = await login(s, 'proto-user', 'pw', 'proto-proj');
    const held = again.body.token.roles.map((r: { name: string }) => r.name).sort();
    assert.deepEqual(held, [...INHERITED, 'member', 'reader'].sort());
    const validated = await call('GET', url('/v3/auth/tokens'), { token: again.token, headers: { 'x-subject-token': again.token } });
    assert.equal(validated.status, 200);
    assert.equal(validated.body.token.roles.length, held.length);
    const onProject = await call('GET', url(`/v3/projects/${member.projectId}/users/${member.userId}/roles`), { token: admin.token });
    assert.deepEqual(onProject.body.roles.map((r: { name: string }) => r.name).sort(), [...INHERITED, 'member'].sort());
    const assignments = await call('GET', url(`/v3/role_assignments?user.id=${member.userId}&include_names=true`), { token: admin.token });
    assert.deepEqual(assignments.body.role_assignments.map((a: { role: { name: string } }) => a.role.name).sort(), [...INHERITED, 'member'].sort());

    const renamed = await call('PATCH', url(`/v3/roles/${ids.get('constructor')}`), { token: admin.token, body: { role: { name: 'prototype' } } });
    assert.equal(renamed.body.role.name, 'prototype');
    for (const id of ids.values()) {
      assert.equal((await call('DELETE', url(`/v3/roles/${id}`), { token: admin.token })).status, 204);
      assert.equal((await call('GET', url(`/v3/roles/${id}`), { token: admin.token })).status, 404);
    }
    const rest = await call('GET', url('/v3/roles'), { token: admin.token });
    assert.deepEqual(rest.body.roles.map((r: { name: string }) => r.name).sort(), ['admin', 'member', 'reader']);
    assert.equal((await login(s, 'proto-user', 'pw', 'proto-proj')).body.token.roles.length, 2);
  });
});
