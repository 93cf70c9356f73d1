import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { BadRequest, Forbidden, NotFound, OrreryError } from '../common/errors.js';
import type { GlanceImage } from '../clients/image-client.js';
import { getProjectLimits } from '../db/quotas.js';
import { requestBaseUrl } from '../httpkit/app.js';
import { mvAtLeast, nextLinks, pageOf, queryParam, resourceLinks, routeBoth } from './resource-kit.js';
import type { ComputeApiDeps } from './deps.js';

/**
 * Nova's image proxy (/images and /images/{id}/metadata): the Image v2 API seen in the compute
 * API's v2 shapes, called with the user's own token. Deprecated at 2.36: every route answers
 * 404 from that microversion on.
 */

/** Image v2 attributes that are not extra properties (the rest of an image are its metadata). */
const CORE = new Set([
  'id', 'name', 'status', 'visibility', 'protected', 'os_hidden', 'checksum', 'os_hash_algo', 'os_hash_value', 'size',
  'virtual_size', 'min_disk', 'min_ram', 'owner', 'container_format', 'disk_format', 'created_at', 'updated_at', 'tags',
  'self', 'file', 'schema', 'direct_url', 'locations', 'stores',
]);

/** Glance status → Nova's image status and progress. */
const STATUS: Record<string, [string, number]> = {
  active: ['ACTIVE', 100], queued: ['SAVING', 25], saving: ['SAVING', 50], importing: ['SAVING', 50], uploading: ['SAVING', 50],
  deleted: ['DELETED', 0], pending_delete: ['DELETED', 0], killed: ['ERROR', 0], deactivated: ['UNKNOWN', 0],
};

function metadataOf(img: GlanceImage): Record<string, string> {
  return Object.fromEntries(Object.entries(img).filter(([k, v]) => !CORE.has(k) && typeof v === 'string') as Array<[string, string]>);
}

/** Nova renders times without fractions and with a Z. */
const novaTime = (t: string): string => t.replace(/\.\d+/, '').replace(/\+00:00$/, 'Z');

function detailView(req: FastifyRequest, img: GlanceImage): Record<string, unknown> {
  const [status, progress] = Object.hasOwn(STATUS, img.status) ? STATUS[img.status]! : ['UNKNOWN', 0];
  const out: Record<string, unknown> = {
    id: img.id,
    name: img.name,
    minRam: img.min_ram,
    minDisk: img.min_disk,
    metadata: metadataOf(img),
    created: novaTime(img.created_at),
    updated: novaTime(img.updated_at),
    status,
    progress,
    'OS-EXT-IMG-SIZE:size': img.size,
    links: [...resourceLinks(req, 'images', img.id), { rel: 'alternate', type: 'application/vnd.openstack.image', href: `${requestBaseUrl(req)}/images/${img.id}` }],
  };
  // A snapshot names its server (Nova's instance_uuid property).
  if (typeof img.instance_uuid === 'string') {
    out.server = { id: img.instance_uuid, links: resourceLinks(req, 'servers', img.instance_uuid) };
  }
  return out;
}

const META_KEY = '^[a-zA-Z0-9-_:. ]{1,255}$';
const MetaValue = Type.String({ maxLength: 255 });
const MetadataMap = Type.Unsafe<Record<string, string>>({
  type: 'object', patternProperties: { [META_KEY]: MetaValue }, additionalProperties: false,
});
const MetadataBody = Type.Object({ metadata: MetadataMap }, { additionalProperties: false });
type MetadataBody = Static<typeof MetadataBody>;
const MetaBody = Type.Object({
  meta: Type.Unsafe<Record<string, string>>({ type: 'object', patternProperties: { [META_KEY]: MetaValue }, additionalProperties: false, minProperties: 1, maxProperties: 1 }),
}, { additionalProperties: false });
type MetaBody = Static<typeof MetaBody>;

