import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { BadRequest, Conflict, Forbidden, NotFound, OrreryError } from '../common/errors.js';
import { newUuid } from '../common/ids.js';
import { now } from '../common/time.js';
import { deleteImageRow, getImageRow, insertImage, listImages, updateImage, type ImageRow } from '../db/images.js';
import { lockKey } from '../db/locks.js';
import { atomically } from '../db/transactions.js';
import { requestBaseUrl } from '../httpkit/app.js';
import { canRead, ownedImage, readableImage, viewerOf } from './access.js';
import { parseListQuery, type RawQuery } from './list-query.js';
import type { ImageAppOptions } from './options.js';
import { PATCH_TYPE, PATCH_TYPE_DRAFT4, applyImagePatch, checkProperty, checkTags, fromDraft4, MAX_INT, MAX_TAGS, type PatchOp } from './patch.js';
import { CONTAINER_FORMATS, DISK_FORMATS, READ_ONLY_ATTRIBUTES, RESERVED_ATTRIBUTES, VISIBILITIES } from './schemas.js';
import type { ImageStore } from './store.js';
import { imageView } from './views.js';
import { authorize } from '../httpkit/authorize.js';

const UUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
const oneOf = (values: readonly string[]) => Type.Unsafe<string>({ type: 'string', enum: [...values] });
const oneOfOrNull = (values: readonly string[]) => Type.Unsafe<string | null>({ type: ['string', 'null'], enum: [...values, null] });
const Count = Type.Integer({ minimum: 0, maximum: MAX_INT });

/** Read-only and reserved attributes pass the schema so the handler can answer 403, as Glance does. */
const forbiddenKeys = Object.fromEntries([...READ_ONLY_ATTRIBUTES, ...RESERVED_ATTRIBUTES].map((k) => [k, Type.Optional(Type.Unknown())]));

const CreateBody = Type.Object({
  id: Type.Optional(Type.String({ pattern: UUID })),
  name: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Null()])),
  visibility: Type.Optional(oneOf(VISIBILITIES)),
  container_format: Type.Optional(oneOfOrNull(CONTAINER_FORMATS)),
  disk_format: Type.Optional(oneOfOrNull(DISK_FORMATS)),
  min_disk: Type.Optional(Count),
  min_ram: Type.Optional(Count),
  protected: Type.Optional(Type.Boolean()),
  os_hidden: Type.Optional(Type.Boolean()),
  tags: Type.Optional(Type.Array(Type.String({ maxLength: 255 }))),
  owner: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Null()])),
  ...forbiddenKeys,
}, { additionalProperties: Type.String({ maxLength: 65535 }) });
type CreateBody = Static<typeof CreateBody>;

const PatchBody = Type.Array(Type.Object({
  op: Type.Union([Type.Literal('add'), Type.Literal('replace'), Type.Literal('remove')]),
  path: Type.String(),
  value: Type.Optional(Type.Unknown()),
}), { maxItems: 1000 });

const IdParams = Type.Object({ imageId: Type.String() });
const TagParams = Type.Object({ imageId: Type.String(), tag: Type.String({ maxLength: 255 }) });
const ActionParams = Type.Object({ imageId: Type.String(), action: Type.Union([Type.Literal('deactivate'), Type.Literal('reactivate')]) });

const CORE_CREATE_KEYS = new Set(['id', 'name', 'visibility', 'container_format', 'disk_format', 'min_disk', 'min_ram', 'protected', 'os_hidden', 'tags', 'owner']);

