import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, Conflict, Forbidden, NotFound, NotImplemented } from '../common/errors.js';
import { newHexId } from '../common/ids.js';
import { now } from '../common/time.js';
import type { Db } from '../db/connection.js';
import {
  DEFAULT_DOMAIN_ID, deleteProject, findProjectByName, getProject, insertProject, listProjects, setTags, tagsOf, tagsOfProjects,
  updateProject, type ProjectRow,
} from '../db/identity.js';
import { domainForCreate } from './domains.js';
import { extraOf } from './extra.js';
import { applyStringFilters } from './list-filters.js';
import { atomically } from '../db/transactions.js';
import { queryBool, type IdentityAppOptions } from './options.js';
import { collection, projectView } from './views.js';

const Name = Type.String({ minLength: 1, maxLength: 64 });
/** Keystone's tag: up to 255 characters, no `/` or `,` (they separate tags in URLs and filters); 80 per project. */
export const Tag = Type.String({ minLength: 1, maxLength: 255, pattern: '^[^/,]+$' });
export const MAX_TAGS = 80;
const NullableText = Type.Union([Type.String({ maxLength: 65535 }), Type.Null()]);

const CreateBody = Type.Object({
  project: Type.Object({
    name: Name,
    description: Type.Optional(NullableText),
    domain_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    enabled: Type.Optional(Type.Boolean()),
    is_domain: Type.Optional(Type.Boolean()),
    parent_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    tags: Type.Optional(Type.Array(Tag, { maxItems: MAX_TAGS })),
  }),
});
const UpdateBody = Type.Object({
  project: Type.Object({
    name: Type.Optional(Name),
    description: Type.Optional(NullableText),
    domain_id: Type.Optional(Type.String()),
    enabled: Type.Optional(Type.Boolean()),
    is_domain: Type.Optional(Type.Boolean()),
    parent_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    tags: Type.Optional(Type.Array(Tag, { maxItems: MAX_TAGS })),
  }),
});
const ListQuery = Type.Object({
  name: Type.Optional(Type.String()),
  domain_id: Type.Optional(Type.String()),
  enabled: Type.Optional(Type.String()),
  is_domain: Type.Optional(Type.String()),
  parent_id: Type.Optional(Type.String()),
  tags: Type.Optional(Type.String({ maxLength: 4096 })),
  'tags-any': Type.Optional(Type.String({ maxLength: 4096 })),
  'not-tags': Type.Optional(Type.String({ maxLength: 4096 })),
  'not-tags-any': Type.Optional(Type.String({ maxLength: 4096 })),
}, { additionalProperties: true });
const KNOWN = new Set(['name', 'description', 'domain_id', 'enabled', 'is_domain', 'parent_id', 'tags', 'options', 'id', 'links']);

/** Keystone's tag filters: `tags` all of, `tags-any` one of, `not-tags` not all of, `not-tags-any` none of (comma lists). */
export function matchesTagFilters(tags: readonly string[], q: Static<typeof ListQuery>): boolean {
  const have = new Set(tags);
  const list = (v: string | undefined): string[] | null => (v === undefined ? null : v.split(',').filter((t) => t !== ''));
  const all = list(q.tags);
  const any = list(q['tags-any']);
  const notAll = list(q['not-tags']);
  const notAny = list(q['not-tags-any']);
  if (all && !all.every((t) => have.has(t))) return false;
  if (any && !any.some((t) => have.has(t))) return false;
  if (notAll && notAll.length > 0 && notAll.every((t) => have.has(t))) return false;
  if (notAny && notAny.some((t) => have.has(t))) return false;
  return true;
}
const IdParams = Type.Object({ projectId: Type.String() });

export async function projectOr404(db: Db, id: string): Promise<ProjectRow> {
  const p = await getProject(db, id);
  if (!p) throw new NotFound(`Could not find project: ${id}.`);
  return p;
}

/** Projects are flat: a project's parent is its domain (nested projects are not supported). */
function checkPlacement(p: { domain_id?: string | null; is_domain?: boolean; parent_id?: string | null }, domainId: string | null): void {
  if (p.is_domain === true) throw new NotImplemented('Projects acting as domains are not supported.');
  if (p.parent_id !== undefined && p.parent_id !== null && p.parent_id !== domainId) {
    throw new NotImplemented('Project hierarchies are not supported.');
  }
}

