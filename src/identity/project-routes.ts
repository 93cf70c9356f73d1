import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, Conflict, Forbidden, NotFound, NotImplemented } from '../common/errors.js';
import { newHexId } from '../common/ids.js';
import { now } from '../common/time.js';
import type { Db } from '../db/connection.js';
import {
  DEFAULT_DOMAIN_ID, deleteProject, findProjectByName, getProject, insertProject, listProjects, updateProject,
  type ProjectRow,
} from '../db/identity.js';
import { atomically } from '../db/transactions.js';
import { queryBool, type IdentityAppOptions } from './options.js';
import { collection, projectView } from './views.js';

const Name = Type.String({ minLength: 1, maxLength: 64 });
const NullableText = Type.Union([Type.String({ maxLength: 65535 }), Type.Null()]);

const CreateBody = Type.Object({
  project: Type.Object({
    name: Name,
    description: Type.Optional(NullableText),
    domain_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    enabled: Type.Optional(Type.Boolean()),
    is_domain: Type.Optional(Type.Boolean()),
    parent_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    tags: Type.Optional(Type.Array(Type.String())),
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
    tags: Type.Optional(Type.Array(Type.String())),
  }),
});
const ListQuery = Type.Object({
  name: Type.Optional(Type.String()),
  domain_id: Type.Optional(Type.String()),
  enabled: Type.Optional(Type.String()),
}, { additionalProperties: true });
const IdParams = Type.Object({ projectId: Type.String() });

export async function projectOr404(db: Db, id: string): Promise<ProjectRow> {
  const p = await getProject(db, id);
  if (!p) throw new NotFound(`Could not find project: ${id}.`);
  return p;
}

/** Only the Default domain exists; a project's parent is its domain. */
function checkPlacement(p: { domain_id?: string | null; is_domain?: boolean; parent_id?: string | null }): void {
  if (p.domain_id !== undefined && p.domain_id !== null && p.domain_id !== DEFAULT_DOMAIN_ID) {
    throw new BadRequest(`Could not find domain: ${p.domain_id}. Only the Default domain is supported.`);
  }
  if (p.is_domain === true) throw new NotImplemented('Projects acting as domains are not supported.');
  if (p.parent_id !== undefined && p.parent_id !== null && p.parent_id !== DEFAULT_DOMAIN_ID) {
    throw new NotImplemented('Project hierarchies are not supported.');
  }
}

export function registerProjectRoutes(app: FastifyInstance, opts: IdentityAppOptions): void {
  const { db, tokens } = opts;

  app.get<{ Querystring: Static<typeof ListQuery> }>('/v3/projects', {
    config: { policy: 'identity:list_projects' }, schema: { querystring: ListQuery },
  }, async (req) => {
    const rows = await listProjects(db, {
      name: req.query.name, domainId: req.query.domain_id, enabled: queryBool(req.query.enabled, 'enabled'),
    });
    return collection(req, 'projects', rows.map((p) => projectView(req, p)));
  });

  app.post<{ Body: Static<typeof CreateBody> }>('/v3/projects', {
    config: { policy: 'identity:create_project' }, schema: { body: CreateBody },
  }, async (req, reply) => {
    const p = req.body.project;
    checkPlacement(p);
    const row: ProjectRow = {
      id: newHexId(), name: p.name, domain_id: DEFAULT_DOMAIN_ID, description: p.description ?? '',
      enabled: p.enabled === false ? 0 : 1, is_domain: 0, parent_id: null, created_at: now().toISOString(),
    };
    await atomically(db, async (tx) => {
      if (await findProjectByName(tx, p.name, DEFAULT_DOMAIN_ID)) {
        throw new Conflict(`Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : ${p.name}.`);
      }
      await insertProject(tx, row);
    });
    reply.code(201);
    return { project: projectView(req, row) };
  });

  /** Members may read the project their token is scoped to. */
  const mayRead = (req: FastifyRequest, projectId: string): boolean => req.auth.isAdmin || req.auth.projectId === projectId;

  app.get<{ Params: Static<typeof IdParams> }>('/v3/projects/:projectId', { config: { policy: 'identity:get_project' }, schema: { params: IdParams } }, async (req) => {
    if (!mayRead(req, req.params.projectId)) throw new Forbidden('You are not authorized to perform the requested action: identity:get_project.');
    return { project: projectView(req, await projectOr404(db, req.params.projectId)) };
  });

  app.patch<{ Params: Static<typeof IdParams>; Body: Static<typeof UpdateBody> }>('/v3/projects/:projectId', {
    config: { policy: 'identity:update_project' }, schema: { params: IdParams, body: UpdateBody },
  }, async (req) => {
    const id = req.params.projectId;
    const p = req.body.project;
    if (p.domain_id !== undefined && p.domain_id !== DEFAULT_DOMAIN_ID) throw new BadRequest('Cannot change the domain of a project.');
    checkPlacement(p);
    const updated = await atomically(db, async (tx) => {
      const current = await projectOr404(tx, id);
      if (p.name !== undefined && p.name !== current.name) {
        if (await findProjectByName(tx, p.name, current.domain_id)) {
          throw new Conflict(`Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : ${p.name}.`);
        }
      }
      const changes: Partial<ProjectRow> = {};
      if (p.name !== undefined) changes.name = p.name;
      if (p.description !== undefined) changes.description = p.description ?? '';
      if (p.enabled !== undefined) changes.enabled = p.enabled ? 1 : 0;
      await updateProject(tx, id, changes);
      return { ...current, ...changes };
    });
    if (updated.enabled === 0) await tokens.revokeWhere({ projectId: id });
    return { project: projectView(req, updated) };
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
