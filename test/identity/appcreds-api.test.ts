import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, login, memberOfNewProject, startTestCloud, type Session, type TestCloud } from '../support/cloud.js';

/** Application credentials: create, use, limits, access rules on every API, revocation (issue #22). */
describe('identity: application credentials', () => {
  let cloud: TestCloud;
  let admin: Session;
  let alice: Session;
  let id: string;
  before(async () => {
    cloud = await startTestCloud();
    admin = await login(cloud, 'admin', 'secret', 'admin');
    alice = await memberOfNewProject(cloud, admin, 'ac-project', 'alice');
    id = cloud.urls.identity;
  });
  after(async () => cloud?.close());

  const credAuth = (cred: Record<string, unknown>, scope?: unknown) => api(null, 'POST', `${id}/v3/auth/tokens`, {
    auth: { identity: { methods: ['application_credential'], application_credential: cred }, ...(scope !== undefined ? { scope } : {}) },
  });
  const create = (who: Session, body: Record<string, unknown>) =>
    api(who, 'POST', `${id}/v3/users/${who.userId}/application_credentials`, { application_credential: body });

  it('shows the secret once, stores only its hash, and authenticates by id or by name and user', async () => {
    const c = await create(alice, { name: 'ci', description: 'the CI robot' });
    assert.equal(c.status, 201);
    const cred = c.body.application_credential;
    assert.match(cred.secret, /^[A-Za-z0-9_-]{40,}$/);
    assert.equal(cred.project_id, alice.projectId);
    assert.equal(cred.unrestricted, false);
    assert.deepEqual(cred.roles.map((r: { name: string }) => r.name).sort(), ['member', 'reader'], 'all the token\'s roles by default');
    const shown = await api(alice, 'GET', `${id}/v3/users/${alice.userId}/application_credentials/${cred.id}`);
    assert.equal(shown.status, 200);
    assert.equal(shown.body.application_credential.secret, undefined);
    const row = await cloud.db.selectFrom('application_credentials').selectAll().where('id', '=', cred.id).executeTakeFirstOrThrow();
    assert.ok(!row.secret_hash.includes(cred.secret));
    assert.match(row.secret_hash, /^\$(pbkdf2-sha512|scrypt)\$/);
    assert.deepEqual((await api(alice, 'GET', `${id}/v3/users/${alice.userId}/application_credentials?name=ci`)).body.application_credentials.map((x: { id: string }) => x.id), [cred.id]);
    assert.equal((await create(alice, { name: 'ci' })).status, 409);

    const byId = await credAuth({ id: cred.id, secret: cred.secret });
    assert.equal(byId.status, 201);
    assert.deepEqual(byId.body.token.methods, ['application_credential']);
    assert.equal(byId.body.token.project.id, alice.projectId);
    assert.equal(byId.body.token.application_credential.id, cred.id);
    assert.equal(byId.body.token.application_credential.restricted, true);
    const byName = await credAuth({ name: 'ci', secret: cred.secret, user: { name: 'alice', domain: { name: 'Default' } } });
    assert.equal(byName.status, 201);
    assert.equal((await credAuth({ id: cred.id, secret: 'wrong' })).status, 401);
    assert.equal((await credAuth({ name: 'ci', secret: cred.secret, user: { name: 'alice', domain: { name: 'Other' } } })).status, 401);
    assert.equal((await credAuth({ id: cred.id, secret: cred.secret }, { project: { id: alice.projectId } })).status, 401, 'no scope may be asked');
    assert.equal((await credAuth({ name: 'ci', secret: cred.secret })).status, 400, 'a name needs a user');

    // The token works on the compute API; a restricted credential's token cannot make another.
    const t = { token: byId.headers.get('x-subject-token')! };
    assert.equal((await api(t, 'GET', `${cloud.urls.compute}/v2.1/servers`)).status, 200);
    assert.equal((await api(t, 'POST', `${id}/v3/users/${alice.userId}/application_credentials`, { application_credential: { name: 'again' } })).status, 403);
    // Nor trade itself for a token without the credential's limits.
    const swap = await api(null, 'POST', `${id}/v3/auth/tokens`, { auth: { identity: { methods: ['token'], token: { id: t.token } }, scope: { project: { id: alice.projectId } } } });
    assert.equal(swap.status, 403);

    // Deleted: neither the credential nor the tokens it issued work any more.
    assert.equal((await api(alice, 'DELETE', `${id}/v3/users/${alice.userId}/application_credentials/${cred.id}`)).status, 204);
    assert.equal((await credAuth({ id: cred.id, secret: cred.secret })).status, 401);
    assert.equal((await api(t, 'GET', `${cloud.urls.compute}/v2.1/servers`)).status, 401);
    assert.equal((await api(alice, 'GET', `${id}/v3/users/${alice.userId}/application_credentials/${cred.id}`)).status, 404);
  });

  it('limits roles to the creator\'s, honours expires_at, and lets an unrestricted one make more', async () => {
    assert.equal((await create(alice, { name: 'too-much', roles: [{ name: 'admin' }] })).status, 403);
    assert.equal((await create(alice, { name: 'past', expires_at: '2000-01-01T00:00:00Z' })).status, 400);
    assert.equal((await create(alice, { name: 'bad-date', expires_at: 'tomorrow' })).status, 400);
    const soon = new Date(Date.now() + 3600_000).toISOString();
    const r = await create(alice, { name: 'reader-only', roles: [{ name: 'reader' }], expires_at: soon, unrestricted: true });
    assert.equal(r.status, 201);
    const tok = await credAuth({ id: r.body.application_credential.id, secret: r.body.application_credential.secret });
    assert.deepEqual(tok.body.token.roles.map((x: { name: string }) => x.name), ['reader']);
    assert.ok(Date.parse(tok.body.token.expires_at) <= Date.parse(soon) + 1);
    const t = { token: tok.headers.get('x-subject-token')! };
    // Unrestricted: it may make another (with no more than its own roles).
    assert.equal((await api(t, 'POST', `${id}/v3/users/${alice.userId}/application_credentials`, { application_credential: { name: 'child', roles: [{ name: 'member' }] } })).status, 403);
    assert.equal((await api(t, 'POST', `${id}/v3/users/${alice.userId}/application_credentials`, { application_credential: { name: 'child' } })).status, 201);
    // Someone else's credentials are not theirs to see; the admin's policy lets it.
    const bob = await memberOfNewProject(cloud, admin, 'ac-other', 'bob');
    assert.equal((await api(bob, 'GET', `${id}/v3/users/${alice.userId}/application_credentials`)).status, 403);
    assert.equal((await api(bob, 'GET', `${id}/v3/users/${bob.userId}/application_credentials/${r.body.application_credential.id}`)).status, 404);
    assert.equal((await api(admin, 'GET', `${id}/v3/users/${alice.userId}/application_credentials`)).status, 200);
  });

  it('access rules: GET on compute /v2.1/servers only — everything else refused 401', async () => {
    const c = await create(alice, { name: 'lister', access_rules: [{ service: 'compute', method: 'GET', path: '/v2.1/servers' }] });
    assert.equal(c.status, 201);
    assert.equal(c.body.application_credential.access_rules.length, 1);
    const tok = await credAuth({ id: c.body.application_credential.id, secret: c.body.application_credential.secret });
    assert.equal(tok.status, 201);
    assert.equal(tok.body.token.application_credential.access_rules[0].path, '/v2.1/servers');
    const t = { token: tok.headers.get('x-subject-token')! };
    const list = await api(t, 'GET', `${cloud.urls.compute}/v2.1/servers`);
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.servers, []);
    const post = await api(t, 'POST', `${cloud.urls.compute}/v2.1/servers`, { server: { name: 'x', imageRef: 'y', flavorRef: '1' } });
    assert.equal(post.status, 401);
    assert.ok(post.body.unauthorized, 'in the compute API\'s own error format');
    assert.equal((await api(t, 'GET', `${cloud.urls.compute}/v2.1/servers/detail`)).status, 401);
    assert.equal((await api(t, 'GET', `${cloud.urls.compute}/v2.1/flavors`)).status, 401);
    assert.equal((await api(t, 'GET', `${cloud.urls.image}/v2/images`)).status, 401);
    assert.equal((await api(t, 'GET', `${cloud.urls.placement}/resource_providers`)).status, 401);
    assert.equal((await api(t, 'GET', `${cloud.urls.network}/v2.0/networks`)).status, 401);
    assert.equal((await api(t, 'GET', `${id}/v3/users/${alice.userId}`)).status, 401);

    // A service acting for the user (its own token in X-Service-Token) is not held to the rules; the user's own second token is no service token.
    const svc = await login(cloud, 'admin', 'secret', 'admin');
    assert.equal((await api(t, 'GET', `${cloud.urls.image}/v2/images`, undefined, { 'x-service-token': svc.token })).status, 200);
    assert.equal((await api(t, 'GET', `${cloud.urls.image}/v2/images`, undefined, { 'x-service-token': alice.token })).status, 401);
    assert.equal((await api(t, 'GET', `${cloud.urls.image}/v2/images`, undefined, { 'x-service-token': t.token })).status, 401);
    assert.equal((await api(t, 'GET', `${cloud.urls.image}/v2/images`, undefined, { 'x-service-token': 'garbage' })).status, 401);

    const wild = await create(alice, {
      name: 'wild', access_rules: [{ service: 'compute', method: 'GET', path: '/v2.1/servers/*' }, { service: 'image', method: 'GET', path: '/v2/**' }],
    });
    const wt = { token: (await credAuth({ id: wild.body.application_credential.id, secret: wild.body.application_credential.secret })).headers.get('x-subject-token')! };
    assert.equal((await api(wt, 'GET', `${cloud.urls.compute}/v2.1/servers/detail`)).status, 200);
    assert.equal((await api(wt, 'GET', `${cloud.urls.compute}/v2.1/servers`)).status, 401);
    assert.equal((await api(wt, 'GET', `${cloud.urls.image}/v2/images`)).status, 200);
    assert.equal((await api(wt, 'GET', `${cloud.urls.image}/v2/images?limit=1`)).status, 200, 'the query is not part of the path');

    // The user's access rules: listed, shown, reused by id, one id per distinct rule, not deletable while in use.
    const rules = await api(alice, 'GET', `${id}/v3/users/${alice.userId}/access_rules`);
    assert.equal(rules.status, 200);
    assert.deepEqual(rules.body.access_rules.map((r: { path: string }) => r.path).sort(), ['/v2.1/servers', '/v2.1/servers/*', '/v2/**']);
    const ruleId = c.body.application_credential.access_rules[0].id;
    assert.equal((await api(alice, 'GET', `${id}/v3/users/${alice.userId}/access_rules/${ruleId}`)).body.access_rule.service, 'compute');
    assert.equal((await api(alice, 'GET', `${id}/v3/users/${alice.userId}/access_rules?service=image`)).body.access_rules.length, 1);
    const reuse = await create(alice, { name: 'reuse', access_rules: [{ id: ruleId }, { service: 'compute', method: 'get', path: '/v2.1/servers' }] });
    assert.equal(reuse.status, 201);
    assert.deepEqual(reuse.body.application_credential.access_rules.map((r: { id: string }) => r.id), [ruleId]);
    assert.equal((await create(alice, { name: 'ghost', access_rules: [{ id: 'nope' }] })).status, 404);
    assert.equal((await api(alice, 'DELETE', `${id}/v3/users/${alice.userId}/access_rules/${ruleId}`)).status, 403);
    assert.equal((await api(alice, 'DELETE', `${id}/v3/users/${alice.userId}/access_rules/nope`)).status, 404);

    for (const bad of [[{ service: 'compute', method: 'FETCH', path: '/x' }], [{ service: 'compute', method: 'GET', path: 'x' }], [{ service: 'compute', path: '/x' }]]) {
      assert.equal((await create(alice, { name: `bad-${Math.random()}`, access_rules: bad })).status, 400);
    }
  });

  it('is revoked when its user loses the role on the project, and gone with the user', async () => {
    const carol = await memberOfNewProject(cloud, admin, 'ac-carol', 'carol');
    const c = (await create(carol, { name: 'robot' })).body.application_credential;
    const tok = await credAuth({ id: c.id, secret: c.secret });
    const t = { token: tok.headers.get('x-subject-token')! };
    assert.equal((await api(t, 'GET', `${cloud.urls.compute}/v2.1/servers`)).status, 200);
    const member = (await api(admin, 'GET', `${id}/v3/roles?name=member`)).body.roles[0].id;
    assert.equal((await api(admin, 'DELETE', `${id}/v3/projects/${carol.projectId}/users/${carol.userId}/roles/${member}`)).status, 204);
    assert.equal((await credAuth({ id: c.id, secret: c.secret })).status, 401);
    assert.equal((await api(t, 'GET', `${cloud.urls.compute}/v2.1/servers`)).status, 401);
    assert.equal((await api(admin, 'GET', `${id}/v3/users/${carol.userId}/application_credentials`)).body.application_credentials.length, 0);

    const frank = await memberOfNewProject(cloud, admin, 'ac-frank', 'frank');
    const f = (await create(frank, { name: 'robot' })).body.application_credential;
    assert.equal((await api(admin, 'PATCH', `${id}/v3/users/${frank.userId}`, { user: { enabled: false } })).status, 200);
    assert.equal((await api(admin, 'PATCH', `${id}/v3/users/${frank.userId}`, { user: { enabled: true } })).status, 200);
    assert.equal((await credAuth({ id: f.id, secret: f.secret })).status, 401, 'disabling the user deleted it');

    const dave = await memberOfNewProject(cloud, admin, 'ac-dave', 'dave');
    const d = (await create(dave, { name: 'robot' })).body.application_credential;
    assert.equal((await api(admin, 'DELETE', `${id}/v3/users/${dave.userId}`)).status, 204);
    assert.equal((await credAuth({ id: d.id, secret: d.secret })).status, 401);
    assert.equal(await cloud.db.selectFrom('application_credentials').select('id').where('user_id', '=', dave.userId).executeTakeFirst(), undefined);
  });
});
