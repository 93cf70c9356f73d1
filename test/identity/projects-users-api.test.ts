import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminLogin, call, login, startServices, type Login, type Services } from './harness.js';

/** Project tags and filters, extra attributes, user options, the password change (issue #22). */
describe('identity: projects and users', () => {
  let s: Services;
  let admin: Login;
  before(async () => {
    s = await startServices({ security_compliance: { lockout_failure_attempts: '2', lockout_duration: '' } });
    admin = await adminLogin(s);
  });
  after(async () => s.close());

  const url = (path: string): string => `${s.identityUrl}${path}`;
  const A = (method: string, path: string, body?: unknown) => call(method, url(path), { token: admin.token, body });
  const names = async (q: string): Promise<string[]> => (await A('GET', `/v3/projects${q}`)).body.projects.map((p: { name: string }) => p.name).sort();

  it('project tags: set on create and update, the tags routes, and the four filters', async () => {
    const a = await A('POST', '/v3/projects', { project: { name: 'tag-a', tags: ['red', 'big'] } });
    assert.equal(a.status, 201);
    assert.deepEqual(a.body.project.tags, ['big', 'red']);
    const b = (await A('POST', '/v3/projects', { project: { name: 'tag-b' } })).body.project;
    assert.deepEqual((await A('PATCH', `/v3/projects/${b.id}`, { project: { tags: ['red'] } })).body.project.tags, ['red']);
    const c = (await A('POST', '/v3/projects', { project: { name: 'tag-c' } })).body.project;
    assert.equal((await A('PUT', `/v3/projects/${c.id}/tags/blue`)).status, 201);
    assert.equal((await A('GET', `/v3/projects/${c.id}/tags/blue`)).status, 204);
    assert.equal((await A('GET', `/v3/projects/${c.id}/tags/red`)).status, 404);
    assert.deepEqual((await A('GET', `/v3/projects/${c.id}/tags`)).body.tags, ['blue']);
    assert.deepEqual((await A('PUT', `/v3/projects/${c.id}/tags`, { tags: ['blue', 'big'] })).body.tags, ['big', 'blue']);
    assert.deepEqual((await A('GET', `/v3/projects/${c.id}`)).body.project.tags, ['big', 'blue']);

    assert.deepEqual(await names('?tags=red'), ['tag-a', 'tag-b']);
    assert.deepEqual(await names('?tags=red,big'), ['tag-a']);
    assert.deepEqual(await names('?tags-any=blue,big'), ['tag-a', 'tag-c']);
    assert.ok(!(await names('?not-tags=red,big')).includes('tag-a'));
    assert.ok((await names('?not-tags=red,big')).includes('tag-b'));
    assert.ok(!(await names('?not-tags-any=big')).some((n) => n === 'tag-a' || n === 'tag-c'));
    assert.deepEqual(await names('?name__startswith=tag-&tags=big'), ['tag-a', 'tag-c']);

    assert.equal((await A('DELETE', `/v3/projects/${c.id}/tags/blue`)).status, 204);
    assert.equal((await A('DELETE', `/v3/projects/${c.id}/tags/blue`)).status, 404);
    assert.equal((await A('DELETE', `/v3/projects/${c.id}/tags`)).status, 204);
    assert.deepEqual((await A('GET', `/v3/projects/${c.id}/tags`)).body.tags, []);
    // Bad tags: a comma or slash, too many.
    assert.equal((await A('PUT', `/v3/projects/${c.id}/tags`, { tags: ['a,b'] })).status, 400);
    assert.equal((await A('PUT', `/v3/projects/${c.id}/tags/a%2Cb`)).status, 400);
    assert.equal((await A('PUT', `/v3/projects/${c.id}/tags`, { tags: Array.from({ length: 81 }, (_, i) => `t${i}`) })).status, 400);
    assert.equal((await A('GET', '/v3/projects/nope/tags')).status, 404);
  });

  it('keeps unknown attributes on projects and users; name__* filters on users', async () => {
    const p = await A('POST', '/v3/projects', { project: { name: 'extra-p', cost_center: 'cc-42' } });
    assert.equal(p.body.project.cost_center, 'cc-42');
    const up = await A('PATCH', `/v3/projects/${p.body.project.id}`, { project: { owner: 'ops' } });
    assert.equal(up.body.project.cost_center, 'cc-42');
    assert.equal(up.body.project.owner, 'ops');
    const u = await A('POST', '/v3/users', { user: { name: 'Extra-User', password: 'pw', phone: '123' } });
    assert.equal(u.body.user.phone, '123');
    assert.equal((await A('GET', `/v3/users/${u.body.user.id}`)).body.user.phone, '123');
    const list = async (q: string) => (await A('GET', `/v3/users${q}`)).body.users.map((x: { name: string }) => x.name);
    assert.deepEqual(await list('?name__contains=xtra-U'), ['Extra-User']);
    assert.deepEqual(await list('?name__icontains=EXTRA'), ['Extra-User']);
    assert.deepEqual(await list('?name__contains=EXTRA'), []);
    assert.deepEqual(await list('?name__istartswith=extra&name__endswith=User'), ['Extra-User']);
    // A reserved name or too much is refused, not stored.
    assert.equal((await call('POST', url('/v3/users'), { token: admin.token, raw: '{"user": {"name": "p1", "__proto__": {"x": 1}}}', headers: { 'content-type': 'application/json' } })).status, 400);
    const big: Record<string, string> = { name: 'too-many' };
    for (let i = 0; i < 40; i++) big[`k${i}`] = 'v';
    assert.equal((await A('POST', '/v3/users', { user: big })).status, 400);
  });

  it('user options are stored, removed with null, and ignore_lockout_failure_attempts is honoured', async () => {
    const u = (await A('POST', '/v3/users', { user: { name: 'svc', password: 'pw', options: { ignore_lockout_failure_attempts: true, multi_factor_auth_rules: [['password', 'totp']] } } })).body.user;
    assert.deepEqual(u.options, { ignore_lockout_failure_attempts: true, multi_factor_auth_rules: [['password', 'totp']] });
    assert.equal((await A('POST', '/v3/users', { user: { name: 'svc2', options: { no_such_option: true } } })).status, 400);
    const pw = (password: string) => call('POST', url('/v3/auth/tokens'), { body: { auth: { identity: { methods: ['password'], password: { user: { id: u.id, password } } } } } });
    for (let i = 0; i < 3; i++) assert.equal((await pw('wrong')).status, 401);
    assert.equal((await pw('pw')).status, 201, 'never locked out');
    const cleared = await A('PATCH', `/v3/users/${u.id}`, { user: { options: { ignore_lockout_failure_attempts: null } } });
    assert.deepEqual(cleared.body.user.options, { multi_factor_auth_rules: [['password', 'totp']] });
    for (let i = 0; i < 2; i++) assert.equal((await pw('wrong')).status, 401);
    assert.equal((await pw('pw')).status, 401, 'locked now');
  });

  it('nested projects: parent_id, depth, parents/subtree views, leaf-only delete, coherent enabling, inherited grants', async () => {
    const root = (await A('POST', '/v3/projects', { project: { name: 'n-root' } })).body.project;
    assert.equal(root.parent_id, 'default');
    const mid = await A('POST', '/v3/projects', { project: { name: 'n-mid', parent_id: root.id } });
    assert.equal(mid.status, 201);
    assert.equal(mid.body.project.parent_id, root.id);
    assert.equal(mid.body.project.domain_id, 'default');
    const leaf = (await A('POST', '/v3/projects', { project: { name: 'n-leaf', parent_id: mid.body.project.id } })).body.project;
    let deep = leaf;
    for (let i = 0; i < 2; i++) deep = (await A('POST', '/v3/projects', { project: { name: `n-deep${i}`, parent_id: deep.id } })).body.project;
    assert.equal((await A('POST', '/v3/projects', { project: { name: 'n-too-deep', parent_id: deep.id } })).status, 403, 'five levels at most');
    assert.equal((await A('POST', '/v3/projects', { project: { name: 'n-x', parent_id: 'no-such' } })).status, 400);
    const other = (await A('POST', '/v3/domains', { domain: { name: 'n-dom' } })).body.domain;
    assert.equal((await A('POST', '/v3/projects', { project: { name: 'n-y', parent_id: root.id, domain_id: other.id } })).status, 400);

    const parents = (await A('GET', `/v3/projects/${leaf.id}?parents_as_list`)).body.project.parents;
    assert.deepEqual(parents.map((x: { project: { name: string } }) => x.project.name), ['n-mid', 'n-root']);
    assert.deepEqual((await A('GET', `/v3/projects/${leaf.id}?parents_as_ids`)).body.project.parents, { [mid.body.project.id]: { [root.id]: null } });
    const subtree = (await A('GET', `/v3/projects/${root.id}?subtree_as_list`)).body.project.subtree;
    assert.deepEqual(subtree.map((x: { project: { name: string } }) => x.project.name), ['n-mid', 'n-leaf', 'n-deep0', 'n-deep1']);
    assert.deepEqual(await names(`?parent_id=${root.id}`), ['n-mid']);

    assert.equal((await A('DELETE', `/v3/projects/${mid.body.project.id}`)).status, 403, 'not a leaf');
    assert.equal((await A('PATCH', `/v3/projects/${mid.body.project.id}`, { project: { parent_id: 'default' } })).status, 403);
    assert.equal((await A('PATCH', `/v3/projects/${root.id}`, { project: { enabled: false } })).status, 403, 'enabled children');

    // A role inherited from the root applies on every project below it, not on the root itself.
    const u = (await A('POST', '/v3/users', { user: { name: 'n-user', password: 'pw' } })).body.user;
    const member = (await A('GET', '/v3/roles?name=member')).body.roles[0].id;
    assert.equal((await A('PUT', `/v3/OS-INHERIT/projects/${root.id}/users/${u.id}/roles/${member}/inherited_to_projects`)).status, 204);
    const scoped = (projectId: string) => call('POST', url('/v3/auth/tokens'), { body: { auth: { identity: { methods: ['password'], password: { user: { id: u.id, password: 'pw' } } }, scope: { project: { id: projectId } } } } });
    assert.equal((await scoped(leaf.id)).status, 201);
    assert.equal((await scoped(root.id)).status, 401);
    const eff = (await A('GET', `/v3/role_assignments?effective&user.id=${u.id}&scope.project.id=${root.id}&include_subtree=true`)).body.role_assignments;
    assert.equal(new Set(eff.map((a: { scope: { project: { id: string } } }) => a.scope.project.id)).size, 4);
    assert.ok(eff[0].links.assignment.endsWith(`/OS-INHERIT/projects/${root.id}/users/${u.id}/roles/${member}/inherited_to_projects`));

    // Leaves first, then the root can go.
    for (const p of [deep, { id: (await A('GET', `/v3/projects?name=n-deep0`)).body.projects[0].id }, leaf, mid.body.project, root]) {
      assert.equal((await A('DELETE', `/v3/projects/${p.id}`)).status, 204);
    }
  });

  it('changes the own password with the original one, unless lock_password is set', async () => {
    const p = (await A('POST', '/v3/projects', { project: { name: 'pw-p' } })).body.project;
    const u = (await A('POST', '/v3/users', { user: { name: 'pw-user', password: 'old' } })).body.user;
    const member = (await A('GET', '/v3/roles?name=member')).body.roles[0].id;
    await A('PUT', `/v3/projects/${p.id}/users/${u.id}/roles/${member}`);
    const me = await login(s, 'pw-user', 'old', 'pw-p');
    const change = (token: string, original: string, password: string) =>
      call('POST', url(`/v3/users/${u.id}/password`), { token, body: { user: { original_password: original, password } } });
    assert.equal((await change(me.token, 'bad', 'new')).status, 401);
    assert.equal((await change(me.token, 'old', 'new')).status, 204);
    assert.equal((await call('GET', url(`/v3/users/${u.id}`), { token: me.token })).status, 401, 'its tokens are revoked');
    const again = await login(s, 'pw-user', 'new', 'pw-p');
    await A('PATCH', `/v3/users/${u.id}`, { user: { options: { lock_password: true } } });
    assert.equal((await change(again.token, 'new', 'newer')).status, 403, 'a locked password cannot be changed by its user');
  });
});
