import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requestBaseUrl } from '../httpkit/app.js';

/** Identity v3.14 (Ussuri and later); links are built from the Host the client used. */
function v3Version(req: FastifyRequest): Record<string, unknown> {
  return {
    id: 'v3.14',
    status: 'stable',
    updated: '2020-04-07T00:00:00Z',
    links: [{ rel: 'self', href: `${requestBaseUrl(req)}/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  };
}

export function registerVersionRoutes(app: FastifyInstance): void {
  app.get('/', { config: { public: true } }, async (req, reply) => {
    reply.code(300);
    return { versions: { values: [v3Version(req)] } };
  });
  for (const path of ['/v3', '/v3/']) {
    app.get(path, { config: { public: true } }, async (req) => ({ version: v3Version(req) }));
  }
}
