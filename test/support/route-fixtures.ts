import assert from 'node:assert/strict';
import type { RouteEntry } from '../../src/httpkit/app.js';
import type { RunningCloud } from '../../src/cmd/cloud.js';
import { api, type Session } from './http.js';
import { defaultEnforcer } from '../../src/cmd/policies.js';

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
    // os-simple-tenant-usage/{tenant_id}: the project the fixtures belong to (the admin's), whose reader may read it.
    tenant_id: admin.projectId,
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

const enforcer = defaultEnforcer();

/** The credentials of a user with exactly these (expanded) roles on its own project. */
export function credentialsWith(roles: string[]): ReadonlyMap<string, unknown> {
  return new Map<string, unknown>([
    ['roles', roles], ['user_id', 'u'], ['project_id', 'p'], ['user_domain_id', 'default'], ['project_domain_id', 'default'], ['is_admin', roles.includes('admin')],
  ]);
}
/** A target that is the caller's own in every way a rule may ask (its project, user, domain, token). */
const OWN = new Map<string, unknown>([
  ['user_id', 'u'], ['project_id', 'p'], ['target.user.id', 'u'], ['target.project.id', 'p'], ['target.domain.id', 'default'], ['target.token.user_id', 'u'],
]);

/** The route's rules: its own, or those of the actions it dispatches to. */
export function rulesOf(r: RouteEntry): string[] {
  return [...(r.policy ? [r.policy] : []), ...r.actionPolicies];
}

/** Whether the default rules let a user with `roles` on its own project pass `rule`. */
export function passes(rule: string, roles: string[]): boolean {
  return enforcer.enforce(rule, credentialsWith(roles), OWN);
}

/** A route no project member may call under the default rules (every rule of it needs admin). */
export function adminOnly(r: RouteEntry): boolean {
  const rules = rulesOf(r);
  return !r.public && rules.length > 0 && rules.every((rule) => !passes(rule, ['member', 'reader']));
}
