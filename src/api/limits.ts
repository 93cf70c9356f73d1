import type { FastifyInstance, FastifyRequest } from 'fastify';
import { getInstanceUsage, getProjectLimits } from '../db/quotas.js';
import { countServerGroups } from '../db/server-groups.js';
import { mvAtLeast, queryParam, requireAdminOrSelf, routeBoth, strictQuery } from './resource-kit.js';
import type { ComputeApiDeps } from './deps.js';

/** GET /limits: a project's quotas as Nova's absolute limits, with its usage. */

/** Quota resource → absolute limit names (Nova's limits view). */
const LIMIT_NAMES: Record<string, string[]> = {
  ram: ['maxTotalRAMSize'],
  instances: ['maxTotalInstances'],
  cores: ['maxTotalCores'],
  key_pairs: ['maxTotalKeypairs'],
  floating_ips: ['maxTotalFloatingIps'],
  metadata_items: ['maxServerMeta', 'maxImageMeta'],
  injected_files: ['maxPersonality'],
  injected_file_content_bytes: ['maxPersonalitySize'],
  security_groups: ['maxSecurityGroups'],
  security_group_rules: ['maxSecurityGroupRules'],
  server_groups: ['maxServerGroups'],
  server_group_members: ['maxServerGroupMembers'],
};

/** Network quotas Nova stopped reporting at 2.36 (they belong to Neutron). */
export const NETWORK_QUOTAS_2_36 = ['fixed_ips', 'floating_ips', 'security_groups', 'security_group_rules'];

/** Quotas of the personality files Nova removed at 2.57 (from limits, quota sets and quota classes). */
export const FILE_QUOTAS_2_57 = ['injected_files', 'injected_file_content_bytes', 'injected_file_path_bytes'];

/** Limit names the request's microversion no longer shows: maxImageMeta from 2.39 (the image-metadata proxy's). */
function hiddenLimitNames(req: FastifyRequest): string[] {
  return mvAtLeast(req, '2.39') ? ['maxImageMeta'] : [];
}

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db' | 'config'>): void {
  const { db, config } = deps;

  routeBoth(app, 'GET', '/limits', { policy: 'os_compute_api:limits' }, async (req) => {
    strictQuery(req, ['tenant_id']);
    let projectId = req.auth.projectId ?? '';
    const asked = queryParam(req, 'tenant_id');
    if (asked !== undefined) {
      if (asked !== req.auth.projectId) requireAdminOrSelf(req, { projectId: asked }, 'os_compute_api:limits:other_project');
      projectId = asked;
    }
    const filtered = [...(mvAtLeast(req, '2.36') ? NETWORK_QUOTAS_2_36 : []), ...(mvAtLeast(req, '2.57') ? FILE_QUOTAS_2_57 : [])];
    const hidden = hiddenLimitNames(req);
    const [limits, usage, groups] = await Promise.all([
      getProjectLimits(db, config, projectId), getInstanceUsage(db, projectId), countServerGroups(db, projectId),
    ]);
    const absolute: Record<string, number> = {};
    for (const [resource, names] of Object.entries(LIMIT_NAMES)) {
      if (filtered.includes(resource) || limits[resource] === undefined) continue;
      for (const name of names) if (!hidden.includes(name)) absolute[name] = limits[resource]!;
    }
    const used: Record<string, [string, number]> = {
      totalRAMUsed: ['ram', usage.ram],
      totalCoresUsed: ['cores', usage.cores],
      totalInstancesUsed: ['instances', usage.instances],
      totalFloatingIpsUsed: ['floating_ips', 0],
      totalSecurityGroupsUsed: ['security_groups', 0],
      totalServerGroupsUsed: ['server_groups', groups],
    };
    for (const [name, [resource, value]] of Object.entries(used)) {
      if (!filtered.includes(resource)) absolute[name] = value;
    }
    return { limits: { rate: [], absolute } };
  });
}
