import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { BadRequest, NotFound } from '../common/errors.js';
import { setTags, tagsOf } from '../db/identity.js';
import { atomically } from '../db/transactions.js';
import type { IdentityAppOptions } from './options.js';
import { MAX_TAGS, projectOr404, Tag } from './project-routes.js';

/** Keystone's project tags: `/v3/projects/{id}/tags` (list, replace, clear) and `/tags/{tag}` (check, add, remove). */

const IdParams = Type.Object({ projectId: Type.String() });
const TagParams = Type.Object({ projectId: Type.String(), tag: Type.String({ maxLength: 255 }) });
const TagsBody = Type.Object({ tags: Type.Array(Tag, { maxItems: MAX_TAGS }) });

function checkTag(tag: string): void {
  if (tag === '' || tag.includes('/') || tag.includes(',')) throw new BadRequest(`Invalid input for field 'tag': '${tag}' (a tag has no '/' or ',')`);
}

export function registerProjectTagRoutes(app: FastifyInstance, opts: IdentityAppOptions): void {
  const { db } = opts;
  const base = '/v3/projects/:projectId/tags';

  app.get<{ Params: Static<typeof IdParams> }>(base, { config: { policy: 'identity:list_project_tags' }, schema: { params: IdParams } }, async (req) => {
    await projectOr404(db, req.params.projectId);
    return { tags: await tagsOf(db, req.params.projectId) };
  });

  app.put<{ Params: Static<typeof IdParams>; Body: Static<typeof TagsBody> }>(base, {
    config: { policy: 'identity:update_project_tags' }, schema: { params: IdParams, body: TagsBody },
  }, async (req) => {
    await projectOr404(db, req.params.projectId);
    await setTags(db, req.params.projectId, req.body.tags);
    return { tags: await tagsOf(db, req.params.projectId) };
  });

  app.delete<{ Params: Static<typeof IdParams> }>(base, { config: { policy: 'identity:delete_project_tags' }, schema: { params: IdParams } }, async (req, reply) => {
    await projectOr404(db, req.params.projectId);
    await setTags(db, req.params.projectId, []);
    reply.code(204).send();
  });

  // GET also answers HEAD: 204 when the project has the tag.
  app.get<{ Params: Static<typeof TagParams> }>(`${base}/:tag`, { config: { policy: 'identity:get_project_tag' }, schema: { params: TagParams } }, async (req, reply) => {
    await projectOr404(db, req.params.projectId);
    if (!(await tagsOf(db, req.params.projectId)).includes(req.params.tag)) throw new NotFound(`Tag ${req.params.tag} not found for project ${req.params.projectId}.`);
    reply.code(204).send();
  });

  app.put<{ Params: Static<typeof TagParams> }>(`${base}/:tag`, { config: { policy: 'identity:create_project_tag' }, schema: { params: TagParams } }, async (req, reply) => {
    checkTag(req.params.tag);
    await atomically(db, async (tx) => {
      await projectOr404(tx, req.params.projectId);
      const tags = await tagsOf(tx, req.params.projectId);
      if (tags.includes(req.params.tag)) return;
      if (tags.length >= MAX_TAGS) throw new BadRequest(`A project has at most ${MAX_TAGS} tags.`);
      await setTags(tx, req.params.projectId, [...tags, req.params.tag]);
    });
    reply.code(201).header('location', `${req.url}`).send();
  });

  app.delete<{ Params: Static<typeof TagParams> }>(`${base}/:tag`, { config: { policy: 'identity:delete_project_tag' }, schema: { params: TagParams } }, async (req, reply) => {
    await atomically(db, async (tx) => {
      await projectOr404(tx, req.params.projectId);
      const tags = await tagsOf(tx, req.params.projectId);
      if (!tags.includes(req.params.tag)) throw new NotFound(`Tag ${req.params.tag} not found for project ${req.params.projectId}.`);
      await setTags(tx, req.params.projectId, tags.filter((t) => t !== req.params.tag));
    });
    reply.code(204).send();
  });
}
