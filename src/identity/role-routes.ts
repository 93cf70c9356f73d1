import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Conflict, NotFound, NotImplemented } from '../common/errors.js';
import { newHexId } from '../common/ids.js';
import type { Db } from '../db/connection.js';
import {
  deleteRole, findRoleByName, getRole, grantRole, hasRole, insertRole, listAssignments, listProjects,
  listRoles, listUsers, revokeRole, rolesOn, updateRole, type AssignmentRow, type RoleRow,
} from '../db/identity.js';
import { atomically } from '../db/transactions.js';
import { projectOr404 } from './project-routes.js';
import { queryBool, type IdentityAppOptions } from './options.js';
import { userOr404 } from './user-routes.js';
import { collection, domainRef, roleView, v3Url } from './views.js';

const Name = Type.String({ minLength: 1, maxLength: 255 });
const RoleFields = {
  domain_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  description: Type.Optional(Type.Union([Type.String(), Type.Null()])),
};
const CreateBody = Type.Object({ role: Type.Object({ name: Name, ...RoleFields }) });
const UpdateBody = Type.Object({ role: Type.Object({ name: Type.Optional(Name), ...RoleFields }) });
const ListQuery = Type.Object({ name: Type.Optional(Type.String()) }, { additionalProperties: true });
const RoleParams = Type.Object({ roleId: Type.String() });
const GrantParams = Type.Object({ projectId: Type.String(), userId: Type.String(), roleId: Type.String() });
const UserOnProjectParams = Type.Object({ projectId: Type.String(), userId: Type.String() });
const AssignmentQuery = Type.Object({
  'user.id': Type.Optional(Type.String()),
  'scope.project.id': Type.Optional(Type.String()),
  'role.id': Type.Optional(Type.String()),
  'group.id': Type.Optional(Type.String()),
  'scope.domain.id': Type.Optional(Type.String()),
  'scope.system': Type.Optional(Type.String()),
  include_names: Type.Optional(Type.String()),
  effective: Type.Optional(Type.String()),
  include_subtree: Type.Optional(Type.String()),
}, { additionalProperties: true });

async function roleOr404(db: Db, id: string): Promise<RoleRow> {
  const r = await getRole(db, id);
  if (!r) throw new NotFound(`Could not find role: ${id}.`);
  return r;
}

function checkGlobal(domainId: string | null | undefined): void {
  if (domainId !== undefined && domainId !== null) throw new NotImplemented('Domain-specific roles are not supported.');
}

