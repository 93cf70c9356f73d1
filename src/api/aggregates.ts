import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { BadRequest, NotFound, NotImplemented } from '../common/errors.js';
import { isoMicros } from '../common/time.js';
import {
  AZ_KEY, addAggregateHost, createAggregate, deleteAggregate, getAggregate, listAggregates, removeAggregateHost,
  setAggregateMetadata, updateAggregate, type Aggregate,
} from '../db/aggregates.js';
import { HostSchema, NameSchema, mvAtLeast, routeBoth, signedIntegerId } from './resource-kit.js';
import { requireMicroversion } from './microversion.js';
import type { ComputeApiDeps } from './deps.js';
import { authorize } from '../httpkit/authorize.js';

/** The os-aggregates API (admin only): host aggregates, and availability zones as their metadata. */

function view(req: FastifyRequest, a: Aggregate): Record<string, unknown> {
  const out: Record<string, unknown> = {
    availability_zone: a.availabilityZone,
    created_at: isoMicros(a.createdAt),
    deleted: false,
    deleted_at: null,
    hosts: a.hosts,
    id: a.id,
    metadata: a.metadata,
    name: a.name,
    updated_at: isoMicros(a.updatedAt),
  };
  // 2.41: the aggregate's uuid.
  if (mvAtLeast(req, '2.41')) out.uuid = a.uuid;
  return out;
}

/** Nova's az_name: 1–255 characters, no ':' and no leading or trailing whitespace. */
const AzName = Type.String({ minLength: 1, maxLength: 255, pattern: '^[^:\\s]([^:]*[^:\\s])?$' });
const AzOrNull = Type.Union([AzName, Type.Null()]);

const CreateBody = Type.Object({
  aggregate: Type.Object({ name: NameSchema, availability_zone: Type.Optional(AzOrNull) }, { additionalProperties: false }),
}, { additionalProperties: false });
type CreateBody = Static<typeof CreateBody>;

const UpdateBody = Type.Object({
  aggregate: Type.Object(
    { name: Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: '\\S' })), availability_zone: Type.Optional(AzOrNull) },
    { additionalProperties: false, minProperties: 1 },
  ),
}, { additionalProperties: false });
type UpdateBody = Static<typeof UpdateBody>;

const MetadataWithNull = Type.Unsafe<Record<string, string | null>>({
  type: 'object',
  patternProperties: { '^[a-zA-Z0-9-_:. ]{1,255}$': Type.Union([Type.String({ maxLength: 255 }), Type.Null()]) },
  additionalProperties: false,
});
const HostBody = Type.Object({ host: HostSchema }, { additionalProperties: false });
const ActionBody = Type.Union([
  Type.Object({ add_host: HostBody }, { additionalProperties: false }),
  Type.Object({ remove_host: HostBody }, { additionalProperties: false }),
  Type.Object({ set_metadata: Type.Object({ metadata: MetadataWithNull }, { additionalProperties: false }) }, { additionalProperties: false }),
]);
type ActionBody = Static<typeof ActionBody>;

/** 2.81: images to pre-cache on the aggregate's hosts. */
const CacheImagesBody = Type.Object({
  cache: Type.Array(Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false }), { minItems: 1, maxItems: 1000 }),
}, { additionalProperties: false });
type CacheImagesBody = Static<typeof CacheImagesBody>;

type IdParams = { id: string };

