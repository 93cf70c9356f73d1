import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requestBaseUrl } from '../httpkit/app.js';
import { MAX_MICROVERSION, MIN_MICROVERSION } from './microversion.js';

/** The compute API's version documents (Nova's versions controller); no token needed. */

const UPDATED = '2013-07-23T11:33:21Z';

function v21(req: FastifyRequest): Record<string, unknown> {
  return {
    id: 'v2.1',
    status: 'CURRENT',
    version: MAX_MICROVERSION,
    min_version: MIN_MICROVERSION,
    updated: UPDATED,
    links: [{ rel: 'self', href: `${requestBaseUrl(req)}/v2.1/` }],
  };
}

export function register(app: FastifyInstance): void {
  app.get('/', { config: { public: true } }, async (req) => ({ versions: [v21(req)] }));

  const one = async (req: FastifyRequest) => {
    const doc = v21(req);
    return {
      version: {
        ...doc,
        links: [
          ...(doc.links as unknown[]),
          { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' },
        ],
        'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
      },
    };
  };
  app.get('/v2.1', { config: { public: true } }, one);
  app.get('/v2.1/', { config: { public: true } }, one);
}