export function registerImageRoutes(app: FastifyInstance, opts: ImageAppOptions, store: ImageStore): void {
  const { db } = opts;

  app.post<{ Body: CreateBody }>('/v2/images', { config: { policy: 'add_image' }, schema: { body: CreateBody } }, async (req, reply) => {
    const body = req.body as Record<string, unknown> & CreateBody;
    for (const key of READ_ONLY_ATTRIBUTES) if (Object.hasOwn(body, key)) throw new Forbidden(`Attribute '${key}' is read-only.`);
    for (const key of RESERVED_ATTRIBUTES) if (Object.hasOwn(body, key)) throw new Forbidden(`Attribute '${key}' is reserved.`);
    const auth = req.auth;
    if (auth.projectId === null && !auth.isAdmin) throw new Forbidden('A project-scoped token is required to create images.');
    const owner = body.owner ?? auth.projectId;
    if (owner === null) throw new BadRequest('An owner is required for an image created with an unscoped token.');
    if (owner !== auth.projectId && !auth.isAdmin) throw new Forbidden('You are not permitted to create images owned by another project.');
    const visibility = body.visibility ?? 'shared';
    if (visibility === 'public' && !auth.isAdmin) throw new Forbidden('You are not authorized to complete publicize_image action.');
    // Property names are data: from entries, so `__proto__` is stored like `foo` (common/records.ts).
    const properties: Record<string, string> = Object.fromEntries(Object.entries(body)
      .filter(([k]) => !CORE_CREATE_KEYS.has(k)).map(([k, v]) => [k, checkProperty(k, v)]));
    checkPropertyQuota(opts, properties);
    const ts = now().toISOString();
    const row: ImageRow = {
      id: body.id ?? newUuid(),
      name: body.name ?? null,
      owner,
      status: 'queued',
      visibility,
      container_format: body.container_format ?? null,
      disk_format: body.disk_format ?? null,
      size: null,
      virtual_size: null,
      checksum: null,
      os_hash_algo: null,
      os_hash_value: null,
      min_disk: body.min_disk ?? 0,
      min_ram: body.min_ram ?? 0,
      protected: body.protected ? 1 : 0,
      os_hidden: body.os_hidden ? 1 : 0,
      properties: JSON.stringify(properties),
      tags: JSON.stringify(checkTags(body.tags ?? [])),
      created_at: ts,
      updated_at: ts,
    };
    await atomically(db, async (tx) => {
      if (await getImageRow(tx, row.id)) throw new Conflict(`Image with identifier ${row.id} already exists!`);
      await insertImage(tx, row);
    });
    reply.code(201).header('location', `${requestBaseUrl(req)}/v2/images/${row.id}`);
    return imageView(row);
  });

  app.get('/v2/images', { config: { policy: 'get_images' } }, async (req) => {
    const raw = req.query as RawQuery;
    const parsed = parseListQuery(raw);
    let marker: ImageRow | undefined;
    if (parsed.marker !== undefined) {
      const m = await getImageRow(db, parsed.marker);
      if (!m || !(await canRead(db, m, req.auth))) throw new BadRequest(`Marker ${parsed.marker} could not be found.`);
      marker = m;
    }
    const rows = await listImages(db, { viewer: viewerOf(req.auth), filters: parsed.filters, sort: parsed.sort, limit: parsed.limit, marker });

    // Links keep the caller's parameters; `next` moves the marker to the last image of this page.
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(raw)) {
      if (k === 'marker' || v === undefined) continue;
      for (const item of Array.isArray(v) ? v : [v]) params.append(k, item);
    }
    const first = params.size > 0 ? `/v2/images?${params}` : '/v2/images';
    const body: Record<string, unknown> = { images: rows.map(imageView), first, schema: '/v2/schemas/images' };
    if (rows.length > 0 && rows.length === parsed.limit) {
      params.set('marker', rows[rows.length - 1]!.id);
      body.next = `/v2/images?${params}`;
    }
    return body;
  });

  app.get<{ Params: Static<typeof IdParams> }>('/v2/images/:imageId', { config: { policy: 'get_image' }, schema: { params: IdParams } }, async (req) => {
    return imageView(await readableImage(db, req.params.imageId, req.auth));
  });

  app.patch<{ Params: Static<typeof IdParams>; Body: PatchOp[] }>('/v2/images/:imageId', {
    config: { policy: 'modify_image' }, schema: { params: IdParams, body: PatchBody },
    // The content type is checked before the body is validated, as Glance does.
    preValidation: async (req) => {
      const type = String(req.headers['content-type'] ?? '');
      if (type.startsWith(PATCH_TYPE_DRAFT4)) req.body = fromDraft4(req.body) as PatchOp[];
      else if (!type.startsWith(PATCH_TYPE)) {
        throw new OrreryError(415, 'unsupportedMediaType', `Unsupported Content-Type: use ${PATCH_TYPE} or ${PATCH_TYPE_DRAFT4}`);
      }
    },
  }, async (req) => {
    const id = req.params.imageId;
    const updated = await atomically(db, async (tx) => {
      await lockKey(tx, `image:${id}`); // read-modify-write: concurrent changes queue (PostgreSQL)
      const row = await ownedImage(tx, id, req.auth);
      const changes = { ...applyImagePatch(row, req.body, req.auth), updated_at: now().toISOString() };
      checkPropertyQuota(opts, JSON.parse(changes.properties ?? '{}') as Record<string, string>);
      await updateImage(tx, id, changes);
      return { ...row, ...changes };
    });
    return imageView(updated);
  });

  app.delete<{ Params: Static<typeof IdParams> }>('/v2/images/:imageId', { config: { policy: 'delete_image' }, schema: { params: IdParams } }, async (req, reply) => {
    const id = req.params.imageId;
    await atomically(db, async (tx) => {
      const row = await ownedImage(tx, id, req.auth);
      if (row.protected === 1) throw new Forbidden(`Image ${id} is protected and cannot be deleted.`);
      await deleteImageRow(tx, id);
    });
    await store.remove(id);
    reply.code(204).send();
  });

  // ---- tags

  app.put<{ Params: Static<typeof TagParams> }>('/v2/images/:imageId/tags/:tag', { config: { policy: 'modify_image' }, schema: { params: TagParams } }, async (req, reply) => {
    await atomically(db, async (tx) => {
      await lockKey(tx, `image:${req.params.imageId}`);
      const row = await ownedImage(tx, req.params.imageId, req.auth);
      const tags = JSON.parse(row.tags) as string[];
      if (tags.includes(req.params.tag)) return;
      if (tags.length >= MAX_TAGS) throw new OrreryError(413, 'overLimit', `Maximum number of tags exceeded: ${MAX_TAGS}`);
      await updateImage(tx, row.id, { tags: JSON.stringify([...tags, req.params.tag]), updated_at: now().toISOString() });
    });
    reply.code(204).send();
  });

  app.delete<{ Params: Static<typeof TagParams> }>('/v2/images/:imageId/tags/:tag', { config: { policy: 'modify_image' }, schema: { params: TagParams } }, async (req, reply) => {
    await atomically(db, async (tx) => {
      await lockKey(tx, `image:${req.params.imageId}`);
      const row = await ownedImage(tx, req.params.imageId, req.auth);
      const tags = JSON.parse(row.tags) as string[];
      if (!tags.includes(req.params.tag)) throw new NotFound(`Tag ${req.params.tag} not found`);
      await updateImage(tx, row.id, { tags: JSON.stringify(tags.filter((t) => t !== req.params.tag)), updated_at: now().toISOString() });
    });
    reply.code(204).send();
  });

  // ---- deactivate / reactivate: a deactivated image's data can be read by admins only

  app.post<{ Params: Static<typeof ActionParams> }>('/v2/images/:imageId/actions/:action', {
    config: { actionPolicies: ['deactivate', 'reactivate'] }, schema: { params: ActionParams },
  }, async (req, reply) => {
    const { imageId, action } = req.params;
    // The schema allows only these two; Glance's rule names are the action names.
    authorize(req, action === 'deactivate' ? 'deactivate' : 'reactivate');
    await atomically(db, async (tx) => {
      const row = await ownedImage(tx, imageId, req.auth);
      const target = action === 'deactivate' ? 'deactivated' : 'active';
      if (row.status === target) return;
      if (row.status !== 'active' && row.status !== 'deactivated') {
        throw new Forbidden(`Not allowed to ${action} image in status '${row.status}'`);
      }
      await updateImage(tx, imageId, { status: target, updated_at: now().toISOString() }, row.status);
    });
    reply.code(204).send();
  });
}

/** Glance's image_property_quota: 413 past it, so that no image grows without bound. */
function checkPropertyQuota(opts: ImageAppOptions, properties: Record<string, string>): void {
  const most = opts.config.num('image', 'image_property_quota');
  const count = Object.keys(properties).length;
  if (most >= 0 && count > most) {
    throw new OrreryError(413, 'overLimit', `Attempted: ${count}, Maximum: ${most}: the image property quota is exceeded.`);
  }
}
