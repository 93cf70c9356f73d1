import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { api, login, memberOfNewProject, startTestCloud, type Session, type TestCloud } from '../support/cloud.js';
import { adminOnly, apiRoutes, passes, rulesOf, seedRouteFixtures, type ApiRoute } from '../support/route-fixtures.js';
import { userWithRole } from '../support/tenants.js';

/**
 * The three default roles on every route of every API, from the route tables: a reader writes
 * nothing (403, and the database is unchanged), a member reaches no admin rule (403), an admin
 * is refused by no rule.
 */

const WRITE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Bodies that pass the route schema of the action routes, one per action, so that only policy decides. */
const ACTION_BODIES: Record<string, unknown[]> = {
  '/os-aggregates/:id/action': [{ add_host: { host: 'compute1' } }, { remove_host: { host: 'compute1' } }, { set_metadata: { metadata: { a: 'b' } } }],
  '/flavors/:flavor_id/action': [{ addTenantAccess: { tenant: 'p' } }, { removeTenantAccess: { tenant: 'p' } }],
};

/** The action bodies of a route: the table above, or one per action its bodyVariants name (value null). */
function actionBodies(r: ApiRoute, template: string): unknown[] {
  for (const [suffix, bodies] of Object.entries(ACTION_BODIES)) if (template.endsWith(suffix)) return bodies;
  return r.bodyVariants.map((v) => ({ [(v as { required: string[] }).required[0]!]: null }));
}

