import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requestBaseUrl } from '../httpkit/app.js';
import { MAX_MICROVERSION, MIN_MICROVERSION } from './microversion.js';

/**
 * The compute API's version documents (Nova's versions controller); no token needed. Nova lists
 * the legacy v2.0 (SUPPORTED, no microversions) beside v2.1; clients such as novaclient pick the
 * CURRENT one. Orrery serves v2.0's version document; its resources are those of v2.1.
 */

interface VersionInfo { id: string; status: string; version: string; min_version: string; updated: string; path: string }

const VERSIONS: readonly VersionInfo[] = [
  { id: 'v2.0', status: 'SUPPORTED', version: '', min_version: '', updated: '2011-01-21T11:33:21Z', path: 'v2' },
  { id: 'v2.1', status: 'CURRENT', version: MAX_MICROVERSION, min_version: MIN_MICROVERSION, updated: '2013-07-23T11:33:21Z', path: 'v2.1' },
];

function summary(req: FastifyRequest, v: VersionInfo): Record<string, unknown> {
  return {
    id: v.id, status: v.status, version: v.version, min_version: v.min_version, updated: v.updated,
    links: [{ rel: 'self', href: `${requestBaseUrl(req)}/${v.path}/` }],
  };
}

export function register(app: FastifyInstance): void {
  app.get('/', { config: { public: true } }, async (req) => ({ versions: VERSIONS.map((v) => summary(req, v)) }));

  for (const v of VERSIONS) {
    const one = async (req: FastifyRequest) => {
      const doc = summary(req, v);
      return {
        version: {
          ...doc,
          links: [
            ...(doc.links as unknown[]),
            { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' },
          ],
          'media-types': [{ base: 'application/json', type: `application/vnd.openstack.compute+json;version=${v.id.slice(1)}` }],
        },
      };
    };
    app.get(`/${v.path}`, { config: { public: true } }, one);
    app.get(`/${v.path}/`, { config: { public: true } }, one);
  }
}
