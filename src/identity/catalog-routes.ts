import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { policyRule as rule, type PolicyDefault } from '../auth/policy-defaults.js';
import { BadRequest, Conflict, Forbidden, NotFound, OrreryError } from '../common/errors.js';
import { newHexId } from '../common/ids.js';
import type { Db } from '../db/connection.js';
import {
  countRows, deleteEndpoint, deleteRegions, deleteService, endpointsInRegions, getEndpoint, getRegion, getService, insertEndpoint,
  insertRegion, insertService, listEndpoints, listRegions, listServices, MAX_CATALOG_ROWS, regionSubtree, updateEndpoint, updateRegion,
  updateService, type CatalogEndpointRow, type CatalogServiceRow, type RegionRow,
} from '../db/catalog.js';
import { atomically } from '../db/transactions.js';
import type { CatalogProvider } from './catalog.js';
import { collection, v3Url } from './views.js';

/**
 * Regions, services and endpoints (Keystone's catalog API), stored as rows. Reading rules are in
 * policies.ts (they came first); the writing ones are Keystone's, admin only. Every change refreshes
 * the catalog tokens are built from before it answers.
 */
const ADMIN = 'rule:admin_required';
export const CATALOG_POLICY_DEFAULTS: readonly PolicyDefault[] = [
  rule('identity:create_region', ADMIN, 'Create a region.'),
  rule('identity:update_region', ADMIN, 'Update a region.'),
  rule('identity:delete_region', ADMIN, 'Delete a region (and the regions below it).'),
  rule('identity:create_service', ADMIN, 'Create a service.'),
  rule('identity:update_service', ADMIN, 'Update a service.'),
  rule('identity:delete_service', ADMIN, 'Delete a service and its endpoints.'),
  rule('identity:create_endpoint', ADMIN, 'Create an endpoint.'),
  rule('identity:update_endpoint', ADMIN, 'Update an endpoint.'),
  rule('identity:delete_endpoint', ADMIN, 'Delete an endpoint.'),
];

const ID = Type.String({ minLength: 1, maxLength: 255 });
const Description = Type.Union([Type.String({ maxLength: 255 }), Type.Null()]);
/** Keystone keeps unknown attributes ("extra"); a bound on them keeps a row small. */
const Extra = { additionalProperties: true, maxProperties: 64 } as const;
const INTERFACES = ['public', 'internal', 'admin'] as const;
const Interface = Type.Unsafe<string>({ type: 'string', enum: [...INTERFACES] });
// Keystone's url schema: a scheme, then anything; 225 characters at most.
const Url = Type.String({ minLength: 1, maxLength: 225, pattern: '^[a-zA-Z0-9+.-]+:.+' });

const RegionFields = { description: Type.Optional(Description), parent_region_id: Type.Optional(Type.Union([ID, Type.Null()])) };
const RegionCreate = Type.Object({ region: Type.Object({ id: Type.Optional(ID), ...RegionFields }, Extra) });
const RegionUpdate = Type.Object({ region: Type.Object({ id: Type.Optional(ID), ...RegionFields }, { ...Extra, minProperties: 1 }) });
const ServiceFields = {
  type: Type.String({ minLength: 1, maxLength: 255 }), name: Type.Optional(Type.String({ maxLength: 255 })),
  enabled: Type.Optional(Type.Boolean()), description: Type.Optional(Description),
};
const ServiceCreate = Type.Object({ service: Type.Object(ServiceFields, Extra) });
const ServiceUpdate = Type.Object({ service: Type.Object({ ...ServiceFields, type: Type.Optional(ServiceFields.type), id: Type.Optional(ID) }, { ...Extra, minProperties: 1 }) });
const EndpointFields = {
  interface: Interface, service_id: ID, url: Url, region_id: Type.Optional(Type.Union([ID, Type.Null()])),
  region: Type.Optional(Type.Union([ID, Type.Null()])), enabled: Type.Optional(Type.Boolean()),
};
const EndpointCreate = Type.Object({ endpoint: Type.Object({ ...EndpointFields, id: Type.Optional(ID) }, Extra) });
const EndpointUpdate = Type.Object({
  endpoint: Type.Object({
    id: Type.Optional(ID), interface: Type.Optional(Interface), service_id: Type.Optional(ID), url: Type.Optional(Url),
    region_id: EndpointFields.region_id, region: EndpointFields.region, enabled: EndpointFields.enabled,
  }, { ...Extra, minProperties: 1 }),
});

