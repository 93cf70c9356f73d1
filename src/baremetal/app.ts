import type { FastifyInstance } from 'fastify';
import { createApp, requestBaseUrl } from '../httpkit/app.js';
import { NotFound, OrreryError } from '../common/errors.js';
import { listServiceRows } from '../db/service-admin.js';
import { serviceIsUp } from '../db/services.js';
import { installMicroversions, versionDoc } from './microversion.js';
import { registerNodeRoutes } from './node-routes.js';
import type { BaremetalAppOptions } from './options.js';
import { registerPortRoutes } from './port-routes.js';
import { registerStateRoutes } from './state-routes.js';
import { DRIVERS } from './states.js';

export type { BaremetalAppOptions } from './options.js';

/**
 * The Bare Metal API (a subset of Ironic's v1) as a Fastify app: nodes, ports, states, drivers.
 * Admin only by policy; errors in Ironic's format; the conductors' workers carry out what it accepts.
 */
export function createBaremetalApp(opts: BaremetalAppOptions): FastifyInstance {
  const app = createApp({
    name: 'baremetal', format: 'ironic', tokens: opts.tokens, log: opts.log, requireProjectScope: true,
    policy: { enforcer: opts.policy, style: 'ironic' },
  });
  installMicroversions(app);
  // python3-ironicclient sends its bodiless DELETEs as application/octet-stream with no bytes.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body: Buffer, done) => {
    if (body.length === 0) return done(null, undefined);
    done(Object.assign(new OrreryError(415, 'unsupportedMediaType', 'The request body must be JSON.'), { statusCode: 415 }), undefined);
  });

  app.get('/', { config: { public: true } }, async (req) => {
    const v1 = versionDoc(requestBaseUrl(req));
    return { name: 'OpenStack Ironic API', description: 'Ironic is an OpenStack project which aims to provision baremetal machines.', default_version: v1, versions: [v1] };
  });
  for (const path of ['/v1', '/v1/']) {
    app.get(path, { config: { public: true } }, async (req) => {
      const base = requestBaseUrl(req);
      const link = (p: string) => [{ href: `${base}/v1/${p}/`, rel: 'self' }, { href: `${base}/${p}/`, rel: 'bookmark' }];
      return {
        id: 'v1', version: versionDoc(base),
        links: [{ href: `${base}/v1/`, rel: 'self' }],
        media_types: [{ base: 'application/json', type: 'application/vnd.openstack.ironic.v1+json' }],
        nodes: link('nodes'), ports: link('ports'), drivers: link('drivers'),
      };
    });
  }

  // Every conductor runs the bare-metal worker for both hardware types: a driver's hosts are the live conductors.
  const conductorHosts = async (): Promise<string[]> => (await listServiceRows(opts.db))
    .filter((s) => s.binary === 'nova-conductor' && s.deleted === 0 && !s.disabled && serviceIsUp(s, opts.config)).map((s) => s.host).sort();
  const driverView = (name: string, base: string, hosts: string[]) => ({
    name, type: 'dynamic', hosts,
    links: [{ href: `${base}/v1/drivers/${name}`, rel: 'self' }, { href: `${base}/drivers/${name}`, rel: 'bookmark' }],
  });
  app.get('/v1/drivers', { config: { policy: 'baremetal:driver:get' } }, async (req) => {
    const hosts = await conductorHosts();
    return { drivers: DRIVERS.map((d) => driverView(d, requestBaseUrl(req), hosts)) };
  });
  app.get<{ Params: { driver: string } }>('/v1/drivers/:driver', { config: { policy: 'baremetal:driver:get' } }, async (req) => {
    if (!DRIVERS.includes(req.params.driver)) throw new NotFound(`Could not find the following driver(s) or hardware type(s): ${req.params.driver}.`);
    return driverView(req.params.driver, requestBaseUrl(req), await conductorHosts());
  });

  registerNodeRoutes(app, opts);
  registerStateRoutes(app, opts);
  registerPortRoutes(app, opts);
  return app;
}
