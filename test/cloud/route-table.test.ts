import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteEntry } from '../../src/httpkit/app.js';
import { api, login, memberOfNewProject, startTestCloud, type Session, type TestCloud } from '../support/cloud.js';
import { adminOnly, apiRoutes, seedRouteFixtures, type ApiRoute } from '../support/route-fixtures.js';

/**
 * Tests generated from the route table of every API: no token → 401; a member on an admin
 * route → 403; another project's resource → 404; a malformed body → 400; never a 5xx.
 */
describe('every route of every API', () => {
  let cloud: TestCloud;
  let admin: Session;
  let other: Session;
  let routes: ApiRoute[];
  const values: Record<string, string> = {};
  /** Params naming a resource that belongs to one project (the admin's), for the 404 check. */
  const OWNED = ['server_id', 'imageId', 'name', 'group_id'];

  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    const c = cloud.urls;
    other = await memberOfNewProject(cloud, admin, 'other', 'other-u');
    const role = await api(admin, 'GET', `${c.identity}/v3/roles?name=member`);

    const fixtures = await seedRouteFixtures(cloud, admin, {
      projectId: admin.projectId, userId: admin.userId, roleId: role.body.roles[0].id, memberId: other.projectId,
    });
    Object.assign(values, fixtures.values);
    routes = apiRoutes(cloud);
    for (const r of routes) {
      // :project_id stays a placeholder: a URL's project must be the caller's own (else Nova answers 400).
      r.url = r.url.replace(/:(\w+)/g, (m, p: string) => (p === 'project_id' ? m : fixtures.param(r.url, p)));
    }
    assert.ok(routes.length > 100, `only ${routes.length} routes found`);
  });
  after(async () => {
    await cloud?.close();
  });

  const label = (r: RouteEntry & { api: string }): string => `${r.api} ${r.method} ${r.url}`;
  /** The route's URL as `who` calls it. */
  const urlFor = (r: RouteEntry & { base: string }, who: Session | null): string =>
    r.base + r.url.replace(':project_id', who?.projectId || admin.projectId);
  /** Glance's PATCH takes only its JSON-patch media type. */
  const typeFor = (r: RouteEntry & { api: string }): Record<string, string> =>
    r.api === 'image' && r.method === 'PATCH' ? { 'content-type': 'application/openstack-images-v2.1-json-patch' } : {};

  it('refuse a request without a token with 401 (but the version documents)', async () => {
    const wrong: string[] = [];
    for (const r of routes) {
      const res = await api(null, r.method, urlFor(r, null), r.hasBody ? {} : undefined);
      const ok = r.public ? res.status < 500 : res.status === 401;
      if (!ok) wrong.push(`${label(r)} → ${res.status}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('refuse a bad token with 401', async () => {
    const wrong: string[] = [];
    const bogus: Session = { token: 'gAAAAnot-a-real-token', projectId: '', userId: '' };
    for (const r of routes.filter((x) => !x.public)) {
      const res = await api(bogus, r.method, urlFor(r, null), r.hasBody ? {} : undefined);
      if (res.status !== 401) wrong.push(`${label(r)} → ${res.status}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('refuse a member on every admin route with 403', async () => {
    const wrong: string[] = [];
    // Action routes need a valid action to reach their rule: route-roles.test.ts sends those.
    for (const r of routes.filter((x) => adminOnly(x) && x.actionPolicies.length === 0)) {
      const res = await api(other, r.method, urlFor(r, other), r.hasBody ? {} : undefined);
      if (res.status !== 403) wrong.push(`${label(r)} → ${res.status}`);
    }
    assert.deepEqual(wrong, []);
  });

  it("answer 404 for another project's resource", async () => {
    const wrong: string[] = [];
    const owned = routes.filter((r) => !adminOnly(r) && !r.hasBody && (r.method === 'GET' || r.method === 'DELETE')
      && OWNED.some((p) => r.url.includes(`/${values[p]}`)));
    assert.ok(owned.length >= 10, `only ${owned.length} owned-resource routes`);
    for (const r of owned) {
      const res = await api(other, r.method, urlFor(r, other));
      if (res.status !== 404) wrong.push(`${label(r)} → ${res.status}`);
    }
    // Actions carry a body: a valid one, so that only ownership decides.
    const action = await api(other, 'POST', `${cloud.urls.compute}/v2.1/servers/${values.server_id}/action`, { 'os-stop': null });
    if (action.status !== 404) wrong.push(`compute POST action os-stop → ${action.status}`);
    assert.deepEqual(wrong, []);
    // Nothing was touched: the server is still there and ACTIVE.
    const still = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${values.server_id}`);
    assert.equal(still.body.server.status, 'ACTIVE');
  });

  it('answer a malformed body with 400, never a 5xx', async () => {
    const wrong: string[] = [];
    for (const r of routes.filter((x) => x.hasBody)) {
      for (const body of ['{"broken": ', '42']) {
        const res = await api(admin, r.method, urlFor(r, admin), body, typeFor(r));
        if (res.status !== 400) wrong.push(`${label(r)} with ${body} → ${res.status} ${JSON.stringify(res.body).slice(0, 120)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });
});
