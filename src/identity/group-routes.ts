import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Conflict, NotFound } from '../common/errors.js';
import { newHexId } from '../common/ids.js';
import { now } from '../common/time.js';
import type { Db } from '../db/connection.js';
import { DEFAULT_DOMAIN_ID, listUsers, type UserRow } from '../db/identity.js';
import {
  addGroupMember, deleteGroup, findGroupByName, getGroup, groupIdsOfUser, groupMemberIds, insertGroup, isGroupMember, listGroups,
  removeGroupMember, updateGroup, type GroupRow,
} from '../db/identity-domains.js';
import { atomically } from '../db/transactions.js';
import { domainForCreate } from './domains.js';
import { applyStringFilters } from './list-filters.js';
import type { IdentityAppOptions } from './options.js';
import { userOr404 } from './user-routes.js';
import { collection, groupView, userView } from './views.js';

const Name = Type.String({ minLength: 1, maxLength: 64 });
const Description = Type.Optional(Type.Union([Type.String({ maxLength: 65535 }), Type.Null()]));
const CreateBody = Type.Object({ group: Type.Object({ name: Name, domain_id: Type.Optional(Type.String()), description: Description }) });
const UpdateBody = Type.Object({ group: Type.Object({ name: Type.Optional(Name), description: Description, domain_id: Type.Optional(Type.String()) }) });
const ListQuery = Type.Object({ name: Type.Optional(Type.String()), domain_id: Type.Optional(Type.String()) }, { additionalProperties: true });
const GroupParams = Type.Object({ groupId: Type.String() });
const MemberParams = Type.Object({ groupId: Type.String(), userId: Type.String() });
const UserParams = Type.Object({ userId: Type.String() });

export async function groupOr404(db: Db, id: string): Promise<GroupRow> {
  const g = await getGroup(db, id);
  if (!g) throw new NotFound(`Could not find group: ${id}.`);
  return g;
}

const duplicate = (name: string, domainId: string): Conflict =>
  new Conflict(`Conflict occurred attempting to store group - Duplicate entry found with name ${name} at domain ID ${domainId}.`);