const RegionParams = Type.Object({ regionId: ID });
const ServiceParams = Type.Object({ serviceId: ID });
const EndpointParams = Type.Object({ endpointId: ID });
const RegionQuery = Type.Object({ parent_region_id: Type.Optional(Type.String()) }, { additionalProperties: true });
const ServiceQuery = Type.Object({ type: Type.Optional(Type.String()), name: Type.Optional(Type.String()) }, { additionalProperties: true });
const EndpointQuery = Type.Object({
  interface: Type.Optional(Type.String()), service_id: Type.Optional(Type.String()), region_id: Type.Optional(Type.String()),
}, { additionalProperties: true });

type Body = Record<string, unknown>;

/** The attributes of a body beyond the named ones, as the JSON Keystone keeps in `extra`. */
function extraOf(body: Body, named: readonly string[], previous = '{}'): string {
  const kept = Object.entries(JSON.parse(previous) as Body);
  const given = Object.entries(body).filter(([k]) => !named.includes(k));
  const merged = new Map<string, unknown>([...kept, ...given]);
  const text = JSON.stringify(Object.fromEntries(merged));
  if (merged.size > 64 || text.length > 65_535) throw new BadRequest('Too many or too large extra attributes.');
  return text;
}
const extraView = (row: { extra: string }): Body => JSON.parse(row.extra) as Body;

const REGION_NAMED = ['id', 'description', 'parent_region_id'];
const SERVICE_NAMED = ['id', 'type', 'name', 'enabled'];
const ENDPOINT_NAMED = ['id', 'interface', 'service_id', 'url', 'region_id', 'region', 'enabled'];

function regionView(req: FastifyRequest, r: RegionRow): Body {
  return { ...extraView(r), id: r.id, description: r.description, parent_region_id: r.parent_region_id, links: { self: v3Url(req, `/regions/${encodeURIComponent(r.id)}`) } };
}
function serviceView(req: FastifyRequest, s: CatalogServiceRow): Body {
  return { ...extraView(s), id: s.id, type: s.type, name: s.name, enabled: s.enabled === 1, links: { self: v3Url(req, `/services/${s.id}`) } };
}
function endpointView(req: FastifyRequest, e: CatalogEndpointRow): Body {
  return {
    ...extraView(e), id: e.id, interface: e.interface, region_id: e.region_id, region: e.region_id, service_id: e.service_id, url: e.url,
    enabled: e.enabled === 1, links: { self: v3Url(req, `/endpoints/${e.id}`) },
  };
}

const regionNotFound = (id: string) => new NotFound(`Could not find region: ${id}.`);
const serviceNotFound = (id: string) => new NotFound(`Could not find service: ${id}.`);
const endpointNotFound = (id: string) => new NotFound(`Could not find endpoint: ${id}.`);
/** Keystone's ValidationError for a reference to a row that is not there. */
const missingReference = (attribute: string, table: string) => new BadRequest(
  `Expecting to find ${attribute} in ${table}. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.`);

async function checkRoom(db: Db, table: 'regions' | 'catalog_services' | 'catalog_endpoints'): Promise<void> {
  if (await countRows(db, table) >= MAX_CATALOG_ROWS) throw new OrreryError(413, 'overLimit', `The catalog holds at most ${MAX_CATALOG_ROWS} rows of each kind.`);
}

/** Orrery builds tokens without per-token URL substitution: a `$(project_id)s` URL would reach clients as it is. */
function checkUrl(url: string): void {
  if (url.includes('$(')) throw new BadRequest(`Endpoint URL substitutions ($(...)s) are not supported: ${url}`);
}

