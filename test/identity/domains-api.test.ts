import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminLogin, call, startServices, type Login, type Services } from './harness.js';

/** Domains, groups, grants on domains and groups, role_assignments, domain-specific roles (issue #22). */
describe('identity: domains, groups and grants', () => {
  let s: Services;
  let admin: Login;
  before(async () => {
    s = await startServices();
    admin = await adminLogin(s);
  });
  after(async () => s.close());

  const url = (path: string): string => `${s.identityUrl}${path}`;
  const as = (token: string) => ({
    get: (p: string) => call('GET', url(p), { token }),
    post: (p: string, body: unknown) => call('POST', url(p), { token, body }),
    put: (p: string, body?: unknown) => call('PUT', url(p), { token, body }),
    patch: (p: string, body: unknown) => call('PATCH', url(p), { token, body }),
    del: (p: string) => call('DELETE', url(p), { token }),
    head: (p: string) => call('HEAD', url(p), { token }),
  });
  const A = () => as(admin.token);
  const roleId = async (name: string): Promise<string> => (await A().get(`/v3/roles?name=${name}`)).body.roles[0].id;

  async function passwordLogin(user: Record<string, unknown>, scope?: unknown) {
    return call('POST', url('/v3/auth/tokens'), { body: { auth: { identity: { methods: ['password'], password: { user } }, scope } } });
  }

  it('creates, lists (with filters), shows, updates and refuses to delete an enabled domain', async () => {
    const c = await A().post('/v3/domains', { domain: { name: 'eng', description: 'Engineering', team: 'blue' } });
    assert.equal(c.status, 201);
    assert.equal(c.body.domain.name, 'eng');
    assert.equal(c.body.domain.enabled, true);
    assert.equal(c.body.domain.team, 'blue', 'unknown attributes are kept');
    const id = c.body.domain.id;
    assert.equal((await A().post('/v3/domains', { domain: { name: 'eng' } })).status, 409);
    const names = async (q: string) => (await A().get(`/v3/domains${q}`)).body.domains.map((d: { name: string }) => d.name);
    assert.deepEqual(await names(''), ['Default', 'eng']);
    assert.deepEqual(await names('?name=eng'), ['eng']);
    assert.deepEqual(await names('?name__startswith=en'), ['eng']);
    assert.deepEqual(await names('?name__icontains=DEF'), ['Default']);
    assert.equal((await A().get(`/v3/domains/${id}`)).body.domain.description, 'Engineering');
    const u = await A().patch(`/v3/domains/${id}`, { domain: { description: 'R&D' } });
    assert.equal(u.body.domain.description, 'R&D');
    assert.equal(u.body.domain.team, 'blue');
    assert.equal((await A().del(`/v3/domains/${id}`)).status, 403, 'an enabled domain cannot be deleted');
    assert.equal((await A().get('/v3/domains/nope')).status, 404);
  });

  it('scopes users, groups and projects to a domain; names match within their domain; domain-scoped tokens', async () => {
    const d = (await A().post('/v3/domains', { domain: { name: 'ops' } })).body.domain;
    const p = (await A().post('/v3/projects', { project: { name: 'shared-name', domain_id: d.id } })).body.project;
    assert.equal(p.domain_id, d.id);
    // The same name in another domain is another project.
    assert.equal((await A().post('/v3/projects', { project: { name: 'shared-name' } })).status, 201);
    const user = (await A().post('/v3/users', { user: { name: 'alice', password: 'pw', domain_id: d.id } })).body.user;
    assert.equal(user.domain_id, d.id);
    assert.equal((await A().post('/v3/users', { user: { name: 'alice', password: 'pw', domain_id: d.id } })).status, 409);
    assert.equal((await A().post('/v3/users', { user: { name: 'x', domain_id: 'no-such' } })).status, 400);
    const g = (await A().post('/v3/groups', { group: { name: 'admins', domain_id: d.id } })).body.group;
    assert.equal(g.domain_id, d.id);

    // alice in Default does not exist: a name is looked up in the named domain only.
    assert.equal((await passwordLogin({ name: 'alice', domain: { name: 'Default' }, password: 'pw' })).status, 401);
    const unscoped = await passwordLogin({ name: 'alice', domain: { name: 'ops' }, password: 'pw' });
    assert.equal(unscoped.status, 201);
    assert.deepEqual(unscoped.body.token.user.domain, { id: d.id, name: 'ops' });
    assert.equal((await passwordLogin({ name: 'alice', domain: { id: d.id }, password: 'pw' })).status, 201);

    // A role on the domain gives a domain-scoped token; a project in the domain found by name + domain name.
    const member = await roleId('member');
    assert.equal((await A().put(`/v3/domains/${d.id}/users/${user.id}/roles/${member}`)).status, 204);
    assert.equal((await A().head(`/v3/domains/${d.id}/users/${user.id}/roles/${member}`)).status, 204);
    const domTok = await passwordLogin({ id: user.id, password: 'pw' }, { domain: { name: 'ops' } });
    assert.equal(domTok.status, 201);
    assert.deepEqual(domTok.body.token.domain, { id: d.id, name: 'ops' });
    assert.deepEqual(domTok.body.token.roles.map((r: { name: string }) => r.name).sort(), ['member', 'reader']);
    assert.equal(domTok.body.token.project, undefined);
    const t = domTok.headers.get('x-subject-token')!;
    assert.deepEqual((await as(t).get('/v3/auth/domains')).body.domains.map((x: { id: string }) => x.id), [d.id]);
    // Compute, image and placement act on projects: a domain token is not enough there.
    assert.equal((await call('GET', `${s.imageUrl}/v2/images`, { token: t })).status, 401);
    // No role on the project yet: project scope refused.
    assert.equal((await passwordLogin({ id: user.id, password: 'pw' }, { project: { name: 'shared-name', domain: { name: 'ops' } } })).status, 401);

    // Inherited to the domain's projects (OS-INHERIT).
    const reader = await roleId('reader');
    assert.equal((await A().put(`/v3/OS-INHERIT/domains/${d.id}/users/${user.id}/roles/${reader}/inherited_to_projects`)).status, 204);
    const projTok = await passwordLogin({ id: user.id, password: 'pw' }, { project: { name: 'shared-name', domain: { name: 'ops' } } });
    assert.equal(projTok.status, 201);
    assert.equal(projTok.body.token.project.id, p.id);
    assert.deepEqual(projTok.body.token.project.domain, { id: d.id, name: 'ops' });
    assert.deepEqual(projTok.body.token.roles.map((r: { name: string }) => r.name), ['reader']);
    const inh = await A().get(`/v3/OS-INHERIT/domains/${d.id}/users/${user.id}/roles/inherited_to_projects`);
    assert.deepEqual(inh.body.roles.map((r: { name: string }) => r.name), ['reader']);

    // Disabling the domain stops its users' tokens; deleting it removes everything in it.
    const live = projTok.headers.get('x-subject-token')!;
    assert.equal((await A().patch(`/v3/domains/${d.id}`, { domain: { enabled: false } })).status, 200);
    assert.equal((await as(live).get(`/v3/users/${user.id}`)).status, 401);
    assert.equal((await passwordLogin({ name: 'alice', domain: { name: 'ops' }, password: 'pw' })).status, 401);
    assert.equal((await A().del(`/v3/domains/${d.id}`)).status, 204);
    assert.equal((await A().get(`/v3/users/${user.id}`)).status, 404);
    assert.equal((await A().get(`/v3/projects/${p.id}`)).status, 404);
    assert.equal((await A().get(`/v3/groups/${g.id}`)).status, 404);
    assert.equal((await A().get(`/v3/role_assignments?user.id=${user.id}`)).body.role_assignments.length, 0);
  });

  it('groups: CRUD, membership, and group roles that take effect in tokens and leave with the membership', async () => {
    const p = (await A().post('/v3/projects', { project: { name: 'gp' } })).body.project;
    const user = (await A().post('/v3/users', { user: { name: 'bob', password: 'pw' } })).body.user;
    const g = (await A().post('/v3/groups', { group: { name: 'devs', description: 'Developers' } })).body.group;
    assert.equal(g.domain_id, 'default');
    assert.equal((await A().post('/v3/groups', { group: { name: 'devs' } })).status, 409);
    assert.deepEqual((await A().get('/v3/groups?name__contains=ev')).body.groups.map((x: { name: string }) => x.name), ['devs']);
    assert.equal((await A().patch(`/v3/groups/${g.id}`, { group: { description: 'Devs' } })).body.group.description, 'Devs');

    const member = await roleId('member');
    assert.equal((await A().put(`/v3/projects/${p.id}/groups/${g.id}/roles/${member}`)).status, 204);
    assert.deepEqual((await A().get(`/v3/projects/${p.id}/groups/${g.id}/roles`)).body.roles.map((r: { name: string }) => r.name), ['member']);
    // Not a member yet: no role on the project.
    assert.equal((await passwordLogin({ id: user.id, password: 'pw' }, { project: { id: p.id } })).status, 401);
    assert.equal((await A().head(`/v3/groups/${g.id}/users/${user.id}`)).status, 404);
    assert.equal((await A().put(`/v3/groups/${g.id}/users/${user.id}`)).status, 204);
    assert.equal((await A().put(`/v3/groups/${g.id}/users/${user.id}`)).status, 204, 'PUT is idempotent');
    assert.equal((await A().head(`/v3/groups/${g.id}/users/${user.id}`)).status, 204);
    assert.deepEqual((await A().get(`/v3/groups/${g.id}/users`)).body.users.map((u: { name: string }) => u.name), ['bob']);
    assert.deepEqual((await A().get(`/v3/users/${user.id}/groups`)).body.groups.map((x: { name: string }) => x.name), ['devs']);

    const tok = await passwordLogin({ id: user.id, password: 'pw' }, { project: { id: p.id } });
    assert.equal(tok.status, 201);
    assert.deepEqual(tok.body.token.roles.map((r: { name: string }) => r.name).sort(), ['member', 'reader']);
    const t = tok.headers.get('x-subject-token')!;
    assert.deepEqual((await as(t).get('/v3/auth/projects')).body.projects.map((x: { name: string }) => x.name), ['gp']);
    assert.equal((await call('GET', `${s.imageUrl}/v2/images`, { token: t })).status, 200);

    // role_assignments: direct and by group, effective (expanded to the member), names.
    const byGroup = (await A().get(`/v3/role_assignments?group.id=${g.id}`)).body.role_assignments;
    assert.equal(byGroup.length, 1);
    assert.equal(byGroup[0].group.id, g.id);
    assert.equal(byGroup[0].scope.project.id, p.id);
    const eff = (await A().get(`/v3/role_assignments?effective&user.id=${user.id}&include_names`)).body.role_assignments;
    assert.deepEqual(eff.map((a: { role: { name: string } }) => a.role.name).sort(), ['member', 'reader']);
    const direct = eff.find((a: { role: { name: string } }) => a.role.name === 'member');
    assert.equal(direct.user.name, 'bob');
    assert.equal(direct.scope.project.name, 'gp');
    assert.equal(direct.links.membership, url(`/v3/groups/${g.id}/users/${user.id}`));
    assert.equal((await A().get(`/v3/role_assignments?user.id=${user.id}`)).body.role_assignments.length, 0, 'not effective: only direct grants');
    assert.equal((await A().get(`/v3/role_assignments?scope.project.id=${p.id}&role.id=${member}`)).body.role_assignments.length, 1);

    // Out of the group, out of the project: the live token loses the role at once.
    assert.equal((await A().del(`/v3/groups/${g.id}/users/${user.id}`)).status, 204);
    assert.equal((await call('GET', `${s.imageUrl}/v2/images`, { token: t })).status, 401);
    assert.equal((await A().del(`/v3/groups/${g.id}/users/${user.id}`)).status, 404);
    assert.equal((await A().del(`/v3/projects/${p.id}/groups/${g.id}/roles/${member}`)).status, 204);
    assert.equal((await A().del(`/v3/groups/${g.id}`)).status, 204);
    assert.equal((await A().get(`/v3/groups/${g.id}`)).status, 404);
  });

  it('domain-specific roles: created in a domain, granted only within it, never in tokens themselves', async () => {
    const d = (await A().post('/v3/domains', { domain: { name: 'lab' } })).body.domain;
    const r = await A().post('/v3/roles', { role: { name: 'operator', domain_id: d.id } });
    assert.equal(r.status, 201);
    assert.equal(r.body.role.domain_id, d.id);
    assert.equal((await A().post('/v3/roles', { role: { name: 'operator', domain_id: d.id } })).status, 409);
    // Role names are unique across domains here (Keystone allows a global role of the same name).
    assert.equal((await A().post('/v3/roles', { role: { name: 'operator' } })).status, 409);
    assert.deepEqual((await A().get(`/v3/roles?domain_id=${d.id}`)).body.roles.map((x: { name: string }) => x.name), ['operator']);
    const project = (await A().post('/v3/projects', { project: { name: 'elsewhere' } })).body.project;
    const user = (await A().post('/v3/users', { user: { name: 'carol', password: 'pw' } })).body.user;
    assert.equal((await A().put(`/v3/projects/${project.id}/groups/${(await A().post('/v3/groups', { group: { name: 'g-lab' } })).body.group.id}/roles/${r.body.role.id}`)).status, 403);
    // Granted in its domain, it implies a global role; the token shows only the global one.
    const labProject = (await A().post('/v3/projects', { project: { name: 'lab-p', domain_id: d.id } })).body.project;
    const reader = await roleId('reader');
    assert.equal((await A().put(`/v3/roles/${r.body.role.id}/implies/${reader}`)).status, 201);
    assert.equal((await A().put(`/v3/projects/${labProject.id}/users/${user.id}/roles/${r.body.role.id}`)).status, 204);
    const tok = await passwordLogin({ id: user.id, password: 'pw' }, { project: { id: labProject.id } });
    assert.equal(tok.status, 201);
    assert.deepEqual(tok.body.token.roles.map((x: { name: string }) => x.name), ['reader']);
  });

  it('a domain-scoped token reads its domain, not another', async () => {
    const d = (await A().post('/v3/domains', { domain: { name: 'scoped' } })).body.domain;
    const other = (await A().post('/v3/domains', { domain: { name: 'unrelated' } })).body.domain;
    const u = (await A().post('/v3/users', { user: { name: 'erin', password: 'pw' } })).body.user;
    await A().put(`/v3/domains/${d.id}/users/${u.id}/roles/${await roleId('reader')}`);
    const t = (await passwordLogin({ id: u.id, password: 'pw' }, { domain: { id: d.id } })).headers.get('x-subject-token')!;
    assert.equal((await as(t).get(`/v3/domains/${d.id}`)).status, 200);
    assert.equal((await as(t).get(`/v3/domains/${other.id}`)).status, 403);
    assert.equal((await as(t).get('/v3/auth/catalog')).status, 200);
    // Disabled: the domain's tokens stop at once.
    await A().patch(`/v3/domains/${d.id}`, { domain: { enabled: false } });
    assert.equal((await as(t).get('/v3/auth/catalog')).status, 401);
  });

  it('reader and member roles may not touch domains, groups or grants (403)', async () => {
    const p = (await A().post('/v3/projects', { project: { name: 'rp' } })).body.project;
    const u = (await A().post('/v3/users', { user: { name: 'dave', password: 'pw' } })).body.user;
    await A().put(`/v3/projects/${p.id}/users/${u.id}/roles/${await roleId('member')}`);
    const t = (await passwordLogin({ id: u.id, password: 'pw' }, { project: { id: p.id } })).headers.get('x-subject-token')!;
    assert.equal((await as(t).post('/v3/domains', { domain: { name: 'mine' } })).status, 403);
    assert.equal((await as(t).post('/v3/groups', { group: { name: 'mine' } })).status, 403);
    assert.equal((await as(t).get('/v3/role_assignments')).status, 403);
    assert.equal((await as(t).get(`/v3/users/${u.id}/groups`)).status, 200, 'a user reads its own groups');
  });
});
