import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createApp, requestBaseUrl } from '../httpkit/app.js';
import type { NetworkAppOptions } from './options.js';

export type { NetworkAppOptions } from './options.js';

/** Neutron's version document: one version, v2.0. */
function versions(req: FastifyRequest): { versions: unknown[] } {
  return { versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ rel: 'self', href: `${requestBaseUrl(req)}/v2.0/` }] }] };
}

/** The Network v2 API (Neutron-compatible) as a Fastify app. */
export function createNetworkApp(opts: NetworkAppOptions): FastifyInstance {
  const app = createApp({ name: 'network', format: 'neutron', tokens: opts.tokens, log: opts.log, policy: { enforcer: opts.policy, style: 'neutron' } });
  app.get('/', { config: { public: true } }, async (req) => versions(req));
  return app;
}
