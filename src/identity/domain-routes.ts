import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Forbidden, NotFound, NotImplemented } from '../common/errors.js';
import { DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME } from '../db/identity.js';
import { queryBool } from './options.js';
import { collection, defaultDomainView } from './views.js';

const ListQuery = Type.Object({ name: Type.Optional(Type.String()), enabled: Type.Optional(Type.String()) }, { additionalProperties: true });
const IdParams = Type.Object({ domainId: Type.String() });

/**
 * Domains: only the Default domain exists (it is implied, not stored). Creating others is not
 * supported; the Default domain cannot be changed or deleted, as Keystone refuses to delete an
 * enabled domain.
 */
export function registerDomainRoutes(app: FastifyInstance): void {
  app.get<{ Querystring: Static<typeof ListQuery> }>('/v3/domains', {
    config: { policy: 'identity:list_domains' }, schema: { querystring: ListQuery },
  }, async (req) => {
    const enabled = queryBool(req.query.enabled, 'enabled');
    const match = (req.query.name === undefined || req.query.name === DEFAULT_DOMAIN_NAME) && enabled !== false;
    return collection(req, 'domains', match ? [defaultDomainView(req)] : []);
  });

  // Anyone whose token lives in a domain may read it.
  app.get<{ Params: Static<typeof IdParams> }>('/v3/domains/:domainId', { config: { policy: 'identity:get_domain' }, schema: { params: IdParams } }, async (req) => {
    const id = req.params.domainId;
    if (id !== DEFAULT_DOMAIN_ID) throw new NotFound(`Could not find domain: ${id}.`);
    return { domain: defaultDomainView(req) };
  });

  app.post('/v3/domains', { config: { policy: 'identity:create_domain' } }, async () => {
    throw new NotImplemented('Only the Default domain is supported.');
  });

  const refuseChange = async (req: { params: Static<typeof IdParams> }): Promise<never> => {
    if (req.params.domainId !== DEFAULT_DOMAIN_ID) throw new NotFound(`Could not find domain: ${req.params.domainId}.`);
    throw new Forbidden('The Default domain cannot be changed or deleted.');
  };
  app.patch<{ Params: Static<typeof IdParams> }>('/v3/domains/:domainId', { config: { policy: 'identity:update_domain' }, schema: { params: IdParams } }, refuseChange);
  app.delete<{ Params: Static<typeof IdParams> }>('/v3/domains/:domainId', { config: { policy: 'identity:delete_domain' }, schema: { params: IdParams } }, refuseChange);
}