/** Groups (Keystone's): CRUD, membership, and a user's groups. Their grants are in grant-routes.ts. */
export function registerGroupRoutes(app: FastifyInstance, opts: IdentityAppOptions): void {
  const { db, tokens } = opts;

  app.get<{ Querystring: Static<typeof ListQuery> }>('/v3/groups', { config: { policy: 'identity:list_groups' }, schema: { querystring: ListQuery } }, async (req) => {
    const rows = await listGroups(db, { name: req.query.name, domainId: req.query.domain_id });
    return collection(req, 'groups', applyStringFilters(rows, req.query, { name: (g: GroupRow) => g.name }).map((g) => groupView(req, g)));
  });

  app.post<{ Body: Static<typeof CreateBody> }>('/v3/groups', { config: { policy: 'identity:create_group' }, schema: { body: CreateBody } }, async (req, reply) => {
    const g = req.body.group;
    const domain = await domainForCreate(db, g.domain_id, req.auth.domainId ?? DEFAULT_DOMAIN_ID);
    const row: GroupRow = { id: newHexId(), name: g.name, domain_id: domain.id, description: g.description ?? '', created_at: now().toISOString() };
    await atomically(db, async (tx) => {
      if (await findGroupByName(tx, g.name, domain.id)) throw duplicate(g.name, domain.id);
      await insertGroup(tx, row);
    });
    reply.code(201);
    return { group: groupView(req, row) };
  });

  app.get<{ Params: Static<typeof GroupParams> }>('/v3/groups/:groupId', { config: { policy: 'identity:get_group' }, schema: { params: GroupParams } }, async (req) => {
    return { group: groupView(req, await groupOr404(db, req.params.groupId)) };
  });

  app.patch<{ Params: Static<typeof GroupParams>; Body: Static<typeof UpdateBody> }>('/v3/groups/:groupId', {
    config: { policy: 'identity:update_group' }, schema: { params: GroupParams, body: UpdateBody },
  }, async (req) => {
    const g = req.body.group;
    const updated = await atomically(db, async (tx) => {
      const current = await groupOr404(tx, req.params.groupId);
      if (g.domain_id !== undefined && g.domain_id !== current.domain_id) throw new Conflict('Cannot change the domain of a group.');
      if (g.name !== undefined && g.name !== current.name && (await findGroupByName(tx, g.name, current.domain_id))) throw duplicate(g.name, current.domain_id);
      const changes: Partial<GroupRow> = {};
      if (g.name !== undefined) changes.name = g.name;
      if (g.description !== undefined) changes.description = g.description ?? '';
      await updateGroup(tx, current.id, changes);
      return { ...current, ...changes };
    });
    return { group: groupView(req, updated) };
  });

  app.delete<{ Params: Static<typeof GroupParams> }>('/v3/groups/:groupId', { config: { policy: 'identity:delete_group' }, schema: { params: GroupParams } }, async (req, reply) => {
    await groupOr404(db, req.params.groupId);
    for (const userId of await deleteGroup(db, req.params.groupId)) tokens.forget({ userId });
    reply.code(204).send();
  });

  app.get<{ Params: Static<typeof GroupParams> }>('/v3/groups/:groupId/users', {
    config: { policy: 'identity:list_users_in_group' }, schema: { params: GroupParams },
  }, async (req) => {
    await groupOr404(db, req.params.groupId);
    const users = await listUsers(db, { ids: await groupMemberIds(db, req.params.groupId) });
    return collection(req, 'users', applyStringFilters(users, req.query, { name: (u: UserRow) => u.name }).map((u) => userView(req, u)));
  });

  const memberPath = '/v3/groups/:groupId/users/:userId';
  async function both(p: Static<typeof MemberParams>): Promise<void> {
    await groupOr404(db, p.groupId);
    await userOr404(db, p.userId);
  }
  const notMember = (p: Static<typeof MemberParams>): NotFound => new NotFound(`User ${p.userId} is not a member of group ${p.groupId}.`);

  app.put<{ Params: Static<typeof MemberParams> }>(memberPath, { config: { policy: 'identity:add_user_to_group' }, schema: { params: MemberParams } }, async (req, reply) => {
    await both(req.params);
    await addGroupMember(db, req.params.groupId, req.params.userId);
    tokens.forget({ userId: req.params.userId });
    reply.code(204).send();
  });

  // GET also answers HEAD: 204 when the user is a member.
  app.get<{ Params: Static<typeof MemberParams> }>(memberPath, { config: { policy: 'identity:check_user_in_group' }, schema: { params: MemberParams } }, async (req, reply) => {
    await both(req.params);
    if (!(await isGroupMember(db, req.params.groupId, req.params.userId))) throw notMember(req.params);
    reply.code(204).send();
  });

  app.delete<{ Params: Static<typeof MemberParams> }>(memberPath, { config: { policy: 'identity:remove_user_from_group' }, schema: { params: MemberParams } }, async (req, reply) => {
    await both(req.params);
    if (!(await removeGroupMember(db, req.params.groupId, req.params.userId))) throw notMember(req.params);
    // The user's tokens lose the group's roles at once: they are rebuilt from the database.
    tokens.forget({ userId: req.params.userId });
    reply.code(204).send();
  });

  app.get<{ Params: Static<typeof UserParams> }>('/v3/users/:userId/groups', {
    config: { policy: 'identity:list_groups_for_user' }, schema: { params: UserParams },
  }, async (req) => {
    await userOr404(db, req.params.userId);
    const groups = await listGroups(db, { ids: await groupIdsOfUser(db, req.params.userId) });
    return collection(req, 'groups', groups.map((g) => groupView(req, g)));
  });
}