export function registerRoleRoutes(app: FastifyInstance, opts: IdentityAppOptions): void {
  const { db, tokens } = opts;

  app.get<{ Querystring: Static<typeof ListQuery> }>('/v3/roles', { config: { policy: 'identity:list_roles' }, schema: { querystring: ListQuery } }, async (req) => {
    const rows = await listRoles(db, { name: req.query.name });
    return collection(req, 'roles', rows.map((r) => roleView(req, r)));
  });

  app.post<{ Body: Static<typeof CreateBody> }>('/v3/roles', { config: { policy: 'identity:create_role' }, schema: { body: CreateBody } }, async (req, reply) => {
    const r = req.body.role;
    checkGlobal(r.domain_id);
    const row: RoleRow = { id: newHexId(), name: r.name, domain_id: null };
    await atomically(db, async (tx) => {
      if (await findRoleByName(tx, r.name)) throw new Conflict(`Conflict occurred attempting to store role - Duplicate entry found with name ${r.name}.`);
      await insertRole(tx, row);
    });
    reply.code(201);
    return { role: roleView(req, row) };
  });

  app.get<{ Params: Static<typeof RoleParams> }>('/v3/roles/:roleId', { config: { policy: 'identity:get_role' }, schema: { params: RoleParams } }, async (req) => {
    return { role: roleView(req, await roleOr404(db, req.params.roleId)) };
  });

  app.patch<{ Params: Static<typeof RoleParams>; Body: Static<typeof UpdateBody> }>('/v3/roles/:roleId', {
    config: { policy: 'identity:update_role' }, schema: { params: RoleParams, body: UpdateBody },
  }, async (req) => {
    const r = req.body.role;
    checkGlobal(r.domain_id);
    const updated = await atomically(db, async (tx) => {
      const current = await roleOr404(tx, req.params.roleId);
      if (r.name === undefined || r.name === current.name) return current;
      if (await findRoleByName(tx, r.name)) throw new Conflict(`Conflict occurred attempting to store role - Duplicate entry found with name ${r.name}.`);
      await updateRole(tx, current.id, { name: r.name });
      return { ...current, name: r.name };
    });
    return { role: roleView(req, updated) };
  });

  app.delete<{ Params: Static<typeof RoleParams> }>('/v3/roles/:roleId', { config: { policy: 'identity:delete_role' }, schema: { params: RoleParams } }, async (req, reply) => {
    await roleOr404(db, req.params.roleId);
    const holders = await deleteRole(db, req.params.roleId);
    for (const userId of holders) tokens.forget({ userId });
    reply.code(204).send();
  });

  // ---- grants on projects

  async function grantOr404(p: Static<typeof GrantParams>): Promise<AssignmentRow> {
    await projectOr404(db, p.projectId);
    await userOr404(db, p.userId);
    await roleOr404(db, p.roleId);
    return { user_id: p.userId, project_id: p.projectId, role_id: p.roleId };
  }

  const grantPath = '/v3/projects/:projectId/users/:userId/roles/:roleId';

  app.put<{ Params: Static<typeof GrantParams> }>(grantPath, { config: { policy: 'identity:create_grant' }, schema: { params: GrantParams } }, async (req, reply) => {
    await grantRole(db, await grantOr404(req.params));
    reply.code(204).send();
  });

  // GET also answers HEAD: 204 when the grant exists.
  app.get<{ Params: Static<typeof GrantParams> }>(grantPath, { config: { policy: 'identity:check_grant' }, schema: { params: GrantParams } }, async (req, reply) => {
    const a = await grantOr404(req.params);
    if (!(await hasRole(db, a))) throw new NotFound(`Could not find role assignment with role: ${a.role_id}, user or group: ${a.user_id}, project, domain, or system: ${a.project_id}.`);
    reply.code(204).send();
  });

  app.delete<{ Params: Static<typeof GrantParams> }>(grantPath, { config: { policy: 'identity:revoke_grant' }, schema: { params: GrantParams } }, async (req, reply) => {
    const a = await grantOr404(req.params);
    if (!(await revokeRole(db, a))) throw new NotFound(`Could not find role assignment with role: ${a.role_id}, user or group: ${a.user_id}, project, domain, or system: ${a.project_id}.`);
    tokens.forget({ userId: a.user_id, projectId: a.project_id });
    reply.code(204).send();
  });

  app.get<{ Params: Static<typeof UserOnProjectParams> }>('/v3/projects/:projectId/users/:userId/roles', {
    config: { policy: 'identity:list_grants' }, schema: { params: UserOnProjectParams },
  }, async (req) => {
    await projectOr404(db, req.params.projectId);
    await userOr404(db, req.params.userId);
    const rows = await rolesOn(db, req.params.userId, req.params.projectId);
    return collection(req, 'roles', rows.map((r) => roleView(req, r)));
  });

  // ---- role assignments

  app.get<{ Querystring: Static<typeof AssignmentQuery> }>('/v3/role_assignments', {
    config: { policy: 'identity:list_role_assignments' }, schema: { querystring: AssignmentQuery },
  }, async (req) => {
    const q = req.query;
    const includeNames = queryBool(q.include_names, 'include_names') ?? false;
    // Roles are granted to users on projects only: group, domain and system filters match nothing.
    const none = q['group.id'] !== undefined || q['scope.domain.id'] !== undefined || q['scope.system'] !== undefined;
    const rows = none ? [] : await listAssignments(db, { userId: q['user.id'], projectId: q['scope.project.id'], roleId: q['role.id'] });
    const names = includeNames ? await namesFor(db, rows) : null;
    return collection(req, 'role_assignments', rows.map((a) => assignmentView(req, a, names)));
  });
}

interface Names {
  users: Map<string, { name: string; domain_id: string }>;
  projects: Map<string, { name: string; domain_id: string }>;
  roles: Map<string, string>;
}

async function namesFor(db: Db, rows: AssignmentRow[]): Promise<Names> {
  const userIds = [...new Set(rows.map((r) => r.user_id))];
  const projectIds = [...new Set(rows.map((r) => r.project_id))];
  const roleIds = [...new Set(rows.map((r) => r.role_id))];
  return {
    users: new Map((await listUsers(db, { ids: userIds })).map((u) => [u.id, { name: u.name, domain_id: u.domain_id }])),
    projects: new Map((await listProjects(db, { ids: projectIds })).map((p) => [p.id, { name: p.name, domain_id: p.domain_id }])),
    roles: new Map((await listRoles(db, { ids: roleIds })).map((r) => [r.id, r.name])),
  };
}

function assignmentView(req: FastifyRequest, a: AssignmentRow, names: Names | null): Record<string, unknown> {
  const user: Record<string, unknown> = { id: a.user_id };
  const project: Record<string, unknown> = { id: a.project_id };
  const role: Record<string, unknown> = { id: a.role_id };
  if (names) {
    const u = names.users.get(a.user_id);
    if (u) Object.assign(user, { name: u.name, domain: domainRef(u.domain_id) });
    const p = names.projects.get(a.project_id);
    if (p) Object.assign(project, { name: p.name, domain: domainRef(p.domain_id) });
    const r = names.roles.get(a.role_id);
    if (r !== undefined) role.name = r;
  }
  return {
    links: { assignment: v3Url(req, `/projects/${a.project_id}/users/${a.user_id}/roles/${a.role_id}`) },
    role,
    scope: { project },
    user,
  };
}
