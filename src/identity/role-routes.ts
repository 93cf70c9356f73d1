import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { BadRequest, Conflict, NotFound } from '../common/errors.js';
import { domainForCreate } from './domains.js';
import { applyStringFilters } from './list-filters.js';
import { newHexId } from '../common/ids.js';
import type { Db } from '../db/connection.js';
import {
  deleteRole, getRole, grantRole, hasRole, insertRole, listRoles, revokeRole, rolesOn, updateRole, type AssignmentRow, type RoleRow,
} from '../db/identity.js';
import { atomically } from '../db/transactions.js';
import { projectOr404 } from './project-routes.js';
import type { IdentityAppOptions } from './options.js';
import { userOr404 } from './user-routes.js';
import { collection, roleView } from './views.js';

const Name = Type.String({ minLength: 1, maxLength: 255 });
const RoleFields = {
  domain_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  description: Type.Optional(Type.Union([Type.String(), Type.Null()])),
};
const CreateBody = Type.Object({ role: Type.Object({ name: Name, ...RoleFields }) });
const UpdateBody = Type.Object({ role: Type.Object({ name: Type.Optional(Name), ...RoleFields }) });
const ListQuery = Type.Object({ name: Type.Optional(Type.String()), domain_id: Type.Optional(Type.String()) }, { additionalProperties: true });
const RoleParams = Type.Object({ roleId: Type.String() });
const GrantParams = Type.Object({ projectId: Type.String(), userId: Type.String(), roleId: Type.String() });
const UserOnProjectParams = Type.Object({ projectId: Type.String(), userId: Type.String() });

async function roleOr404(db: Db, id: string): Promise<RoleRow> {
  const r = await getRole(db, id);
  if (!r) throw new NotFound(`Could not find role: ${id}.`);
  return r;
}

const duplicate = (name: string): Conflict => new Conflict(`Conflict occurred attempting to store role - Duplicate entry found with name ${name}.`);

export function registerRoleRoutes(app: FastifyInstance, opts: IdentityAppOptions): void {
  const { db, tokens } = opts;

  app.get<{ Querystring: Static<typeof ListQuery> }>('/v3/roles', { config: { policy: 'identity:list_roles' }, schema: { querystring: ListQuery } }, async (req) => {
    // Global roles by default; `domain_id=` lists that domain's own roles (Keystone's).
    const rows = (await listRoles(db, { name: req.query.name })).filter((r) => r.domain_id === (req.query.domain_id ?? null));
    return collection(req, 'roles', applyStringFilters(rows, req.query, { name: (r: RoleRow) => r.name }).map((r) => roleView(req, r)));
  });

  app.post<{ Body: Static<typeof CreateBody> }>('/v3/roles', { config: { policy: 'identity:create_role' }, schema: { body: CreateBody } }, async (req, reply) => {
    const r = req.body.role;
    // Keystone lets a domain's role share a global role's name; here role names stay unique
    // across all domains (migration 001's unique index), so such a create is a 409.
    if (r.domain_id !== undefined && r.domain_id !== null) await domainForCreate(db, r.domain_id, r.domain_id);
    const row: RoleRow = { id: newHexId(), name: r.name, domain_id: r.domain_id ?? null };
    await atomically(db, async (tx) => {
      if ((await listRoles(tx, { name: r.name })).length > 0) throw duplicate(r.name);
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
    const updated = await atomically(db, async (tx) => {
      const current = await roleOr404(tx, req.params.roleId);
      if (r.domain_id !== undefined && r.domain_id !== current.domain_id) throw new BadRequest('The domain of a role cannot be changed.');
      if (r.name === undefined || r.name === current.name) return current;
      if ((await listRoles(tx, { name: r.name })).length > 0) throw duplicate(r.name);
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
    tokens.forget({ userId: a.user_id });
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
}
