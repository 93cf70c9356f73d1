import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BadRequest } from '../common/errors.js';
import type { Db } from '../db/connection.js';
import { countKeyPairs } from '../db/keypairs.js';
import {
  QUOTA_RESOURCES, UNLIMITED, defaultLimits, deleteProjectLimits, getInstanceUsage, getProjectLimits, setProjectLimits,
} from '../db/quotas.js';
import { NETWORK_QUOTAS_2_36 } from './limits.js';
import { BooleanSchema, MAX_INT, intOrString, intValue, mvAtLeast, queryParam, requireAdminOrSelf, routeBoth, toBool } from './resource-kit.js';
import type { ComputeApiDeps } from './deps.js';
import { unexpectedProperty } from './server-common.js';

/**
 * The os-quota-sets API: a project's limits (members read their own project's, admins any
 * and change them), its defaults, and its usage.
 */

/** Resources shown at the request's microversion. */
function shownResources(req: FastifyRequest): string[] {
  return mvAtLeast(req, '2.36') ? QUOTA_RESOURCES.filter((r) => !NETWORK_QUOTAS_2_36.includes(r)) : [...QUOTA_RESOURCES];
}

function quotaSet(req: FastifyRequest, values: Record<string, unknown>, id?: string): Record<string, unknown> {
  const out: Record<string, unknown> = id === undefined ? {} : { id };
  for (const r of shownResources(req)) if (r in values) out[r] = values[r];
  return out;
}

/** What a project (or one of its users) uses of each resource; the rest Orrery does not count. */
async function usageOf(db: Db, projectId: string, userId: string | undefined): Promise<Record<string, number>> {
  const instances = await getInstanceUsage(db, projectId, userId);
  const usage: Record<string, number> = Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, 0]));
  Object.assign(usage, instances);
  // Key pairs belong to users: Nova counts them only for a user's quota.
  if (userId !== undefined) usage.key_pairs = await countKeyPairs(db, userId);
  return usage;
}

const QuotaValue = intOrString({ minimum: -1, maximum: MAX_INT, pattern: '^-?[0-9]+$' });
const UpdateBody = Type.Object({
  quota_set: Type.Object({
    ...Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, Type.Optional(QuotaValue)])),
    force: Type.Optional(BooleanSchema),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
type UpdateBody = { quota_set: Record<string, number | string | boolean | undefined> };

type ProjectParams = { id: string };

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db' | 'config'>): void {
  const { db, config } = deps;

  /** Per-user quotas are not kept: a user's limits are its project's; writing them is refused. */
  const refuseUserQuotas = (req: FastifyRequest): void => {
    if (queryParam(req, 'user_id') !== undefined) throw new BadRequest('Per-user quotas are not supported; set the project quota instead.');
  };

  routeBoth<{ Params: ProjectParams }>(app, 'GET', '/os-quota-sets/:id', { policy: 'os_compute_api:os-quota-sets:show' }, async (req) => {
    requireAdminOrSelf(req, { projectId: req.params.id });
    return { quota_set: quotaSet(req, await getProjectLimits(db, config, req.params.id), req.params.id) };
  });

  routeBoth<{ Params: ProjectParams }>(app, 'GET', '/os-quota-sets/:id/defaults', { policy: 'os_compute_api:os-quota-sets:defaults' }, async (req) => {
    return { quota_set: quotaSet(req, defaultLimits(config), req.params.id) };
  });

  routeBoth<{ Params: ProjectParams }>(app, 'GET', '/os-quota-sets/:id/detail', { policy: 'os_compute_api:os-quota-sets:detail' }, async (req) => {
    const projectId = req.params.id;
    const userId = queryParam(req, 'user_id');
    requireAdminOrSelf(req, { projectId, ...(userId !== undefined ? { userId } : {}) });
    const [limits, usage] = await Promise.all([getProjectLimits(db, config, projectId), usageOf(db, projectId, userId)]);
    const detail = Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, { in_use: usage[r] ?? 0, limit: limits[r], reserved: 0 }]));
    return { quota_set: quotaSet(req, detail, projectId) };
  });

  routeBoth<{ Params: ProjectParams; Body: UpdateBody }>(
    app, 'PUT', '/os-quota-sets/:id', { policy: 'os_compute_api:os-quota-sets:update', schema: { body: UpdateBody } }, async (req) => {
      refuseUserQuotas(req);
      const projectId = req.params.id;
      const body = req.body.quota_set;
      const allowed = shownResources(req);
      const force = body.force !== undefined && toBool(body.force as boolean | string);
      const usage = force ? undefined : await usageOf(db, projectId, undefined);
      const updates: Record<string, number> = {};
      for (const [resource, raw] of Object.entries(body)) {
        if (resource === 'force' || raw === undefined) continue;
        if (!allowed.includes(resource)) throw unexpectedProperty('quota_set', resource);
        const limit = intValue(resource, raw as number | string, -1, MAX_INT);
        // Unless forced, a limit may not drop below what is already in use.
        const inUse = usage?.[resource] ?? 0;
        if (usage && limit !== UNLIMITED && limit < inUse) {
          throw new BadRequest(`Quota limit ${limit} for ${resource} must be greater than or equal to already used and reserved ${inUse}.`);
        }
        updates[resource] = limit;
      }
      await setProjectLimits(db, projectId, updates);
      return { quota_set: quotaSet(req, await getProjectLimits(db, config, projectId)) };
    },
  );

  routeBoth<{ Params: ProjectParams }>(app, 'DELETE', '/os-quota-sets/:id', { policy: 'os_compute_api:os-quota-sets:delete', status: 202 }, async (req) => {
    refuseUserQuotas(req);
    await deleteProjectLimits(db, req.params.id);
    return undefined;
  });
}
