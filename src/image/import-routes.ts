import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Readable } from 'node:stream';
import { BadRequest, OrreryError } from '../common/errors.js';
import { ownedImage } from './access.js';
import { recoverStaleImports, stageImageData, startImport, type ImportContext } from './import-flow.js';
import { IMPORT_METHODS, STORE_ID } from './info-routes.js';
import type { ImageAppOptions } from './options.js';
import { ImageStore } from './store.js';

const DATA_TYPE = 'application/octet-stream';
const IdParams = Type.Object({ imageId: Type.String() });
const ImportBody = Type.Object({
  method: Type.Object({
    name: Type.String({ maxLength: 64 }), uri: Type.Optional(Type.String({ maxLength: 2048 })),
    glance_image_id: Type.Optional(Type.String({ maxLength: 64 })), glance_region: Type.Optional(Type.String({ maxLength: 255 })),
    glance_service_interface: Type.Optional(Type.String({ maxLength: 64 })),
  }, { additionalProperties: false }),
  stores: Type.Optional(Type.Array(Type.String({ maxLength: 255 }), { maxItems: 16 })),
  all_stores: Type.Optional(Type.Boolean()),
  all_stores_must_succeed: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });

/**
 * The interoperable image import's routes (Image API 2.6): PUT /stage and POST /import, the
 * import methods announced on every image create (the header the SDKs read), and staged data
 * removed with its image. Staged data lives under `[image] store_path`/staging, beside the
 * store: an import is a rename-free copy within one file system.
 */
export function registerImportRoutes(app: FastifyInstance, opts: ImageAppOptions, store: ImageStore): void {
  const ctx: ImportContext = {
    db: opts.db, store, staging: new ImageStore(join(store.root, 'staging')),
    maxBytes: opts.config.num('image', 'image_size_cap'), log: app.log,
  };

  app.addHook('onSend', async (req, reply, payload) => {
    if (req.method === 'POST' && req.routeOptions.url === '/v2/images' && reply.statusCode === 201) {
      reply.header('openstack-image-import-methods', IMPORT_METHODS.join(','));
      reply.header('openstack-image-store-ids', STORE_ID);
    }
    return payload;
  });
  // The image delete (image-routes.ts) removes the stored data; staged data goes with it here.
  app.addHook('onResponse', async (req, reply) => {
    if (req.method === 'DELETE' && req.routeOptions.url === '/v2/images/:imageId' && reply.statusCode === 204) {
      await ctx.staging.remove((req.params as { imageId: string }).imageId).catch((err: unknown) => app.log.warn({ err }, 'could not remove staged data'));
    }
  });
  // Imports a stopped process left behind are failed at start, so their images can be staged again.
  app.addHook('onReady', async () => {
    await recoverStaleImports(ctx).catch((err: unknown) => app.log.warn({ err }, 'could not recover stale imports'));
  });

  app.put<{ Params: Static<typeof IdParams> }>('/v2/images/:imageId/stage', { config: { policy: 'modify_image' }, schema: { params: IdParams } }, async (req, reply) => {
    if (!String(req.headers['content-type'] ?? '').startsWith(DATA_TYPE)) {
      throw new OrreryError(415, 'unsupportedMediaType', `Unsupported Content-Type: image data must be sent as ${DATA_TYPE}`);
    }
    await ownedImage(opts.db, req.params.imageId, req.auth);
    try {
      await stageImageData(ctx, req.params.imageId, req.body as Readable);
    } catch (err) {
      if (!(err instanceof OrreryError) && req.raw.readableAborted) throw new BadRequest('The image data upload was interrupted.');
      throw err;
    }
    reply.code(204).send();
  });

  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof ImportBody> }>('/v2/images/:imageId/import', {
    config: { policy: 'modify_image' }, schema: { params: IdParams, body: ImportBody },
  }, async (req, reply) => {
    const method = req.body.method.name;
    if (!(IMPORT_METHODS as readonly string[]).includes(method)) throw new BadRequest(`Import method ${method} is not supported by this cloud.`);
    for (const s of req.body.stores ?? []) if (s !== STORE_ID) throw new BadRequest(`Unknown store ${s}: this cloud has the store ${STORE_ID}.`);
    const image = await ownedImage(opts.db, req.params.imageId, req.auth);
    await startImport(ctx, image, { projectId: req.auth.projectId, userId: req.auth.userId, requestId: req.requestId }, req.body);
    reply.code(202).send();
  });
}