/** A JSON pointer to an extra property (RFC 6901 escapes). */
const pointer = (key: string): string => `/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;

type IdParams = { image_id: string };
type KeyParams = { image_id: string; key: string };

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db' | 'config' | 'images'>): void {
  const { db, config, images } = deps;

  /** Every route: 404 from 2.36. */
  const proxied = async <T>(req: FastifyRequest, run: () => Promise<T>): Promise<T> => {
    if (mvAtLeast(req, '2.36')) throw new NotFound('The resource could not be found.');
    return run();
  };

  /** A call of the image API, its 404 in Nova's words (a cross-project image is not found either). */
  const glance = async <T>(call: Promise<T>): Promise<T> => {
    try {
      return await call;
    } catch (err) {
      if (err instanceof OrreryError && err.status === 404) throw new NotFound('Image not found.');
      throw err;
    }
  };
  const fetchImage = (req: FastifyRequest, id: string): Promise<GlanceImage> => glance(images.getImage(id, req.auth.tokenId));

  /** Metadata keys that name an image attribute cannot be properties. */
  const checkKeys = (keys: string[]): void => {
    for (const k of keys) if (CORE.has(k)) throw new BadRequest(`Invalid metadata key: '${k}' is an image attribute.`);
  };

  /** Nova's metadata_items quota bounds an image's properties too (until 2.39). */
  const checkQuota = async (req: FastifyRequest, count: number): Promise<void> => {
    const limit = (await getProjectLimits(db, config, req.auth.projectId ?? ''))['metadata_items'] ?? -1;
    if (limit >= 0 && count > limit) throw new Forbidden('Image metadata limit exceeded');
  };

  /** Sets the image's properties to `target` (only what changes goes in the patch). */
  const writeMetadata = async (req: FastifyRequest, img: GlanceImage, target: Record<string, string>): Promise<Record<string, string>> => {
    const current = metadataOf(img);
    const ops: Array<{ op: string; path: string; value?: unknown }> = [];
    for (const k of Object.keys(current)) if (!Object.hasOwn(target, k)) ops.push({ op: 'remove', path: pointer(k) });
    for (const [k, v] of Object.entries(target)) if (current[k] !== v || !Object.hasOwn(current, k)) ops.push({ op: 'add', path: pointer(k), value: v });
    if (ops.length === 0) return current;
    return metadataOf(await glance(images.patchImage(img.id, ops, req.auth.tokenId)));
  };

  const list = async (req: FastifyRequest, detail: boolean): Promise<unknown> => {
    const page = pageOf(req);
    const query: Record<string, string> = { limit: String(Math.max(page.limit, 1)) };
    if (page.marker !== undefined) query.marker = page.marker;
    const name = queryParam(req, 'name');
    if (name !== undefined) query.name = name;
    const { images: found } = page.limit === 0 ? { images: [] } : await glance(images.listImages(query, req.auth.tokenId));
    const out: Record<string, unknown> = {
      images: found.map((img) => (detail ? detailView(req, img) : { id: img.id, name: img.name, links: resourceLinks(req, 'images', img.id) })),
    };
    const links = nextLinks(req, detail ? 'images/detail' : 'images', page, found.length, found.at(-1)?.id);
    if (links.length > 0) out.images_links = links;
    return out;
  };

  routeBoth(app, 'GET', '/images', { policy: 'os_compute_api:image-proxy' }, async (req) => proxied(req, () => list(req, false)));
  routeBoth(app, 'GET', '/images/detail', { policy: 'os_compute_api:image-proxy' }, async (req) => proxied(req, () => list(req, true)));

  routeBoth<{ Params: IdParams }>(app, 'GET', '/images/:image_id', { policy: 'os_compute_api:image-proxy' }, async (req) =>
    proxied(req, async () => ({ image: detailView(req, await fetchImage(req, req.params.image_id)) })));

  routeBoth<{ Params: IdParams }>(app, 'DELETE', '/images/:image_id', { policy: 'os_compute_api:image-proxy:delete', status: 204 }, async (req) =>
    proxied(req, async () => {
      await glance(images.deleteImage(req.params.image_id, req.auth.tokenId));
      return undefined;
    }));

  // ---- metadata (Nova's image_metadata)

  routeBoth<{ Params: IdParams }>(app, 'GET', '/images/:image_id/metadata', { policy: 'os_compute_api:image-metadata' }, async (req) =>
    proxied(req, async () => ({ metadata: metadataOf(await fetchImage(req, req.params.image_id)) })));

  // POST merges, PUT replaces.
  for (const method of ['POST', 'PUT'] as const) {
    routeBoth<{ Params: IdParams; Body: MetadataBody }>(
      app, method, '/images/:image_id/metadata', { policy: 'os_compute_api:image-metadata:update', schema: { body: MetadataBody } }, async (req) =>
        proxied(req, async () => {
          checkKeys(Object.keys(req.body.metadata));
          const img = await fetchImage(req, req.params.image_id);
          const target = method === 'POST' ? { ...metadataOf(img), ...req.body.metadata } : req.body.metadata;
          await checkQuota(req, Object.keys(target).length);
          return { metadata: await writeMetadata(req, img, target) };
        }),
    );
  }

  routeBoth<{ Params: KeyParams }>(app, 'GET', '/images/:image_id/metadata/:key', { policy: 'os_compute_api:image-metadata' }, async (req) =>
    proxied(req, async () => {
      const meta = metadataOf(await fetchImage(req, req.params.image_id));
      if (!Object.hasOwn(meta, req.params.key)) throw new NotFound('Invalid metadata key');
      return { meta: { [req.params.key]: meta[req.params.key] } };
    }));

  routeBoth<{ Params: KeyParams; Body: MetaBody }>(
    app, 'PUT', '/images/:image_id/metadata/:key', { policy: 'os_compute_api:image-metadata:update', schema: { body: MetaBody } }, async (req) =>
      proxied(req, async () => {
        const { key } = req.params;
        if (!Object.hasOwn(req.body.meta, key)) throw new BadRequest('Request body and URI mismatch');
        checkKeys([key]);
        const img = await fetchImage(req, req.params.image_id);
        const target = { ...metadataOf(img), [key]: req.body.meta[key]! };
        await checkQuota(req, Object.keys(target).length);
        const meta = await writeMetadata(req, img, target);
        return { meta: { [key]: meta[key] } };
      }),
  );

  routeBoth<{ Params: KeyParams }>(app, 'DELETE', '/images/:image_id/metadata/:key', { policy: 'os_compute_api:image-metadata:update', status: 204 }, async (req) =>
    proxied(req, async () => {
      const img = await fetchImage(req, req.params.image_id);
      const meta = metadataOf(img);
      if (!Object.hasOwn(meta, req.params.key)) throw new NotFound('Invalid metadata key');
      await glance(images.patchImage(img.id, [{ op: 'remove', path: pointer(req.params.key) }], req.auth.tokenId));
      return undefined;
    }));
}
