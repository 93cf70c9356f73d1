import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminLogin, call, getWithHost, login, memberOf, startServices, type Login, type Services } from './harness.js';
import { tokenHashOf } from '../../src/auth/tokens.js';

describe('identity v3 API', () => {
  let s: Services;
  let admin: Login;
  before(async () => {
    s = await startServices();
    admin = await adminLogin(s);
  });
  after(async () => s.close());

  const url = (path: string): string => `${s.identityUrl}${path}`;

  describe('version discovery', () => {
    it('GET / answers 300 with the versions, linked from the Host header', async () => {
      const r = await getWithHost(url('/'), 'keystone.example:5000');
      assert.equal(r.status, 300);
      const [v] = r.body.versions.values;
      assert.equal(v.id, 'v3.14');
      assert.equal(v.status, 'stable');
      assert.deepEqual(v.links, [{ rel: 'self', href: 'http://keystone.example:5000/v3/' }]);
      assert.deepEqual(v['media-types'], [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }]);
    });

    it('GET /v3 needs no token and links itself', async () => {
      for (const path of ['/v3', '/v3/']) {
        const r = await getWithHost(url(path), 'id.example');
        assert.equal(r.status, 200);
        assert.equal(r.body.version.id, 'v3.14');
        assert.equal(r.body.version.links[0].href, 'http://id.example/v3/');
      }
    });
  });

  describe('tokens', () => {
    it('issues a project-scoped token by user and project name, with a full catalog', async () => {
      const r = await call('POST', url('/v3/auth/tokens'), {
        body: {
          auth: {
            identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: 'secret' } } },
            scope: { project: { name: 'admin', domain: { name: 'Default' } } },
          },
        },
      });
      assert.equal(r.status, 201);
      assert.match(r.headers.get('x-subject-token')!, /^gAAAA[A-Za-z0-9_-]{43,}$/);
      const t = r.body.token;
      assert.deepEqual(t.methods, ['password']);
      assert.equal(t.user.name, 'admin');
      assert.deepEqual(t.user.domain, { id: 'default', name: 'Default' });
      assert.equal(t.user.password_expires_at, null);
      assert.equal(t.project.name, 'admin');
      assert.deepEqual(t.project.domain, { id: 'default', name: 'Default' });
      assert.equal(t.is_domain, false);
      assert.deepEqual(t.roles.map((x: { name: string }) => x.name).sort(), ['admin', 'member', 'reader']);
      assert.match(t.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      assert.match(t.issued_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      assert.equal(t.audit_ids.length, 1);
      assert.deepEqual(t.catalog.map((c: { type: string }) => c.type), ['identity', 'image']);
      for (const svc of t.catalog) {
        assert.deepEqual(Object.keys(svc).sort(), ['endpoints', 'id', 'name', 'type']);
        for (const ep of svc.endpoints) assert.deepEqual(Object.keys(ep).sort(), ['id', 'interface', 'region', 'region_id', 'url']);
        assert.deepEqual(svc.endpoints.map((e: { interface: string }) => e.interface).sort(), ['admin', 'internal', 'public']);
      }
    });

    it('issues by user id and project id, and omits the catalog with ?nocatalog', async () => {
      const r = await call('POST', url('/v3/auth/tokens?nocatalog'), {
        body: {
          auth: {
            identity: { methods: ['password'], password: { user: { id: admin.userId, password: 'secret' } } },
            scope: { project: { id: admin.projectId } },
          },
        },
      });
      assert.equal(r.status, 201);
      assert.equal(r.body.token.project.id, admin.projectId);
      assert.equal(r.body.token.catalog, undefined);
    });

    it('issues unscoped tokens without project, roles or catalog', async () => {
      const r = await login(s, 'admin', 'secret', null);
      assert.equal(r.body.token.project, undefined);
      assert.equal(r.body.token.roles, undefined);
      assert.equal(r.body.token.catalog, undefined);
      // An unscoped token may list the projects it could scope to.
      const projects = await call('GET', url('/v3/auth/projects'), { token: r.token });
      assert.equal(projects.status, 200);
      assert.deepEqual(projects.body.projects.map((p: { name: string }) => p.name), ['admin']);
    });

    it('refuses wrong passwords, unknown users, other domains and projects without a role with 401', async () => {
      const attempt = (user: object, scope?: object) => call('POST', url('/v3/auth/tokens'), {
        body: { auth: { identity: { methods: ['password'], password: { user } }, scope } },
      });
      const cases = [
        await attempt({ name: 'admin', domain: { id: 'default' }, password: 'wrong' }),
        await attempt({ name: 'nobody', domain: { id: 'default' }, password: 'secret' }),
        await attempt({ name: 'admin', domain: { id: 'elsewhere' }, password: 'secret' }),
        await attempt({ name: 'admin', domain: { id: 'default' }, password: 'secret' }, { project: { name: 'service', domain: { id: 'default' } } }),
        await attempt({ name: 'admin', domain: { id: 'default' }, password: 'secret' }, { project: { id: 'no-such-project' } }),
      ];
      for (const r of cases) {
        assert.equal(r.status, 401, JSON.stringify(r.body));
        assert.equal(r.body.error.code, 401);
        assert.equal(r.body.error.title, 'Unauthorized');
      }
    });

    it('answers malformed requests with 400 in Keystone error format', async () => {
      const bad = [
        {},
        { auth: { identity: { methods: 'password' } } },
        { auth: { identity: { methods: ['password'], password: { user: { name: 'admin', password: 'secret' } } } } },
      ];
      for (const body of bad) {
        const r = await call('POST', url('/v3/auth/tokens'), { body });
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.equal(r.body.error.code, 400);
        assert.equal(typeof r.body.error.message, 'string');
      }
      const garbled = await call('POST', url('/v3/auth/tokens'), { raw: '{not json', headers: { 'content-type': 'application/json' } });
      assert.equal(garbled.status, 400);
    });

    it('validates (GET, HEAD) and revokes (DELETE) a token', async () => {
      const mine = await login(s, 'admin', 'secret', 'admin');
      const get = await call('GET', url('/v3/auth/tokens'), { token: admin.token, headers: { 'x-subject-token': mine.token } });
      assert.equal(get.status, 200);
      assert.equal(get.headers.get('x-subject-token'), mine.token);
      assert.equal(get.body.token.user.id, mine.userId);
      assert.ok(Array.isArray(get.body.token.catalog));
      const nocat = await call('GET', url('/v3/auth/tokens?nocatalog=1'), { token: admin.token, headers: { 'x-subject-token': mine.token } });
      assert.equal(nocat.body.token.catalog, undefined);

      const head = await call('HEAD', url('/v3/auth/tokens'), { token: admin.token, headers: { 'x-subject-token': mine.token } });
      assert.equal(head.status, 200);

      const del = await call('DELETE', url('/v3/auth/tokens'), { token: admin.token, headers: { 'x-subject-token': mine.token } });
      assert.equal(del.status, 204);
      const gone = await call('GET', url('/v3/auth/tokens'), { token: admin.token, headers: { 'x-subject-token': mine.token } });
      assert.equal(gone.status, 404);
      const used = await call('GET', url('/v3/auth/projects'), { token: mine.token });
      assert.equal(used.status, 401);
    });

    it('lets a member validate its own token but not another user\'s', async () => {
      const m = await memberOf(s, admin, 'validate-proj');
      const own = await call('GET', url('/v3/auth/tokens'), { token: m.token, headers: { 'x-subject-token': m.token } });
      assert.equal(own.status, 200);
      assert.deepEqual(own.body.token.roles.map((r: { name: string }) => r.name).sort(), ['member', 'reader']);
      const other = await call('GET', url('/v3/auth/tokens'), { token: m.token, headers: { 'x-subject-token': admin.token } });
      assert.equal(other.status, 403);
      assert.equal(other.body.error.code, 403);
    });

    it('rejects missing, malformed, unknown and expired tokens with 401', async () => {
      const path = url('/v3/auth/catalog');
      assert.equal((await call('GET', path)).status, 401);
      assert.equal((await call('GET', path, { token: 'not-a-token' })).status, 401);
      assert.equal((await call('GET', path, { token: `gAAAA${'x'.repeat(64)}` })).status, 401);
      const fresh = await login(s, 'admin', 'secret', 'admin');
      await s.db.updateTable('tokens').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).where('id', '=', tokenHashOf(fresh.token)).execute();
      s.tokens.forget({ userId: fresh.userId }); // the row changed behind the service's back
      const r = await call('GET', path, { token: fresh.token });
      assert.equal(r.status, 401);
      assert.equal(r.body.error.title, 'Unauthorized');
    });

    it('reads the catalog of a scoped token', async () => {
      const r = await call('GET', url('/v3/auth/catalog'), { token: admin.token });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.catalog, s.catalog);
      assert.equal(typeof r.body.links.self, 'string');
    });
  });

  describe('projects, users, roles', () => {
    it('creates, filters, updates and deletes projects', async () => {
      const created = await call('POST', url('/v3/projects'), { token: admin.token, body: { project: { name: 'proj-a', description: 'A' } } });
      assert.equal(created.status, 201);
      const p = created.body.project;
      assert.equal(p.name, 'proj-a');
      assert.equal(p.domain_id, 'default');
      assert.equal(p.parent_id, 'default');
      assert.equal(p.enabled, true);
      assert.equal(p.is_domain, false);
      assert.equal(p.links.self, url(`/v3/projects/${p.id}`));

      const dup = await call('POST', url('/v3/projects'), { token: admin.token, body: { project: { name: 'proj-a' } } });
      assert.equal(dup.status, 409);

      const byName = await call('GET', url('/v3/projects?name=proj-a'), { token: admin.token });
      assert.deepEqual(byName.body.projects.map((x: { id: string }) => x.id), [p.id]);
      const all = await call('GET', url('/v3/projects'), { token: admin.token });
      assert.ok(all.body.projects.length >= 3);

      const patched = await call('PATCH', url(`/v3/projects/${p.id}`), { token: admin.token, body: { project: { description: 'B', enabled: false } } });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.project.description, 'B');
      assert.equal(patched.body.project.enabled, false);
      const disabled = await call('GET', url('/v3/projects?enabled=false'), { token: admin.token });
      assert.deepEqual(disabled.body.projects.map((x: { id: string }) => x.id), [p.id]);

      assert.equal((await call('DELETE', url(`/v3/projects/${p.id}`), { token: admin.token })).status, 204);
      assert.equal((await call('GET', url(`/v3/projects/${p.id}`), { token: admin.token })).status, 404);
      assert.equal((await call('DELETE', url(`/v3/projects/${p.id}`), { token: admin.token })).status, 404);
    });

    it('creates users whose password is never shown, and lets them log in', async () => {
      const proj = await call('POST', url('/v3/projects'), { token: admin.token, body: { project: { name: 'proj-u' } } });
      const created = await call('POST', url('/v3/users'), {
        token: admin.token,
        body: { user: { name: 'alice', password: 'pa55', email: 'a@example.org', default_project_id: proj.body.project.id } },
      });
      assert.equal(created.status, 201);
      const u = created.body.user;
      assert.equal(u.password, undefined);
      assert.equal(u.email, 'a@example.org');
      assert.equal(u.password_expires_at, null);
      assert.equal(u.links.self, url(`/v3/users/${u.id}`));
      assert.equal((await call('POST', url('/v3/users'), { token: admin.token, body: { user: { name: 'alice' } } })).status, 409);

      const byName = await call('GET', url('/v3/users?name=alice'), { token: admin.token });
      assert.deepEqual(byName.body.users.map((x: { id: string }) => x.id), [u.id]);
      assert.ok(byName.body.users.every((x: Record<string, unknown>) => !('password' in x)));

      // No role yet: the default project does not apply, the token is unscoped.
      const unscoped = await login(s, 'alice', 'pa55', null);
      assert.equal(unscoped.projectId, null);

      const changed = await call('PATCH', url(`/v3/users/${u.id}`), { token: admin.token, body: { user: { password: 'n3w' } } });
      assert.equal(changed.status, 200);
      assert.equal(changed.body.user.password, undefined);
      await assert.rejects(login(s, 'alice', 'pa55', null));
      const again = await login(s, 'alice', 'n3w', null);
      assert.equal((await call('GET', url('/v3/auth/projects'), { token: unscoped.token })).status, 401, 'password change revokes tokens');

      // A user reads itself and its projects, not others.
      assert.equal((await call('GET', url(`/v3/users/${u.id}`), { token: again.token })).status, 200);
      assert.equal((await call('GET', url(`/v3/users/${u.id}/projects`), { token: again.token })).status, 200);
      assert.equal((await call('GET', url(`/v3/users/${admin.userId}`), { token: again.token })).status, 403);

      assert.equal((await call('DELETE', url(`/v3/users/${u.id}`), { token: admin.token })).status, 204);
      assert.equal((await call('GET', url('/v3/auth/projects'), { token: again.token })).status, 401, 'deleting a user revokes its tokens');
    });

    it('manages roles and role assignments', async () => {
      const role = await call('POST', url('/v3/roles'), { token: admin.token, body: { role: { name: 'observer' } } });
      assert.equal(role.status, 201);
      const roleId = role.body.role.id;
      assert.equal(role.body.role.links.self, url(`/v3/roles/${roleId}`));
      assert.equal((await call('POST', url('/v3/roles'), { token: admin.token, body: { role: { name: 'observer' } } })).status, 409);
      const byName = await call('GET', url('/v3/roles?name=observer'), { token: admin.token });
      assert.deepEqual(byName.body.roles.map((r: { id: string }) => r.id), [roleId]);

      const m = await memberOf(s, admin, 'proj-r', 'bob');
      const grant = url(`/v3/projects/${m.projectId}/users/${m.userId}/roles/${roleId}`);
      assert.equal((await call('HEAD', grant, { token: admin.token })).status, 404);
      assert.equal((await call('PUT', grant, { token: admin.token })).status, 204);
      assert.equal((await call('PUT', grant, { token: admin.token })).status, 204);
      assert.equal((await call('HEAD', grant, { token: admin.token })).status, 204);

      const onProject = await call('GET', url(`/v3/projects/${m.projectId}/users/${m.userId}/roles`), { token: admin.token });
      assert.deepEqual(onProject.body.roles.map((r: { name: string }) => r.name).sort(), ['member', 'observer']);

      const list = await call('GET', url(`/v3/role_assignments?user.id=${m.userId}&scope.project.id=${m.projectId}`), { token: admin.token });
      assert.equal(list.body.role_assignments.length, 2);
      const a = list.body.role_assignments.find((x: { role: { id: string } }) => x.role.id === roleId);
      assert.deepEqual(a.user, { id: m.userId });
      assert.deepEqual(a.scope, { project: { id: m.projectId } });
      assert.equal(a.links.assignment, grant);

      const named = await call('GET', url(`/v3/role_assignments?role.id=${roleId}&include_names=true`), { token: admin.token });
      assert.equal(named.body.role_assignments.length, 1);
      const n = named.body.role_assignments[0];
      assert.deepEqual(n.role, { id: roleId, name: 'observer' });
      assert.deepEqual(n.user, { id: m.userId, name: 'bob', domain: { id: 'default', name: 'Default' } });
      assert.deepEqual(n.scope.project, { id: m.projectId, name: 'proj-r', domain: { id: 'default', name: 'Default' } });

      assert.equal((await call('DELETE', grant, { token: admin.token })).status, 204);
      assert.equal((await call('DELETE', grant, { token: admin.token })).status, 404);
      const renamed = await call('PATCH', url(`/v3/roles/${roleId}`), { token: admin.token, body: { role: { name: 'watcher' } } });
      assert.equal(renamed.body.role.name, 'watcher');
      assert.equal((await call('DELETE', url(`/v3/roles/${roleId}`), { token: admin.token })).status, 204);
      assert.equal((await call('GET', url(`/v3/roles/${roleId}`), { token: admin.token })).status, 404);
    });

    it('revokes tokens on the project when the user\'s role there is removed', async () => {
      const m = await memberOf(s, admin, 'proj-x', 'carol');
      const roles = await call('GET', url('/v3/roles?name=member'), { token: admin.token });
      const grant = url(`/v3/projects/${m.projectId}/users/${m.userId}/roles/${roles.body.roles[0].id}`);
      assert.equal((await call('GET', url('/v3/auth/catalog'), { token: m.token })).status, 200);
      assert.equal((await call('DELETE', grant, { token: admin.token })).status, 204);
      assert.equal((await call('GET', url('/v3/auth/catalog'), { token: m.token })).status, 401);
    });

    it('refuses admin APIs to members with 403', async () => {
      const m = await memberOf(s, admin, 'proj-m', 'dave');
      const refused = [
        await call('GET', url('/v3/projects'), { token: m.token }),
        await call('POST', url('/v3/projects'), { token: m.token, body: { project: { name: 'mine' } } }),
        await call('GET', url('/v3/users'), { token: m.token }),
        await call('POST', url('/v3/users'), { token: m.token, body: { user: { name: 'eve' } } }),
        await call('GET', url('/v3/roles'), { token: m.token }),
        await call('GET', url('/v3/role_assignments'), { token: m.token }),
        await call('GET', url(`/v3/projects/${admin.projectId}`), { token: m.token }),
        await call('PUT', url(`/v3/projects/${m.projectId}/users/${m.userId}/roles/x`), { token: m.token }),
        await call('GET', url('/v3/domains'), { token: m.token }),
      ];
      for (const r of refused) {
        assert.equal(r.status, 403, JSON.stringify(r.body));
        assert.equal(r.body.error.title, 'Forbidden');
      }
      // Its own project it may read.
      assert.equal((await call('GET', url(`/v3/projects/${m.projectId}`), { token: m.token })).status, 200);
    });

    it('validates bodies: 400, never 500', async () => {
      const bad = [
        await call('POST', url('/v3/projects'), { token: admin.token, body: { project: { name: '' } } }),
        await call('POST', url('/v3/projects'), { token: admin.token, body: { project: { name: 5 } } }),
        await call('POST', url('/v3/projects'), { token: admin.token, body: { name: 'x' } }),
        await call('POST', url('/v3/users'), { token: admin.token, body: { user: { name: 'x', enabled: 'yes' } } }),
        await call('POST', url('/v3/roles'), { token: admin.token, body: [] }),
        await call('GET', url('/v3/projects?enabled=maybe'), { token: admin.token }),
      ];
      for (const r of bad) assert.equal(r.status, 400, JSON.stringify(r.body));
    });
  });

  describe('domains', () => {
    it('lists and shows the Default domain', async () => {
      const list = await call('GET', url('/v3/domains'), { token: admin.token });
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.domains.map((d: { id: string }) => d.id), ['default']);
      const d = list.body.domains[0];
      assert.equal(d.name, 'Default');
      assert.equal(d.enabled, true);
      assert.equal(d.links.self, url('/v3/domains/default'));
      assert.equal((await call('GET', url('/v3/domains?name=Default'), { token: admin.token })).body.domains.length, 1);
      assert.equal((await call('GET', url('/v3/domains?name=Other'), { token: admin.token })).body.domains.length, 0);
      const show = await call('GET', url('/v3/domains/default'), { token: admin.token });
      assert.equal(show.body.domain.name, 'Default');
      assert.equal((await call('GET', url('/v3/domains/other'), { token: admin.token })).status, 404);
      // Other domains are made and removed by domains-api.test.ts; the Default one stays.
      assert.equal((await call('DELETE', url('/v3/domains/default'), { token: admin.token })).status, 403);
      assert.equal((await call('PATCH', url('/v3/domains/default'), { token: admin.token, body: { domain: { enabled: false } } })).status, 403);
    });
  });
});
