import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { getTags, setTags, type TaggedTable } from '../db/network-tags.js';
import { atomically } from '../db/transactions.js';
import { authorize } from '../httpkit/authorize.js';
import type { Db } from '../db/connection.js';
import { invalidInput, notFound, nowIso, Tags, type NeutronError } from './common.js';

/**
 * Neutron's tag extension (standard-attr-tag) for one collection: GET/PUT/DELETE
 * /v2.0/<collection>/{id}/tags and GET/PUT/DELETE …/tags/{tag}. The resource is first found as
 * its own GET would find it (another project's is that resource's 404), then the rule
 * `<action>_<collection>_tags` is checked on its project.
 */

export interface TaggedCollection {
  /** URL segment and rule infix: `networks`, `subnets`, `ports`, `security-groups` (rules: security_groups). */
  collection: string;
  table: TaggedTable;
  /** The resource as the caller may see it (its project), or null. */
  find(req: FastifyRequest, id: string): Promise<{ project_id: string } | null>;
  notFound(id: string): NeutronError;
}

const MAX_TAGS = 50;
const TagsBody = Type.Object({ tags: Tags }, { additionalProperties: false });
const Params = Type.Object({ id: Type.String({ maxLength: 255 }) });
const TagParams = Type.Object({ id: Type.String({ maxLength: 255 }), tag: Type.String({ minLength: 1, maxLength: 255 }) });

export function registerTagRoutes(app: FastifyInstance, db: Db, c: TaggedCollection): void {
  const rule = (action: string): string => `${action}_${c.collection.replaceAll('-', '_')}_tags`;
  const base = `/v2.0/${c.collection}/:id/tags`;
  const found = async (req: FastifyRequest, id: string, action: string): Promise<string[]> => {
    const r = await c.find(req, id);
    if (!r) throw c.notFound(id);
    authorize(req, rule(action), { project_id: r.project_id });
    const tags = await getTags(db, c.table, id);
    if (!tags) throw c.notFound(id);
    return tags;
  };
  const write = async (id: string, tags: string[]): Promise<void> => {
    if (!(await setTags(db, c.table, id, tags, nowIso()))) throw c.notFound(id);
  };
  const inHandler = (r: string) => ({ policy: r });

  app.get<{ Params: { id: string } }>(base, { config: inHandler(rule('get')), schema: { params: Params } }, async (req) =>
    ({ tags: await found(req, req.params.id, 'get') }));

  app.put<{ Params: { id: string }; Body: Static<typeof TagsBody> }>(base, {
    config: inHandler(rule('update')), schema: { params: Params, body: TagsBody },
  }, async (req) => {
    await found(req, req.params.id, 'update');
    const tags = [...new Set(req.body.tags)];
    await write(req.params.id, tags);
    return { tags };
  });

  app.delete<{ Params: { id: string } }>(base, { config: inHandler(rule('delete')), schema: { params: Params } }, async (req, reply) => {
    await found(req, req.params.id, 'delete');
    await write(req.params.id, []);
    reply.code(204);
  });

  app.get<{ Params: { id: string; tag: string } }>(`${base}/:tag`, { config: inHandler(rule('get')), schema: { params: TagParams } }, async (req, reply) => {
    const tags = await found(req, req.params.id, 'get');
    if (!tags.includes(req.params.tag)) throw notFound('TagNotFound', `Tag ${req.params.tag} could not be found for ${c.collection.replace(/s$/, '')} ${req.params.id}.`);
    reply.code(204);
  });

  app.put<{ Params: { id: string; tag: string } }>(`${base}/:tag`, { config: inHandler(rule('create')), schema: { params: TagParams } }, async (req, reply) => {
    await found(req, req.params.id, 'create');
    await atomically(db, async (tx) => {
      const tags = await getTags(tx, c.table, req.params.id);
      if (!tags) throw c.notFound(req.params.id);
      if (tags.includes(req.params.tag)) return;
      if (tags.length >= MAX_TAGS) throw invalidInput(`a resource has at most ${MAX_TAGS} tags`);
      if (!(await setTags(tx, c.table, req.params.id, [...tags, req.params.tag], nowIso()))) throw c.notFound(req.params.id);
    });
    reply.code(201);
  });

  app.delete<{ Params: { id: string; tag: string } }>(`${base}/:tag`, { config: inHandler(rule('delete')), schema: { params: TagParams } }, async (req, reply) => {
    const tags = await found(req, req.params.id, 'delete');
    if (!tags.includes(req.params.tag)) throw notFound('TagNotFound', `Tag ${req.params.tag} could not be found for ${c.collection.replace(/s$/, '')} ${req.params.id}.`);
    await write(req.params.id, tags.filter((t) => t !== req.params.tag));
    reply.code(204);
  });
}
