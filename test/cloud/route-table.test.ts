import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteEntry } from '../../src/httpkit/app.js';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

/**
 * Tests generated from the route table of every API: no token → 401; a member on an admin
 * route → 403; another project's resource → 404; a malformed body → 400; never a 5xx.
 */
describe('every route of every API', () => {
  let cloud: TestCloud;
  let admin: Session;
  let other: Session;
  let routes: Array<RouteEntry & { api: string; base: string }>;
  const values: Record<string, string> = {};
  /** Params naming a resource that belongs to one project (the admin's), for the 404 check. */
  const OWNED = ['server_id', 'imageId', 'name'];

  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    const c = cloud.urls;
    const project = await api(admin, 'POST', `${c.identity}/v3/projects`, { project: { name: 'other', domain_id: 'default' } });
    const user = await api(admin, 'POST', `${c.identity}/v3/users`, { user: { name: 'other-u', password: 'pw', domain_id: 'default' } });
    const role = await api(admin, 'GET', `${c.identity}/v3/roles?name=member`);
    await api(admin, 'PUT', `${c.identity}/v3/projects/${project.body.project.id}/users/${user.body.user.id}/roles/${role.body.roles[0].id}`);
    other = await login(cloud, 'other-u', 'pw', 'other');

    const image = await api(admin, 'POST', `${c.image}/v2/images`, { name: 'private-a', visibility: 'private', disk_format: 'raw', container_format: 'bare' });
    const tiny = await api(admin, 'GET', `${c.image}/v2/images?name=orrery-tiny`);
    const server = await api(admin, 'POST', `${c.compute}/v2.1/servers`, {
      server: { name: 'owned-by-admin', imageRef: tiny.body.images[0].id, flavorRef: '1', networks: 'none', metadata: { k: 'v' } },
    }, { 'openstack-api-version': 'compute 2.37' });
    await waitFor('the server to be ACTIVE', async () => {
      const r = await api(admin, 'GET', `${c.compute}/v2.1/servers/${server.body.server.id}`);
      return r.body.server.status === 'ACTIVE' ? true : undefined;
    });
    await api(admin, 'POST', `${c.compute}/v2.1/os-keypairs`, { keypair: { name: 'kp-a' } });
    const agg = await api(admin, 'POST', `${c.compute}/v2.1/os-aggregates`, { aggregate: { name: 'agg' } });
    const hv = await api(admin, 'GET', `${c.compute}/v2.1/os-hypervisors`);
    const actions = await api(admin, 'GET', `${c.compute}/v2.1/servers/${server.body.server.id}/os-instance-actions`);
    const rps = await api(admin, 'GET', `${c.placement}/resource_providers`);

    Object.assign(values, {
      server_id: server.body.server.id, imageId: image.body.id, name: 'kp-a', flavor_id: '1', key: 'k', tag: 't',
      request_id: actions.body.instanceActions[0].request_id, projectId: admin.projectId, project_id: admin.projectId,
      userId: admin.userId, roleId: role.body.roles[0].id, domainId: 'default', memberId: other.projectId,
      uuid: rps.body.resource_providers[0].uuid,
    });
    const idFor = (url: string): string =>
      url.includes('os-aggregates') ? String(agg.body.aggregate.id)
        : url.includes('os-hypervisors') ? String(hv.body.hypervisors[0].id)
          : url.includes('os-quota-sets') ? admin.projectId
            : '999999';
    const actionFor = (url: string): string => (url.includes('os-services') ? 'disable' : 'deactivate');

    routes = [];
    for (const [name, app] of Object.entries(cloud.apps)) {
      for (const r of app.routeTable) {
        if (r.method === 'HEAD' || r.method === 'OPTIONS') continue;
        routes.push({ ...r, api: name, base: cloud.urls[name as keyof typeof cloud.urls] });
      }
    }
    for (const r of routes) {
      // :project_id stays a placeholder: a URL's project must be the caller's own (else Nova answers 400).
      r.url = r.url.replace(/:(\w+)/g, (m, p: string) =>
        p === 'project_id' ? m : p === 'id' ? idFor(r.url) : p === 'action' ? actionFor(r.url) : values[p] ?? `unknown-${p}`);
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
    for (const r of routes.filter((x) => x.admin)) {
      const res = await api(other, r.method, urlFor(r, other), r.hasBody ? {} : undefined);
      if (res.status !== 403) wrong.push(`${label(r)} → ${res.status}`);
    }
    assert.deepEqual(wrong, []);
  });

  it("answer 404 for another project's resource", async () => {
    const wrong: string[] = [];
    const owned = routes.filter((r) => !r.admin && !r.hasBody && (r.method === 'GET' || r.method === 'DELETE')
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
