import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Readable } from 'node:stream';
import { BadRequest, Forbidden, NotFound, OrreryError } from '../common/errors.js';
import { ownedImage, readableImage } from './access.js';
import { uploadImageData } from './data.js';
import type { ImageAppOptions } from './options.js';
import type { ImageStore } from './store.js';

const IdParams = Type.Object({ imageId: Type.String() });
const DATA_TYPE = 'application/octet-stream';

/** Upload and download of image data, streamed both ways: never buffered; an upload stops at [image] image_size_cap. */
export function registerDataRoutes(app: FastifyInstance, opts: ImageAppOptions, store: ImageStore): void {
  const { db } = opts;

  // The body of an upload reaches the handler as the raw request stream.
  app.addContentTypeParser(DATA_TYPE, (_req, payload, done) => done(null, payload));

  app.put<{ Params: Static<typeof IdParams> }>('/v2/images/:imageId/file', { config: { policy: 'upload_image' }, schema: { params: IdParams } }, async (req, reply) => {
    if (!String(req.headers['content-type'] ?? '').startsWith(DATA_TYPE)) {
      throw new OrreryError(415, 'unsupportedMediaType', `Unsupported Content-Type: image data must be sent as ${DATA_TYPE}`);
    }
    await ownedImage(db, req.params.imageId, req.auth);
    try {
      await uploadImageData(db, store, req.params.imageId, req.body as Readable, opts.config.num('image', 'image_size_cap'));
    } catch (err) {
      // A client that went away mid-upload is a bad request, not a server fault.
      if (!(err instanceof OrreryError) && req.raw.readableAborted) throw new BadRequest('The image data upload was interrupted.');
      throw err;
    }
    reply.code(204).send();
  });

  app.get<{ Params: Static<typeof IdParams> }>('/v2/images/:imageId/file', { config: { policy: 'download_image' }, schema: { params: IdParams } }, async (req, reply) => {
    const row = await readableImage(db, req.params.imageId, req.auth);
    if (row.status === 'deactivated' && !req.auth.isAdmin) throw new Forbidden('The requested image has been deactivated. Image data download is forbidden.');
    if (row.status !== 'active' && row.status !== 'deactivated') return reply.code(204).send();
    if (!(await store.exists(row.id))) throw new NotFound(`Image ${row.id} has no data in the store.`);
    reply.header('content-type', DATA_TYPE);
    if (row.checksum) reply.header('content-md5', row.checksum);
    if (row.size !== null) reply.header('content-length', String(row.size));
    if (req.method === 'HEAD') return reply.send(); // headers only: do not read the file
    return reply.send(store.open(row.id));
  });
}