/** A parent that exists and is not the region itself or below it (Keystone's CircularRegionHierarchyError). */
async function checkParent(db: Db, regionId: string, parent: string | null | undefined): Promise<void> {
  if (parent === undefined || parent === null) return;
  if (!(await getRegion(db, parent))) throw regionNotFound(parent);
  if ((await regionSubtree(db, regionId)).includes(parent)) {
    throw new BadRequest(`The specified parent region ${parent} would create a circular region hierarchy.`);
  }
}

export function registerCatalogRoutes(app: FastifyInstance, db: Db, catalog: CatalogProvider): void {
  const changed = async (): Promise<void> => { await catalog.refresh?.(); };

  // ---- regions

  app.get<{ Querystring: Static<typeof RegionQuery> }>('/v3/regions', { config: { policy: 'identity:list_regions' }, schema: { querystring: RegionQuery } }, async (req) =>
    collection(req, 'regions', (await listRegions(db, req.query.parent_region_id)).map((r) => regionView(req, r))));

  app.get<{ Params: Static<typeof RegionParams> }>('/v3/regions/:regionId', { config: { policy: 'identity:get_region' }, schema: { params: RegionParams } }, async (req) => {
    const r = await getRegion(db, req.params.regionId);
    if (!r) throw regionNotFound(req.params.regionId);
    return { region: regionView(req, r) };
  });

  const createRegion = async (req: FastifyRequest, id: string, body: Body): Promise<Body> => {
    const row = await atomically(db, async (tx) => {
      await checkRoom(tx, 'regions');
      if (await getRegion(tx, id)) throw new Conflict(`Conflict occurred attempting to store region - Duplicate ID, ${id}.`);
      const parent = body.parent_region_id as string | null | undefined;
      await checkParent(tx, id, parent);
      const r: RegionRow = { id, description: (body.description as string | null | undefined) ?? '', parent_region_id: parent ?? null, extra: extraOf(body, REGION_NAMED) };
      await insertRegion(tx, r);
      return r;
    });
    await changed();
    return { region: regionView(req, row) };
  };

  app.post<{ Body: Static<typeof RegionCreate> }>('/v3/regions', { config: { policy: 'identity:create_region' }, schema: { body: RegionCreate } }, async (req, reply) => {
    const body = req.body.region as Body;
    reply.code(201);
    return createRegion(req, (body.id as string | undefined) ?? newHexId(), body);
  });

  app.put<{ Params: Static<typeof RegionParams>; Body: Static<typeof RegionCreate> }>('/v3/regions/:regionId', {
    config: { policy: 'identity:create_region' }, schema: { params: RegionParams, body: RegionCreate },
  }, async (req, reply) => {
    const body = req.body.region as Body;
    if (body.id !== undefined && body.id !== req.params.regionId) throw new BadRequest('The region id in the URL and in the body differ.');
    reply.code(201);
    return createRegion(req, req.params.regionId, body);
  });

  app.patch<{ Params: Static<typeof RegionParams>; Body: Static<typeof RegionUpdate> }>('/v3/regions/:regionId', {
    config: { policy: 'identity:update_region' }, schema: { params: RegionParams, body: RegionUpdate },
  }, async (req) => {
    const id = req.params.regionId;
    const body = req.body.region as Body;
    if (body.id !== undefined && body.id !== id) throw new BadRequest('The region id in the URL and in the body differ.');
    const row = await atomically(db, async (tx) => {
      const r = await getRegion(tx, id);
      if (!r) throw regionNotFound(id);
      await checkParent(tx, id, body.parent_region_id as string | null | undefined);
      const changes: Partial<RegionRow> = { extra: extraOf(body, REGION_NAMED, r.extra) };
      if (body.description !== undefined) changes.description = (body.description as string | null) ?? '';
      if (body.parent_region_id !== undefined) changes.parent_region_id = body.parent_region_id as string | null;
      await updateRegion(tx, id, changes);
      return { ...r, ...changes };
    });
    await changed();
    return { region: regionView(req, row) };
  });

  app.delete<{ Params: Static<typeof RegionParams> }>('/v3/regions/:regionId', { config: { policy: 'identity:delete_region' }, schema: { params: RegionParams } }, async (req, reply) => {
    const id = req.params.regionId;
    await atomically(db, async (tx) => {
      if (!(await getRegion(tx, id))) throw regionNotFound(id);
      const subtree = await regionSubtree(tx, id);
      if (await endpointsInRegions(tx, subtree) > 0) {
        throw new Forbidden(`Unable to delete region ${id} because it or its child regions have associated endpoints.`);
      }
      await deleteRegions(tx, subtree);
    });
    await changed();
    reply.code(204).send();
  });

  // ---- services

  app.get<{ Querystring: Static<typeof ServiceQuery> }>('/v3/services', { config: { policy: 'identity:list_services' }, schema: { querystring: ServiceQuery } }, async (req) =>
    collection(req, 'services', (await listServices(db, { type: req.query.type, name: req.query.name })).map((s) => serviceView(req, s))));

  app.get<{ Params: Static<typeof ServiceParams> }>('/v3/services/:serviceId', { config: { policy: 'identity:get_service' }, schema: { params: ServiceParams } }, async (req) => {
    const s = await getService(db, req.params.serviceId);
    if (!s) throw serviceNotFound(req.params.serviceId);
    return { service: serviceView(req, s) };
  });

  app.post<{ Body: Static<typeof ServiceCreate> }>('/v3/services', { config: { policy: 'identity:create_service' }, schema: { body: ServiceCreate } }, async (req, reply) => {
    const body = req.body.service as Body & Static<typeof ServiceCreate>['service'];
    const row: CatalogServiceRow = { id: newHexId(), type: body.type, name: body.name ?? '', enabled: body.enabled === false ? 0 : 1, extra: extraOf(body, SERVICE_NAMED) };
    await atomically(db, async (tx) => {
      await checkRoom(tx, 'catalog_services');
      await insertService(tx, row);
    });
    await changed();
    reply.code(201);
    return { service: serviceView(req, row) };
  });

  app.patch<{ Params: Static<typeof ServiceParams>; Body: Static<typeof ServiceUpdate> }>('/v3/services/:serviceId', {
    config: { policy: 'identity:update_service' }, schema: { params: ServiceParams, body: ServiceUpdate },
  }, async (req) => {
    const id = req.params.serviceId;
    const body = req.body.service as Body & Static<typeof ServiceUpdate>['service'];
    if (body.id !== undefined && body.id !== id) throw new BadRequest('The service id in the URL and in the body differ.');
    const row = await atomically(db, async (tx) => {
      const s = await getService(tx, id);
      if (!s) throw serviceNotFound(id);
      const changes: Partial<CatalogServiceRow> = { extra: extraOf(body, SERVICE_NAMED, s.extra) };
      if (body.type !== undefined) changes.type = body.type;
      if (body.name !== undefined) changes.name = body.name;
      if (body.enabled !== undefined) changes.enabled = body.enabled ? 1 : 0;
      await updateService(tx, id, changes);
      return { ...s, ...changes };
    });
    await changed();
    return { service: serviceView(req, row) };
  });

  app.delete<{ Params: Static<typeof ServiceParams> }>('/v3/services/:serviceId', { config: { policy: 'identity:delete_service' }, schema: { params: ServiceParams } }, async (req, reply) => {
    await atomically(db, async (tx) => {
      if (!(await getService(tx, req.params.serviceId))) throw serviceNotFound(req.params.serviceId);
      await deleteService(tx, req.params.serviceId);
    });
    await changed();
    reply.code(204).send();
  });

  // ---- endpoints

  app.get<{ Querystring: Static<typeof EndpointQuery> }>('/v3/endpoints', { config: { policy: 'identity:list_endpoints' }, schema: { querystring: EndpointQuery } }, async (req) => {
    const q = req.query;
    const rows = await listEndpoints(db, { interface: q.interface, service_id: q.service_id, region_id: q.region_id });
    return collection(req, 'endpoints', rows.map((e) => endpointView(req, e)));
  });

  app.get<{ Params: Static<typeof EndpointParams> }>('/v3/endpoints/:endpointId', { config: { policy: 'identity:get_endpoint' }, schema: { params: EndpointParams } }, async (req) => {
    const e = await getEndpoint(db, req.params.endpointId);
    if (!e) throw endpointNotFound(req.params.endpointId);
    return { endpoint: endpointView(req, e) };
  });

  /**
   * The region an endpoint names: `region_id` must exist; the legacy `region` alone is created when
   * missing, as Keystone does for v2-style clients.
   */
  const regionOf = async (tx: Db, body: Body): Promise<string | null | undefined> => {
    if (body.region_id !== undefined && body.region_id !== null) {
      if (!(await getRegion(tx, body.region_id as string))) throw missingReference('endpoint region_id', 'region table');
      return body.region_id as string;
    }
    if (typeof body.region === 'string') {
      if (!(await getRegion(tx, body.region))) {
        await checkRoom(tx, 'regions');
        await insertRegion(tx, { id: body.region, description: '', parent_region_id: null, extra: '{}' });
      }
      return body.region;
    }
    return body.region_id === null || body.region === null ? null : undefined;
  };

  app.post<{ Body: Static<typeof EndpointCreate> }>('/v3/endpoints', { config: { policy: 'identity:create_endpoint' }, schema: { body: EndpointCreate } }, async (req, reply) => {
    const body = req.body.endpoint as Body & Static<typeof EndpointCreate>['endpoint'];
    checkUrl(body.url);
    const row = await atomically(db, async (tx) => {
      await checkRoom(tx, 'catalog_endpoints');
      if (!(await getService(tx, body.service_id))) throw missingReference('endpoint service_id', 'service table');
      const id = body.id ?? newHexId();
      if (await getEndpoint(tx, id)) throw new Conflict(`Conflict occurred attempting to store endpoint - Duplicate ID, ${id}.`);
      const e: CatalogEndpointRow = {
        id, service_id: body.service_id, interface: body.interface, region_id: (await regionOf(tx, body)) ?? null, url: body.url,
        enabled: body.enabled === false ? 0 : 1, extra: extraOf(body, ENDPOINT_NAMED),
      };
      await insertEndpoint(tx, e);
      return e;
    });
    await changed();
    reply.code(201);
    return { endpoint: endpointView(req, row) };
  });

  app.patch<{ Params: Static<typeof EndpointParams>; Body: Static<typeof EndpointUpdate> }>('/v3/endpoints/:endpointId', {
    config: { policy: 'identity:update_endpoint' }, schema: { params: EndpointParams, body: EndpointUpdate },
  }, async (req) => {
    const id = req.params.endpointId;
    const body = req.body.endpoint as Body & Static<typeof EndpointUpdate>['endpoint'];
    if (body.id !== undefined && body.id !== id) throw new BadRequest('The endpoint id in the URL and in the body differ.');
    if (body.url !== undefined) checkUrl(body.url);
    const row = await atomically(db, async (tx) => {
      const e = await getEndpoint(tx, id);
      if (!e) throw endpointNotFound(id);
      if (body.service_id !== undefined && !(await getService(tx, body.service_id))) throw missingReference('endpoint service_id', 'service table');
      const changes: Partial<CatalogEndpointRow> = { extra: extraOf(body, ENDPOINT_NAMED, e.extra) };
      const region = await regionOf(tx, body);
      if (region !== undefined) changes.region_id = region;
      if (body.interface !== undefined) changes.interface = body.interface;
      if (body.service_id !== undefined) changes.service_id = body.service_id;
      if (body.url !== undefined) changes.url = body.url;
      if (body.enabled !== undefined) changes.enabled = body.enabled ? 1 : 0;
      await updateEndpoint(tx, id, changes);
      return { ...e, ...changes };
    });
    await changed();
    return { endpoint: endpointView(req, row) };
  });

  app.delete<{ Params: Static<typeof EndpointParams> }>('/v3/endpoints/:endpointId', { config: { policy: 'identity:delete_endpoint' }, schema: { params: EndpointParams } }, async (req, reply) => {
    if (!(await deleteEndpoint(db, req.params.endpointId))) throw endpointNotFound(req.params.endpointId);
    await changed();
    reply.code(204).send();
  });
}
