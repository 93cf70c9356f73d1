import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, Conflict, Forbidden, NotFound, NotImplemented } from '../common/errors.js';
import { newHexId } from '../common/ids.js';
import { now } from '../common/time.js';
import type { Db } from '../db/connection.js';
import {
  DEFAULT_DOMAIN_ID, deleteProject, findProjectByName, getProject, insertProject, listProjects, MAX_PROJECT_DEPTH, projectAncestors,
  projectDescendants, setTags, tagsOf, tagsOfProjects, updateProject, type ProjectRow,
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
    // Keystone's project options (the immutable flag) are not kept here: an empty object only.
    options: Type.Optional(Type.Object({}, { additionalProperties: false })),
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
    // Keystone's project options (the immutable flag) are not kept here: an empty object only.
    options: Type.Optional(Type.Object({}, { additionalProperties: false })),
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

const ShowQuery = Type.Object({
  parents_as_list: Type.Optional(Type.String()),
  subtree_as_list: Type.Optional(Type.String()),
  parents_as_ids: Type.Optional(Type.String()),
  subtree_as_ids: Type.Optional(Type.String()),
}, { additionalProperties: true });

/**
 * Where a new project goes: under its domain (parent_id absent, null, or the domain's id) or
 * under a project of the same domain, at most MAX_PROJECT_DEPTH deep (Keystone's default
 * `max_project_tree_depth`). Returns the domain and the parent project (null: top level).
 */
async function placementOf(db: Db, p: { domain_id?: string | null; is_domain?: boolean; parent_id?: string | null }, fallbackDomain: string): Promise<{ domainId: string; parent: ProjectRow | null }> {
  if (p.is_domain === true) throw new NotImplemented('Projects acting as domains are not supported: create a domain.');
  const parent = p.parent_id === undefined || p.parent_id === null ? null : await getProject(db, p.parent_id);
  if (parent !== null) {
    if (p.domain_id !== undefined && p.domain_id !== null && p.domain_id !== parent.domain_id) {
      throw new BadRequest('Cannot create project, the parent project is in another domain.');
    }
    if ((await projectAncestors(db, parent)).length + 2 > MAX_PROJECT_DEPTH) {
      throw new Forbidden(`Max hierarchy depth reached for ${parent.id} branch.`);
    }
    return { domainId: parent.domain_id, parent };
  }
  // Not a project: the parent names the domain, as Keystone reads it.
  const domain = await domainForCreate(db, p.domain_id ?? p.parent_id, fallbackDomain);
  if (p.parent_id !== undefined && p.parent_id !== null && p.parent_id !== domain.id) throw new BadRequest(`Could not find project: ${p.parent_id}.`);
  return { domainId: domain.id, parent: null };
}

/** Keystone's `*_as_ids`: a nested object of ids, e.g. {"parent": {"grandparent": null}}. */
function nestedIds(chain: ProjectRow[]): Record<string, unknown> | null {
  let out: Record<string, unknown> | null = null;
  for (const p of [...chain].reverse()) out = { [p.id]: out };
  return out;
}

function subtreeIds(rootId: string, all: ProjectRow[]): Record<string, unknown> | null {
  const children = all.filter((p) => p.parent_id === rootId);
  if (children.length === 0) return null;
  return Object.fromEntries(children.map((c) => [c.id, subtreeIds(c.id, all)]));
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
    const { domainId, parent } = await placementOf(db, p, req.auth.domainId ?? DEFAULT_DOMAIN_ID);
    const domain = { id: domainId };
    if (parent !== null && parent.enabled !== 1 && p.enabled !== false) throw new Forbidden('Cannot enable a project whose parent is disabled.');
    const row: ProjectRow = {
      id: newHexId(), name: p.name, domain_id: domain.id, description: p.description ?? '',
      enabled: p.enabled === false ? 0 : 1, is_domain: 0, parent_id: parent?.id ?? null, created_at: now().toISOString(),
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

  app.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof ShowQuery> }>('/v3/projects/:projectId', {
    config: { policy: 'identity:get_project' }, schema: { params: IdParams, querystring: ShowQuery },
  }, async (req) => {
    if (!mayRead(req, req.params.projectId)) throw new Forbidden('You are not authorized to perform the requested action: identity:get_project.');
    const p = await projectOr404(db, req.params.projectId);
    const view = projectView(req, p, await tagsOf(db, p.id));
    const q = req.query;
    if (queryBool(q.parents_as_list, 'parents_as_list') || queryBool(q.parents_as_ids, 'parents_as_ids')) {
      const parents = await projectAncestors(db, p);
      view.parents = queryBool(q.parents_as_list, 'parents_as_list') ? parents.map((x) => ({ project: projectView(req, x) })) : nestedIds(parents);
    }
    if (queryBool(q.subtree_as_list, 'subtree_as_list') || queryBool(q.subtree_as_ids, 'subtree_as_ids')) {
      const subtree = await projectDescendants(db, p.id);
      view.subtree = queryBool(q.subtree_as_list, 'subtree_as_list') ? subtree.map((x) => ({ project: projectView(req, x) })) : subtreeIds(p.id, subtree);
    }
    return { project: view };
  });

  app.patch<{ Params: Static<typeof IdParams>; Body: Static<typeof UpdateBody> }>('/v3/projects/:projectId', {
    config: { policy: 'identity:update_project' }, schema: { params: IdParams, body: UpdateBody },
  }, async (req) => {
    const id = req.params.projectId;
    const p = req.body.project;
    const updated = await atomically(db, async (tx) => {
      const current = await projectOr404(tx, id);
      if (p.domain_id !== undefined && p.domain_id !== current.domain_id) throw new BadRequest('Cannot change the domain of a project.');
      if (p.is_domain === true) throw new NotImplemented('Projects acting as domains are not supported: create a domain.');
      if (p.parent_id !== undefined && p.parent_id !== (current.parent_id ?? current.domain_id)) throw new Forbidden('Update of `parent_id` is not allowed.');
      // The tree stays coherent: no enabled project under a disabled one.
      if (p.enabled === false && current.enabled === 1 && (await projectDescendants(tx, id)).some((c) => c.enabled === 1)) {
        throw new Forbidden(`Cannot disable project ${id} since its subtree contains enabled projects.`);
      }
      if (p.enabled === true && current.enabled === 0 && (await projectAncestors(tx, current)).some((a) => a.enabled !== 1)) {
        throw new Forbidden(`Cannot enable project ${id} since it has disabled parents.`);
      }
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
    await atomically(db, async (tx) => {
      await projectOr404(tx, req.params.projectId);
      if ((await listProjects(tx, { parentId: req.params.projectId })).length > 0) {
        throw new Forbidden(`Cannot delete the project ${req.params.projectId} since it is not a leaf in the hierarchy.`);
      }
      await deleteProject(tx, req.params.projectId);
    });
    tokens.forget({ projectId: req.params.projectId });
    reply.code(204).send();
  });
}