export function registerProjectRoutes(app: FastifyInstance, opts: IdentityAppOptions): void {
  const { db, tokens } = opts;

  app.get<{ Querystring: Static<typeof ListQuery> }>('/v3/projects', {
    config: { policy: 'identity:list_projects' }, schema: { querystring: ListQuery },
  }, async (req) => {
    const q = req.query;
    if (queryBool(q.is_domain, 'is_domain') === true) return collection(req, 'projects', []);
    let rows = await listProjects(db, { name: q.name, domainId: q.domain_id, enabled: queryBool(q.enabled, 'enabled') });
    if (q.parent_id !== undefined) rows = rows.filter((p) => (p.parent_id ?? p.domain_id) === q.parent_id);
    rows = applyStringFilters(rows, q, { name: (p: ProjectRow) => p.name, description: (p: ProjectRow) => p.description });
    const tags = await tagsOfProjects(db, rows.map((p) => p.id));
    rows = rows.filter((p) => matchesTagFilters(tags.get(p.id) ?? [], q));
    return collection(req, 'projects', rows.map((p) => projectView(req, p, tags.get(p.id) ?? [])));
  });

  app.post<{ Body: Static<typeof CreateBody> }>('/v3/projects', {
    config: { policy: 'identity:create_project' }, schema: { body: CreateBody },
  }, async (req, reply) => {
    const p = req.body.project;
    // The parent names the domain when no domain_id is given, as Keystone reads it.
    const domain = await domainForCreate(db, p.domain_id ?? p.parent_id, req.auth.domainId ?? DEFAULT_DOMAIN_ID);
    checkPlacement(p, domain.id);
    const row: ProjectRow = {
      id: newHexId(), name: p.name, domain_id: domain.id, description: p.description ?? '',
      enabled: p.enabled === false ? 0 : 1, is_domain: 0, parent_id: null, created_at: now().toISOString(),
      extra: extraOf(p as Record<string, unknown>, KNOWN),
    };
    await atomically(db, async (tx) => {
      if (await findProjectByName(tx, p.name, domain.id)) {
        throw new Conflict(`Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : ${p.name}.`);
      }
      await insertProject(tx, row);
      if (p.tags !== undefined) await setTags(tx, row.id, p.tags);
    });
    reply.code(201);
    return { project: projectView(req, row, [...new Set(p.tags ?? [])].sort()) };
  });

  /** Members may read the project their token is scoped to. */
  const mayRead = (req: FastifyRequest, projectId: string): boolean => req.auth.isAdmin || req.auth.projectId === projectId;

  app.get<{ Params: Static<typeof IdParams> }>('/v3/projects/:projectId', { config: { policy: 'identity:get_project' }, schema: { params: IdParams } }, async (req) => {
    if (!mayRead(req, req.params.projectId)) throw new Forbidden('You are not authorized to perform the requested action: identity:get_project.');
    const p = await projectOr404(db, req.params.projectId);
    return { project: projectView(req, p, await tagsOf(db, p.id)) };
  });

  app.patch<{ Params: Static<typeof IdParams>; Body: Static<typeof UpdateBody> }>('/v3/projects/:projectId', {
    config: { policy: 'identity:update_project' }, schema: { params: IdParams, body: UpdateBody },
  }, async (req) => {
    const id = req.params.projectId;
    const p = req.body.project;
    const updated = await atomically(db, async (tx) => {
      const current = await projectOr404(tx, id);
      if (p.domain_id !== undefined && p.domain_id !== current.domain_id) throw new BadRequest('Cannot change the domain of a project.');
      checkPlacement(p, current.domain_id);
      if (p.name !== undefined && p.name !== current.name) {
        if (await findProjectByName(tx, p.name, current.domain_id)) {
          throw new Conflict(`Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : ${p.name}.`);
        }
      }
      const changes: Partial<ProjectRow> = { extra: extraOf(p as Record<string, unknown>, KNOWN, current.extra) };
      if (p.tags !== undefined) await setTags(tx, id, p.tags);
      if (p.name !== undefined) changes.name = p.name;
      if (p.description !== undefined) changes.description = p.description ?? '';
      if (p.enabled !== undefined) changes.enabled = p.enabled ? 1 : 0;
      await updateProject(tx, id, changes);
      return { ...current, ...changes };
    });
    if (updated.enabled === 0) await tokens.revokeWhere({ projectId: id });
    return { project: projectView(req, updated, await tagsOf(db, id)) };
  });

  app.delete<{ Params: Static<typeof IdParams> }>('/v3/projects/:projectId', {
    config: { policy: 'identity:delete_project' }, schema: { params: IdParams },
  }, async (req, reply) => {
    await projectOr404(db, req.params.projectId);
    await deleteProject(db, req.params.projectId);
    tokens.forget({ projectId: req.params.projectId });
    reply.code(204).send();
  });
}
