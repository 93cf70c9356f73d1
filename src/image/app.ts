import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createApp, requestBaseUrl } from '../httpkit/app.js';
import { registerDataRoutes } from './data-routes.js';
import { registerImageRoutes } from './image-routes.js';
import { registerImportRoutes } from './import-routes.js';
import { registerInfoRoutes } from './info-routes.js';
import { registerTaskRoutes } from './task-routes.js';
import { registerMemberRoutes } from './member-routes.js';
import type { ImageAppOptions } from './options.js';
import { IMAGE_SCHEMA, IMAGES_SCHEMA, MEMBER_SCHEMA, MEMBERS_SCHEMA } from './schemas.js';
import { ImageStore } from './store.js';

export type { ImageAppOptions } from './options.js';

/** Image API v2.0–v2.8: the interoperable image import (2.6), hidden images and multihash (2.7), the stores (2.8). */
function versions(req: FastifyRequest): { versions: unknown[] } {
  const href = `${requestBaseUrl(req)}/v2/`;
  const ids = ['v2.8', 'v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1', 'v2.0'];
  return {
    versions: ids.map((id, i) => ({ id, status: i === 0 ? 'CURRENT' : 'SUPPORTED', links: [{ rel: 'self', href }] })),
  };
}

/** The Image v2 API (Glance-compatible) as a Fastify app, storing data under [image] store_path. */
export function createImageApp(opts: ImageAppOptions): FastifyInstance {
  const app = createApp({ name: 'image', format: 'glance', tokens: opts.tokens, log: opts.log, requireProjectScope: true, policy: { enforcer: opts.policy, style: 'glance' } });
  const store = new ImageStore(opts.config.str('image', 'store_path'));

  // Glance answers version discovery at its root and for any unversioned path it knows.
  for (const path of ['/', '/versions', '/v2', '/v2/']) {
    app.get(path, { config: { public: true } }, async (req, reply) => {
      reply.code(300);
      return versions(req);
    });
  }
  app.get('/v2/schemas/image', { config: { policy: 'get_schema' } }, async () => IMAGE_SCHEMA);
  app.get('/v2/schemas/images', { config: { policy: 'get_schema' } }, async () => IMAGES_SCHEMA);
  app.get('/v2/schemas/member', { config: { policy: 'get_schema' } }, async () => MEMBER_SCHEMA);
  app.get('/v2/schemas/members', { config: { policy: 'get_schema' } }, async () => MEMBERS_SCHEMA);

  registerImageRoutes(app, opts, store);
  registerDataRoutes(app, opts, store);
  registerMemberRoutes(app, opts);
  registerImportRoutes(app, opts, store);
  registerInfoRoutes(app);
  registerTaskRoutes(app, opts);
  return app;
}
