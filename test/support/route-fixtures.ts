import assert from 'node:assert/strict';
import type { RouteEntry } from '../../src/httpkit/app.js';
import type { RunningCloud } from '../../src/cmd/cloud.js';
import { api, type Session } from './http.js';

/** A route of one of the cloud's APIs, with the base URL of that API. */
export type ApiRoute = RouteEntry & { api: string; base: string };

/** Every route of every API of the cloud but HEAD and OPTIONS (Fastify adds those). */
export function apiRoutes(cloud: RunningCloud): ApiRoute[] {
  const out: ApiRoute[] = [];
  for (const [name, app] of Object.entries(cloud.apps)) {
    for (const r of app.routeTable) {
      if (r.method === 'HEAD' || r.method === 'OPTIONS') continue;
      out.push({ ...r, api: name, base: cloud.urls[name as keyof RunningCloud['urls']] });
    }
  }
  return out;
}

export interface RouteFixtures {
  /** Path parameter values by name: resources of the admin's project, and the identity targets. */
  values: Record<string, string>;
  /** The seed image every server boots. */
  bootImageId: string;
  /** The value of parameter `p` in a route's URL (the integer ids depend on the resource). */
  param(url: string, p: string): string;
}

/**
 * Resources for the route-table tests to name: an ACTIVE server with metadata, a private
 * image, a keypair, an aggregate, a hypervisor, an instance action, a resource provider — all
 * the admin's — and the project, user and role the identity routes act on.
 */
export async function seedRouteFixtures(
  cloud: RunningCloud, admin: Session, identity: { projectId: string; userId: string; roleId: string; memberId: string },
): Promise<RouteFixtures> {
  const c = cloud.urls;
  const image = await api(admin, 'POST', `${c.image}/v2/images`, { name: 'private-a', visibility: 'private', disk_format: 'raw', container_format: 'bare' });
  const tiny = await api(admin, 'GET', `${c.image}/v2/images?name=orrery-tiny`);
  const server = await api(admin, 'POST', `${c.compute}/v2.1/servers`, {
    server: { name: 'owned-by-admin', imageRef: tiny.body.images[0].id, flavorRef: '1', networks: 'none', metadata: { k: 'v' } },
  }, { 'openstack-api-version': 'compute 2.37' });
  assert.equal(server.status, 202, JSON.stringify(server.body));
  const deadline = Date.now() + 30_000;
  while ((await api(admin, 'GET', `${c.compute}/v2.1/servers/${server.body.server.id}`)).body.server.status !== 'ACTIVE') {
    if (Date.now() > deadline) throw new Error('the fixture server did not become ACTIVE');
    await new Promise((r) => setTimeout(r, 50));
  }
  await api(admin, 'POST', `${c.compute}/v2.1/os-keypairs`, { keypair: { name: 'kp-a' } });
  const agg = await api(admin, 'POST', `${c.compute}/v2.1/os-aggregates`, { aggregate: { name: 'agg' } });
  const hv = await api(admin, 'GET', `${c.compute}/v2.1/os-hypervisors`);
  const actions = await api(admin, 'GET', `${c.compute}/v2.1/servers/${server.body.server.id}/os-instance-actions`);
  const rps = await api(admin, 'GET', `${c.placement}/resource_providers`);
  const group = await api(admin, 'POST', `${c.compute}/v2.1/os-server-groups`, { server_group: { name: 'sg-a', policies: ['affinity'] } });
  const values: Record<string, string> = {
    server_id: server.body.server.id, imageId: image.body.id, name: 'kp-a', flavor_id: '1', key: 'k', tag: 't',
    request_id: actions.body.instanceActions[0].request_id, project_id: admin.projectId,
    projectId: identity.projectId, userId: identity.userId, roleId: identity.roleId, memberId: identity.memberId, domainId: 'default',
    uuid: rps.body.resource_providers[0].uuid, group_id: group.body.server_group.id,
  };
  const param = (url: string, p: string): string => {
    if (p === 'id') {
      return url.includes('os-aggregates') ? String(agg.body.aggregate.id)
        : url.includes('os-hypervisors') ? String(hv.body.hypervisors[0].id)
          : url.includes('os-quota-sets') ? admin.projectId
            : '999999';
    }
    if (p === 'action') return url.includes('os-services') ? 'disable' : 'deactivate';
    return values[p] ?? `unknown-${p}`;
  };
  return { values, bootImageId: tiny.body.images[0].id, param };
}
