import type { FastifyInstance } from 'fastify';
import { getFloatingIpRow } from '../db/network-floating-ips.js';
import { viewerOf } from './common.js';
import { registerAutoAllocatedRoutes } from './auto-allocated-routes.js';
import { registerFloatingIpRoutes } from './floating-ip-routes.js';
import type { NetworkAppOptions } from './options.js';
import { floatingIpNotFound, routerNotFound, visibleRouter } from './router-common.js';
import { registerRouterInterfaceRoutes } from './router-interface-routes.js';
import { registerRouterRoutes } from './router-routes.js';
// Adds the routers/floating_ips sections to the agents' host state (at module load, once per process).
import './router-host-state.js';
import { registerTagRoutes } from './tag-routes.js';

/** Every route of the L3 service (routers, their interfaces, floating IPs, auto-allocated topology, their tags): one call from the app. */
export function registerL3Routes(app: FastifyInstance, opts: NetworkAppOptions): void {
  registerRouterRoutes(app, opts);
  registerRouterInterfaceRoutes(app, opts);
  registerFloatingIpRoutes(app, opts);
  registerAutoAllocatedRoutes(app, opts);
  registerTagRoutes(app, opts.db, { collection: 'routers', table: 'routers', notFound: routerNotFound, find: (req, id) => visibleRouter(opts.db, req, id) });
  registerTagRoutes(app, opts.db, {
    collection: 'floatingips', table: 'floating_ips', notFound: floatingIpNotFound,
    find: async (req, id) => {
      const row = await getFloatingIpRow(opts.db, id);
      const v = viewerOf(req);
      return row && (v.isAdmin || row.project_id === v.projectId) ? row : null;
    },
  });
}
