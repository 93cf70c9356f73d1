import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NotFound } from '../common/errors.js';
import type { CatalogEndpoint, CatalogProvider, CatalogService } from './catalog.js';
import { collection, v3Url } from './views.js';

const IdParams = Type.Object({ id: Type.String() });
const ServiceQuery = Type.Object({ type: Type.Optional(Type.String()), name: Type.Optional(Type.String()) }, { additionalProperties: true });
const EndpointQuery = Type.Object({
  interface: Type.Optional(Type.String()), service_id: Type.Optional(Type.String()), region_id: Type.Optional(Type.String()),
}, { additionalProperties: true });

function serviceView(req: FastifyRequest, s: CatalogService): Record<string, unknown> {
  return { id: s.id, type: s.type, name: s.name, enabled: true, description: `${s.name} (${s.type})`, links: { self: v3Url(req, `/services/${s.id}`) } };
}

function endpointView(req: FastifyRequest, s: CatalogService, e: CatalogEndpoint): Record<string, unknown> {
  return { ...e, service_id: s.id, enabled: true, links: { self: v3Url(req, `/endpoints/${e.id}`) } };
}

/**
 * Services, endpoints and regions, read-only: the catalog comes from the deployment's
 * configuration (the caller's catalog provider), not from the database.
 */
export function registerCatalogRoutes(app: FastifyInstance, catalog: CatalogProvider): void {
  const endpoints = () => catalog().flatMap((s) => s.endpoints.map((e) => ({ s, e })));

  app.get<{ Querystring: Static<typeof ServiceQuery> }>('/v3/services', { config: { policy: 'identity:list_services' }, schema: { querystring: ServiceQuery } }, async (req) => {
    const rows = catalog().filter((s) => (req.query.type === undefined || s.type === req.query.type) && (req.query.name === undefined || s.name === req.query.name));
    return collection(req, 'services', rows.map((s) => serviceView(req, s)));
  });
  app.get<{ Params: Static<typeof IdParams> }>('/v3/services/:id', { config: { policy: 'identity:get_service' }, schema: { params: IdParams } }, async (req) => {
    const s = catalog().find((x) => x.id === req.params.id);
    if (!s) throw new NotFound(`Could not find service: ${req.params.id}.`);
    return { service: serviceView(req, s) };
  });

  app.get<{ Querystring: Static<typeof EndpointQuery> }>('/v3/endpoints', { config: { policy: 'identity:list_endpoints' }, schema: { querystring: EndpointQuery } }, async (req) => {
    const q = req.query;
    const rows = endpoints().filter(({ s, e }) =>
      (q.interface === undefined || e.interface === q.interface) && (q.service_id === undefined || s.id === q.service_id)
      && (q.region_id === undefined || e.region_id === q.region_id));
    return collection(req, 'endpoints', rows.map(({ s, e }) => endpointView(req, s, e)));
  });
  app.get<{ Params: Static<typeof IdParams> }>('/v3/endpoints/:id', { config: { policy: 'identity:get_endpoint' }, schema: { params: IdParams } }, async (req) => {
    const hit = endpoints().find(({ e }) => e.id === req.params.id);
    if (!hit) throw new NotFound(`Could not find endpoint: ${req.params.id}.`);
    return { endpoint: endpointView(req, hit.s, hit.e) };
  });

  const regions = () => [...new Set(endpoints().map(({ e }) => e.region_id))];
  const regionView = (req: FastifyRequest, id: string) => ({ id, description: '', parent_region_id: null, links: { self: v3Url(req, `/regions/${id}`) } });
  app.get('/v3/regions', { config: { policy: 'identity:list_regions' } }, async (req) => collection(req, 'regions', regions().map((id) => regionView(req, id))));
  app.get<{ Params: Static<typeof IdParams> }>('/v3/regions/:id', { config: { policy: 'identity:get_region' }, schema: { params: IdParams } }, async (req) => {
    if (!regions().includes(req.params.id)) throw new NotFound(`Could not find region: ${req.params.id}.`);
    return { region: regionView(req, req.params.id) };
  });
}