/** Each aggregate action's rule (Nova's names). */
const AGGREGATE_ACTION_POLICIES = {
  add_host: 'os_compute_api:os-aggregates:add_host',
  remove_host: 'os_compute_api:os-aggregates:remove_host',
  set_metadata: 'os_compute_api:os-aggregates:set_metadata',
} as const;

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db' | 'config'>): void {
  const { db, config } = deps;
  const internalZone = config.str('DEFAULT', 'internal_service_availability_zone');

  /** The internal zone holds the control services; no aggregate may claim it. */
  const checkZone = (az: string | null | undefined): void => {
    if (az === internalZone) {
      throw new BadRequest(`Cannot use the internal service availability zone '${internalZone}' as an aggregate availability zone.`);
    }
  };
  const aggregateId = (raw: string): number => {
    const id = signedIntegerId(raw);
    if (id === null) throw new BadRequest(`Invalid input for field/attribute id. Value: ${raw}. id must be an integer`);
    return id;
  };

  routeBoth(app, 'GET', '/os-aggregates', { policy: 'os_compute_api:os-aggregates:index' }, async (req) => {
    return { aggregates: (await listAggregates(db)).map((a) => view(req, a)) };
  });

  routeBoth<{ Body: CreateBody }>(app, 'POST', '/os-aggregates', { policy: 'os_compute_api:os-aggregates:create', schema: { body: CreateBody } }, async (req) => {
    const { name, availability_zone: az } = req.body.aggregate;
    checkZone(az);
    const agg = await createAggregate(db, name, az ?? null);
    // Nova's create answers without hosts and metadata.
    const out = view(req, agg);
    delete out.hosts;
    delete out.metadata;
    return { aggregate: out };
  });

  routeBoth<{ Params: IdParams }>(app, 'GET', '/os-aggregates/:id', { policy: 'os_compute_api:os-aggregates:show' }, async (req) => {
    const id = aggregateId(req.params.id);
    const agg = await getAggregate(db, id);
    if (!agg) throw new NotFound(`Aggregate ${id} could not be found.`);
    return { aggregate: view(req, agg) };
  });

  routeBoth<{ Params: IdParams; Body: UpdateBody }>(app, 'PUT', '/os-aggregates/:id', { policy: 'os_compute_api:os-aggregates:update', schema: { body: UpdateBody } }, async (req) => {
    const id = aggregateId(req.params.id);
    const changes: { name?: string; availabilityZone?: string | null } = {};
    if (req.body.aggregate.name !== undefined) changes.name = req.body.aggregate.name.trim();
    if ('availability_zone' in req.body.aggregate) {
      checkZone(req.body.aggregate.availability_zone);
      changes.availabilityZone = req.body.aggregate.availability_zone ?? null;
    }
    return { aggregate: view(req, await updateAggregate(db, id, changes)) };
  });

  routeBoth<{ Params: IdParams }>(app, 'DELETE', '/os-aggregates/:id', { policy: 'os_compute_api:os-aggregates:delete' }, async (req) => {
    await deleteAggregate(db, aggregateId(req.params.id));
    return undefined;
  });

  routeBoth<{ Params: IdParams; Body: ActionBody }>(app, 'POST', '/os-aggregates/:id/action', {
    schema: { body: ActionBody }, actionPolicies: Object.values(AGGREGATE_ACTION_POLICIES),
  }, async (req) => {
    const body = req.body;
    authorize(req, AGGREGATE_ACTION_POLICIES['add_host' in body ? 'add_host' : 'remove_host' in body ? 'remove_host' : 'set_metadata']);
    const id = aggregateId(req.params.id);
    if ('add_host' in body) return { aggregate: view(req, await addAggregateHost(db, id, body.add_host.host)) };
    if ('remove_host' in body) return { aggregate: view(req, await removeAggregateHost(db, id, body.remove_host.host)) };
    checkZone(body.set_metadata.metadata[AZ_KEY]);
    return { aggregate: view(req, await setAggregateMetadata(db, id, body.set_metadata.metadata)) };
  });

  // 2.81: Nova casts the image list to the aggregate's computes. No Orrery driver caches images
  // ahead of a boot (they fetch at spawn), so after Nova's checks the answer is Nova's 501.
  routeBoth<{ Params: IdParams; Body: CacheImagesBody }>(
    app, 'POST', '/os-aggregates/:id/images', { policy: 'compute:aggregates:images', schema: { body: CacheImagesBody } }, async (req) => {
      requireMicroversion(req, '2.81');
      const id = aggregateId(req.params.id);
      const ids = req.body.cache.map((c) => c.id);
      if (new Set(ids).size !== ids.length) throw new BadRequest('Duplicate images in request');
      if (!(await getAggregate(db, id))) throw new NotFound(`Aggregate ${id} could not be found.`);
      throw new NotImplemented('Image pre-caching is not supported by the compute drivers of this cloud.');
    },
  );
}
