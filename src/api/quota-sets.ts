import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BadRequest } from '../common/errors.js';
import type { Config } from '../common/config.js';
import type { Db } from '../db/connection.js';
import { countKeyPairs } from '../db/keypairs.js';
import { countServerGroups } from '../db/server-groups.js';
import {
  QUOTA_RESOURCES, UNLIMITED, deleteProjectLimits, deleteUserLimits, getClassLimits, getInstanceUsage, getProjectLimits,
  getUserLimits, setProjectLimits, setUserLimits,
} from '../db/quotas.js';
import { FILE_QUOTAS_2_57, NETWORK_QUOTAS_2_36 } from './limits.js';
import {
  BooleanSchema, MAX_INT, intOrString, intValue, mvAtLeast, queryParam, requireAdminOrSelf, routeBoth, strictQuery, toBool,
} from './resource-kit.js';
import type { ComputeApiDeps } from './deps.js';
import { unexpectedProperty } from './server-common.js';

/**
 * The os-quota-sets API: a project's limits and those of a user within it (`?user_id=`; members
 * read their own project's, admins any and change them), its defaults, and its usage.
 */

/** Resources shown at the request's microversion: network quotas go at 2.36, file quotas at 2.57. */
function shownResources(req: FastifyRequest): string[] {
  const hidden = [...(mvAtLeast(req, '2.36') ? NETWORK_QUOTAS_2_36 : []), ...(mvAtLeast(req, '2.57') ? FILE_QUOTAS_2_57 : [])];
  return QUOTA_RESOURCES.filter((r) => !hidden.includes(r));
}

function quotaSet(req: FastifyRequest, values: Record<string, unknown>, id?: string): Record<string, unknown> {
  const out: Record<string, unknown> = id === undefined ? {} : { id };
  for (const r of shownResources(req)) if (Object.hasOwn(values, r)) out[r] = values[r];
  return out;
}

/** The query parameter every os-quota-sets route takes (unknown ones are refused from 2.75). */
function userOf(req: FastifyRequest): string | undefined {
  strictQuery(req, ['user_id']);
  const userId = queryParam(req, 'user_id');
  if (userId !== undefined && (userId.length === 0 || userId.length > 255)) throw new BadRequest(`Invalid user_id ${JSON.stringify(userId)}.`);
  return userId;
}

const limitsOf = (db: Db, config: Config, projectId: string, userId: string | undefined): Promise<Record<string, number>> =>
  userId === undefined ? getProjectLimits(db, config, projectId) : getUserLimits(db, config, projectId, userId);

/** What a project (or one of its users) uses of each resource; the rest Orrery does not count. */
async function usageOf(db: Db, projectId: string, userId: string | undefined): Promise<Record<string, number>> {
  const instances = await getInstanceUsage(db, projectId, userId);
  const usage: Record<string, number> = Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, 0]));
  Object.assign(usage, instances);
  usage.server_groups = await countServerGroups(db, projectId);
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

  routeBoth<{ Params: ProjectParams }>(app, 'GET', '/os-quota-sets/:id', { policy: 'os_compute_api:os-quota-sets:show' }, async (req) => {
    const userId = userOf(req);
    requireAdminOrSelf(req, { projectId: req.params.id, ...(userId !== undefined ? { userId } : {}) });
    return { quota_set: quotaSet(req, await limitsOf(db, config, req.params.id, userId), req.params.id) };
  });

  routeBoth<{ Params: ProjectParams }>(app, 'GET', '/os-quota-sets/:id/defaults', { policy: 'os_compute_api:os-quota-sets:defaults' }, async (req) => {
    return { quota_set: quotaSet(req, await getClassLimits(db, config), req.params.id) };
  });

  routeBoth<{ Params: ProjectParams }>(app, 'GET', '/os-quota-sets/:id/detail', { policy: 'os_compute_api:os-quota-sets:detail' }, async (req) => {
    const projectId = req.params.id;
    const userId = userOf(req);
    requireAdminOrSelf(req, { projectId, ...(userId !== undefined ? { userId } : {}) });
    const [limits, usage] = await Promise.all([limitsOf(db, config, projectId, userId), usageOf(db, projectId, userId)]);
    const detail = Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, { in_use: usage[r] ?? 0, limit: limits[r], reserved: 0 }]));
    return { quota_set: quotaSet(req, detail, projectId) };
  });

  routeBoth<{ Params: ProjectParams; Body: UpdateBody }>(
    app, 'PUT', '/os-quota-sets/:id', { policy: 'os_compute_api:os-quota-sets:update', schema: { body: UpdateBody } }, async (req) => {
      const projectId = req.params.id;
      const userId = userOf(req);
      const body = req.body.quota_set;
      const allowed = shownResources(req);
      const force = body.force !== undefined && toBool(body.force as boolean | string);
      const usage = force ? undefined : await usageOf(db, projectId, userId);
      // A user's limit may not exceed its project's (Nova's settable maximum).
      const projectLimits = userId === undefined ? undefined : await getProjectLimits(db, config, projectId);
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
        const maximum = projectLimits?.[resource];
        if (maximum !== undefined && maximum !== UNLIMITED && (limit === UNLIMITED || limit > maximum)) {
          throw new BadRequest(`Quota limit ${limit} for ${resource} must be less than or equal to ${maximum}.`);
        }
        updates[resource] = limit;
      }
      if (userId === undefined) await setProjectLimits(db, projectId, updates);
      else await setUserLimits(db, projectId, userId, updates);
      return { quota_set: quotaSet(req, await limitsOf(db, config, projectId, userId)) };
    },
  );

  routeBoth<{ Params: ProjectParams }>(app, 'DELETE', '/os-quota-sets/:id', { policy: 'os_compute_api:os-quota-sets:delete', status: 202 }, async (req) => {
    const userId = userOf(req);
    if (userId === undefined) await deleteProjectLimits(db, req.params.id);
    else await deleteUserLimits(db, req.params.id, userId);
    return undefined;
  });
}