/** Every table's rows, but those the cloud's own services rewrite on their own (heartbeats, node stats). */
async function dump(cloud: TestCloud): Promise<Record<string, unknown[]>> {
  // network_agents: the in-process network agents' heartbeats, as services' rows.
  const VOLATILE = new Set(['services', 'compute_nodes', 'tokens', 'revoked_tokens', 'auth_failures', 'network_agents']);
  const tables = await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'kysely_%' AND name NOT LIKE 'sqlite_%'`.execute(cloud.db);
  const out: Record<string, unknown[]> = {};
  for (const { name } of tables.rows) {
    if (VOLATILE.has(name)) continue;
    out[name] = (await sql`SELECT * FROM ${sql.table(name)}`.execute(cloud.db)).rows;
  }
  return out;
}

/** A 403 that names a policy rule, in any API's words (others are refusals of another kind). */
const refusedByPolicy = (res: { status: number; body: unknown }): boolean =>
  res.status === 403 && /Policy doesn't allow|not authorized to (complete|perform)|Policy does not allow|is disallowed by policy|Access was denied to the following resource/.test(JSON.stringify(res.body));

describe('the default roles on every route', () => {
  let cloud: TestCloud;
  let admin: Session;
  let reader: Session;
  let member: Session;
  let routes: Array<ApiRoute & { template: string }>;

  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    // Reader and member of the admin's own project: they find its resources, so only policy refuses.
    reader = await userWithRole(cloud, admin, { project: 'admin', user: 'rita', role: 'reader' });
    member = await userWithRole(cloud, admin, { project: 'admin', user: 'max', role: 'member' });
    // The identity routes act on a victim, so that the admin's sweep deletes nothing it needs.
    const victim = await memberOfNewProject(cloud, admin, 'victim', 'victim-u');
    const role = await api(admin, 'POST', `${cloud.urls.identity}/v3/roles`, { role: { name: 'victim-role' } });
    const fixtures = await seedRouteFixtures(cloud, admin, {
      projectId: victim.projectId, userId: victim.userId, roleId: role.body.role.id, memberId: victim.projectId,
    });
    routes = apiRoutes(cloud).map((r) => ({
      ...r, template: r.url,
      url: r.url.replace(/:(\w+)/g, (m, p: string) => (p === 'project_id' ? m : fixtures.param(r.url, p))),
    }));
    assert.ok(routes.length > 100, `only ${routes.length} routes found`);
  });
  after(async () => {
    await cloud?.close();
  });

  const label = (r: ApiRoute): string => `${r.api} ${r.method} ${r.url}`;
  const urlFor = (r: ApiRoute, who: Session): string => r.base + r.url.replace(':project_id', who.projectId);
  const headersFor = (r: ApiRoute): Record<string, string> => ({
    ...(r.api === 'image' && r.method === 'PATCH' ? { 'content-type': 'application/openstack-images-v2.1-json-patch' } : {}),
    // Token routes act on the token in X-Subject-Token: the admin's, which a reader may not touch.
    ...(r.url.endsWith('/auth/tokens') ? { 'x-subject-token': admin.token } : {}),
    // Server actions exist between microversions (trigger_crash_dump from 2.17, the network
    // proxies until 2.43): 2.35 has them all, so each action reaches its own rule.
    ...(r.api === 'compute' && r.url.endsWith('/action') ? { 'openstack-api-version': 'compute 2.35' } : {}),
  });
  /** The bodies to send: one per action on action routes, else an empty one where the route takes a body. */
  const bodiesOf = (r: ApiRoute & { template: string }): unknown[] => (r.actionPolicies.length > 0 && r.hasBody ? actionBodies(r, r.template) : [r.hasBody ? {} : undefined]);

  it('every route names a rule, and the defaults give a reader no write rule but its own password and tokens', () => {
    // Keystone's self-service rules: any user changes its password, revokes its tokens, manages its application credentials and their access rules.
    const SELF_SERVICE = new Set(['identity:change_password', 'identity:revoke_token', 'identity:create_application_credential', 'identity:delete_application_credential', 'identity:delete_access_rule']);
    const open = routes.filter((r) => !r.public && WRITE.has(r.method)).flatMap((r) => rulesOf(r))
      .filter((rule) => passes(rule, ['reader']) && !SELF_SERVICE.has(rule));
    assert.deepEqual([...new Set(open)], []);
    assert.deepEqual(routes.filter((r) => !r.public && rulesOf(r).length === 0).map(label), []);
  });

  it('refuse a reader every write with 403, and nothing changes', async () => {
    const before = await dump(cloud);
    const wrong: string[] = [];
    let sent = 0;
    for (const r of routes.filter((x) => !x.public && WRITE.has(x.method))) {
      for (const body of bodiesOf(r)) {
        const res = await api(reader, r.method, urlFor(r, reader), body, headersFor(r));
        sent++;
        if (res.status !== 403) wrong.push(`${label(r)} ${JSON.stringify(body) ?? ''} → ${res.status} ${JSON.stringify(res.body).slice(0, 160)}`);
      }
    }
    assert.deepEqual(wrong, []);
    assert.ok(sent > 50, `only ${sent} writes tried`);
    assert.deepEqual(await dump(cloud), before);
  });

  it("answer a refusal in each API's own words", async () => {
    const c = cloud.urls;
    const create = await api(reader, 'POST', `${c.compute}/v2.1/servers`, { server: { name: 'x', imageRef: 'y', flavorRef: '1' } });
    assert.deepEqual(create.body, { forbidden: { code: 403, message: "Policy doesn't allow os_compute_api:servers:create to be performed." } });
    const upload = await api(reader, 'POST', `${c.image}/v2/images`, { name: 'x' });
    assert.equal(upload.body.message, 'You are not authorized to complete add_image action.');
    const users = await api(member, 'GET', `${c.identity}/v3/users`);
    assert.equal(users.body.error.message, 'You are not authorized to perform the requested action: identity:list_users.');
    const rps = await api(member, 'GET', `${c.placement}/resource_providers`);
    assert.equal(rps.status, 403);
    assert.match(JSON.stringify(rps.body), /placement:resource_providers:list/);
  });

  it('let a reader read what its project owns', async () => {
    const wrong: string[] = [];
    // The identity routes here name the victim (or the admin's token): not the reader's own, so refused.
    const ownOnly = (x: ApiRoute & { template: string }): boolean => x.api !== 'identity' || !/:userId|:projectId|\/auth\/tokens$/.test(x.template);
    for (const r of routes.filter((x) => !x.public && x.method === 'GET' && ownOnly(x) && rulesOf(x).every((rule) => passes(rule, ['reader'])))) {
      const res = await api(reader, r.method, urlFor(r, reader), undefined, headersFor(r));
      if (refusedByPolicy(res)) wrong.push(`${label(r)} → 403 ${JSON.stringify(res.body).slice(0, 160)}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('refuse a member every admin rule with 403', async () => {
    const wrong: string[] = [];
    const adminRoutes = routes.filter(adminOnly);
    assert.ok(adminRoutes.length >= 40, `only ${adminRoutes.length} admin routes`);
    for (const r of adminRoutes) {
      for (const body of bodiesOf(r)) {
        const res = await api(member, r.method, urlFor(r, member), body, headersFor(r));
        if (res.status !== 403) wrong.push(`${label(r)} ${JSON.stringify(body) ?? ''} → ${res.status}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('refuse the admin no rule (reads first, then writes)', async () => {
    const wrong: string[] = [];
    const ordered = [...routes.filter((r) => !WRITE.has(r.method)), ...routes.filter((r) => WRITE.has(r.method))].filter((r) => !r.public);
    for (const r of ordered) {
      for (const body of bodiesOf(r)) {
        const res = await api(admin, r.method, urlFor(r, admin), body, headersFor(r));
        // A 403 for another reason (the Default domain cannot change) is no policy refusal.
        if (refusedByPolicy(res)) {
          wrong.push(`${label(r)} ${JSON.stringify(body) ?? ''} → ${JSON.stringify(res.body).slice(0, 160)}`);
        }
        if (res.status >= 500 && res.status !== 501) wrong.push(`${label(r)} → ${res.status}`);
      }
    }
    assert.deepEqual(wrong, []);
  });
});
