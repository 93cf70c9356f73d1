import type { FastifyInstance, FastifyRequest } from 'fastify';
import { visibleNetwork } from '../db/network-networks.js';
import { createApp, requestBaseUrl } from '../httpkit/app.js';
import { networkNotFound, portNotFound, sgNotFound, subnetNotFound, viewerOf } from './common.js';
import { registerAgentRoutes } from './agent-routes.js';
import { registerExtensionRoutes } from './extensions.js';
import { registerQuotaRoutes } from './quota-routes.js';
import { registerNetworkRoutes } from './network-routes.js';
import { registerL3Routes } from './router-register.js';
import type { NetworkAppOptions } from './options.js';
import { registerPortRoutes } from './port-routes.js';
import { registerSecurityGroupRoutes } from './security-group-routes.js';
import { registerSubnetRoutes } from './subnet-routes.js';
import { visibleSecurityGroup } from '../db/network-security-groups.js';
import { visiblePort } from '../db/network-ports.js';
import { registerTagRoutes } from './tag-routes.js';
import { visibleSubnet } from '../db/network-subnets.js';

export type { NetworkAppOptions } from './options.js';

/** Neutron's version document: one version, v2.0. */
function versions(req: FastifyRequest): { versions: unknown[] } {
  return { versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ rel: 'self', href: `${requestBaseUrl(req)}/v2.0/` }] }] };
}

/** The Network v2 API (Neutron-compatible) as a Fastify app. */
export function createNetworkApp(opts: NetworkAppOptions): FastifyInstance {
  const app = createApp({ name: 'network', format: 'neutron', tokens: opts.tokens, log: opts.log, requireProjectScope: true, policy: { enforcer: opts.policy, style: 'neutron' } });
  app.get('/', { config: { public: true } }, async (req) => versions(req));
  app.get('/v2.0', { config: { public: true } }, async (req) => ({ resources: resources(req) }));
  app.get('/v2.0/', { config: { public: true } }, async (req) => ({ resources: resources(req) }));
  registerExtensionRoutes(app);
  registerNetworkRoutes(app, opts);
  registerL3Routes(app, opts);
  registerTagRoutes(app, opts.db, {
    collection: 'networks', table: 'networks', notFound: networkNotFound,
    find: (req, id) => visibleNetwork(opts.db, viewerOf(req), id),
  });
  registerSubnetRoutes(app, opts);
  registerTagRoutes(app, opts.db, {
    collection: 'subnets', table: 'subnets', notFound: subnetNotFound,
    find: (req, id) => visibleSubnet(opts.db, viewerOf(req), id),
  });
  registerPortRoutes(app, opts);
  registerTagRoutes(app, opts.db, {
    collection: 'ports', table: 'ports', notFound: portNotFound,
    find: (req, id) => visiblePort(opts.db, viewerOf(req), id),
  });
  registerSecurityGroupRoutes(app, opts);
  registerTagRoutes(app, opts.db, {
    collection: 'security-groups', table: 'security_groups', notFound: sgNotFound,
    find: (req, id) => visibleSecurityGroup(opts.db, viewerOf(req), id),
  });
  registerQuotaRoutes(app, opts);
  registerAgentRoutes(app, opts);
  return app;
}

/** Neutron's v2.0 document: the collections at the root. */
function resources(req: FastifyRequest): unknown[] {
  const base = `${requestBaseUrl(req)}/v2.0`;
  return ['network', 'subnet', 'port', 'security_group', 'security_group_rule', 'quota', 'agent', 'router', 'floatingip'].map((name) => {
    const collection = `${name}s`;
    return { name, collection, links: [{ rel: 'self', href: `${base}/${collection.replaceAll('_', '-')}` }] };
  });
}
