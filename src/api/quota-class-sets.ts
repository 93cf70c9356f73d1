import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BadRequest } from '../common/errors.js';
import { QUOTA_RESOURCES, getClassLimits, setClassLimits } from '../db/quotas.js';
import { FILE_QUOTAS_2_57, NETWORK_QUOTAS_2_36 } from './limits.js';
import { MAX_INT, intOrString, intValue, mvAtLeast, routeBoth } from './resource-kit.js';
import type { ComputeApiDeps } from './deps.js';
import { unexpectedProperty } from './server-common.js';

/**
 * The os-quota-class-sets API (Nova's quota_classes): the limits of a quota class. Nova uses
 * only the class `default`, whose limits are every project's defaults; other names are kept
 * and shown as Nova keeps them, and used by nothing.
 */

/** `networks` is a quota class resource Nova still lists before 2.50 (nova-network's). */
const NETWORKS_BEFORE_2_50 = 'networks';
const GROUP_QUOTAS = ['server_groups', 'server_group_members'];

/**
 * Resources a quota class shows at the request's microversion: before 2.50 the network quotas
 * (and `networks`) and no server-group quotas; from 2.50 the reverse; file quotas go at 2.57.
 */
function classResources(req: FastifyRequest): string[] {
  if (!mvAtLeast(req, '2.50')) return [...QUOTA_RESOURCES.filter((r) => !GROUP_QUOTAS.includes(r)), NETWORKS_BEFORE_2_50];
  const hidden = [...NETWORK_QUOTAS_2_36, ...(mvAtLeast(req, '2.57') ? FILE_QUOTAS_2_57 : [])];
  return QUOTA_RESOURCES.filter((r) => !hidden.includes(r));
}

function classView(req: FastifyRequest, id: string, limits: Record<string, number>): Record<string, unknown> {
  const out: Record<string, unknown> = { id };
  // `networks` has no quota here: Nova reports -1 (unlimited) for it.
  for (const r of classResources(req)) out[r] = Object.hasOwn(limits, r) ? limits[r] : -1;
  return out;
}


const QuotaValue = intOrString({ minimum: -1, maximum: MAX_INT, pattern: '^-?[0-9]+$' });
const UpdateBody = Type.Object({
  quota_class_set: Type.Object(
    Object.fromEntries([...QUOTA_RESOURCES, NETWORKS_BEFORE_2_50].map((r) => [r, Type.Optional(QuotaValue)])),
    { additionalProperties: false },
  ),
}, { additionalProperties: false });
type UpdateBody = { quota_class_set: Record<string, number | string | undefined> };

type ClassParams = { id: string };

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db' | 'config'>): void {
  const { db, config } = deps;

  /** Nova keeps any class name its column holds (255 characters). */
  const className = (raw: string): string => {
    if (raw.length > 255) throw new BadRequest(`Quota class name ${raw.slice(0, 32)}… is longer than 255 characters.`);
    return raw;
  };

  routeBoth<{ Params: ClassParams }>(app, 'GET', '/os-quota-class-sets/:id', { policy: 'os_compute_api:os-quota-class-sets:show' }, async (req) => {
    const id = className(req.params.id);
    return { quota_class_set: classView(req, id, await getClassLimits(db, config, id)) };
  });

  routeBoth<{ Params: ClassParams; Body: UpdateBody }>(
    app, 'PUT', '/os-quota-class-sets/:id', { policy: 'os_compute_api:os-quota-class-sets:update', schema: { body: UpdateBody } },
    async (req) => {
      const id = className(req.params.id);
      const allowed = classResources(req);
      const updates: Record<string, number> = {};
      for (const [resource, raw] of Object.entries(req.body.quota_class_set)) {
        if (raw === undefined) continue;
        if (!allowed.includes(resource)) throw unexpectedProperty('quota_class_set', resource);
        // `networks` is accepted before 2.50 and kept nowhere: Orrery has no nova-network.
        if (resource === NETWORKS_BEFORE_2_50) continue;
        updates[resource] = intValue(resource, raw, -1, MAX_INT);
      }
      await setClassLimits(db, id, updates);
      // Nova's update answer has no id.
      const { id: _id, ...rest } = classView(req, id, await getClassLimits(db, config, id));
      return { quota_class_set: rest };
    },
  );
}
