import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Db } from './connection.js';
import { atomically } from './transactions.js';
import type { DomainTable, GroupTable } from './schema-identity.js';

/** Domains, groups and group membership (migration 012). */

export type DomainRow = Selectable<DomainTable>;
export type GroupRow = Selectable<GroupTable>;

// ---- domains

export async function getDomain(db: Db, id: string): Promise<DomainRow | null> {
  return (await db.selectFrom('domains').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

/** Names match exactly, as Keystone's SQL backend matches them. */
export async function findDomainByName(db: Db, name: string): Promise<DomainRow | null> {
  return (await db.selectFrom('domains').selectAll().where('name', '=', name).executeTakeFirst()) ?? null;
}

export async function listDomains(db: Db, f: { name?: string; enabled?: boolean; ids?: string[] } = {}): Promise<DomainRow[]> {
  let q = db.selectFrom('domains').selectAll();
  if (f.name !== undefined) q = q.where('name', '=', f.name);
  if (f.enabled !== undefined) q = q.where('enabled', '=', f.enabled ? 1 : 0);
  if (f.ids !== undefined) {
    if (f.ids.length === 0) return [];
    q = q.where('id', 'in', f.ids);
  }
  return q.orderBy('name').orderBy('id').execute();
}

export async function insertDomain(db: Db, row: Insertable<DomainTable>): Promise<void> {
  await db.insertInto('domains').values(row).execute();
}

export async function updateDomain(db: Db, id: string, changes: Updateable<DomainTable>): Promise<void> {
  if (Object.keys(changes).length === 0) return;
  await db.updateTable('domains').set(changes).where('id', '=', id).execute();
}

/**
 * Deletes a (disabled) domain with everything in it, as Keystone does: its projects, users,
 * groups, domain-specific roles, the grants on or of any of them, their application
 * credentials; their tokens are revoked. One transaction: nothing half-deleted.
 */
export async function deleteDomain(db: Db, id: string): Promise<{ userIds: string[]; projectIds: string[] }> {
  return atomically(db, async (tx) => {
    const userIds = (await tx.selectFrom('users').select('id').where('domain_id', '=', id).execute()).map((r) => r.id);
    const projectIds = (await tx.selectFrom('projects').select('id').where('domain_id', '=', id).execute()).map((r) => r.id);
    const groupIds = (await tx.selectFrom('identity_groups').select('id').where('domain_id', '=', id).execute()).map((r) => r.id);
    const roleIds = (await tx.selectFrom('roles').select('id').where('domain_id', '=', id).execute()).map((r) => r.id);
    if (userIds.length > 0) {
      await tx.deleteFrom('role_assignments').where('user_id', 'in', userIds).execute();
      await tx.deleteFrom('group_members').where('user_id', 'in', userIds).execute();
      await tx.deleteFrom('grants').where('actor_type', '=', 'user').where('actor_id', 'in', userIds).execute();
      await tx.deleteFrom('application_credentials').where('user_id', 'in', userIds).execute();
      await tx.updateTable('tokens').set({ revoked: 1 }).where('user_id', 'in', userIds).execute();
      await tx.deleteFrom('users').where('id', 'in', userIds).execute();
    }
    if (projectIds.length > 0) {
      await tx.deleteFrom('role_assignments').where('project_id', 'in', projectIds).execute();
      await tx.deleteFrom('grants').where('target_type', '=', 'project').where('target_id', 'in', projectIds).execute();
      await tx.deleteFrom('application_credentials').where('project_id', 'in', projectIds).execute();
      await tx.deleteFrom('project_tags').where('project_id', 'in', projectIds).execute();
      await tx.updateTable('tokens').set({ revoked: 1 }).where('project_id', 'in', projectIds).execute();
      await tx.deleteFrom('projects').where('id', 'in', projectIds).execute();
    }
    if (groupIds.length > 0) {
      await tx.deleteFrom('group_members').where('group_id', 'in', groupIds).execute();
      await tx.deleteFrom('grants').where('actor_type', '=', 'group').where('actor_id', 'in', groupIds).execute();
      await tx.deleteFrom('identity_groups').where('id', 'in', groupIds).execute();
    }
    if (roleIds.length > 0) {
      await tx.deleteFrom('role_assignments').where('role_id', 'in', roleIds).execute();
      await tx.deleteFrom('grants').where('role_id', 'in', roleIds).execute();
      await tx.deleteFrom('implied_roles').where((e) => e.or([e('prior_role_id', 'in', roleIds), e('implied_role_id', 'in', roleIds)])).execute();
      await tx.deleteFrom('roles').where('id', 'in', roleIds).execute();
    }
    await tx.deleteFrom('grants').where('target_type', '=', 'domain').where('target_id', '=', id).execute();
    await tx.updateTable('tokens').set({ revoked: 1 }).where('domain_id', '=', id).execute();
    await tx.deleteFrom('domains').where('id', '=', id).execute();
    return { userIds, projectIds };
  });
}

// ---- groups

export async function getGroup(db: Db, id: string): Promise<GroupRow | null> {
  return (await db.selectFrom('identity_groups').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export async function findGroupByName(db: Db, name: string, domainId: string): Promise<GroupRow | null> {
  return (await db.selectFrom('identity_groups').selectAll()
    .where('name', '=', name).where('domain_id', '=', domainId).executeTakeFirst()) ?? null;
}

export async function listGroups(db: Db, f: { name?: string; domainId?: string; ids?: string[] } = {}): Promise<GroupRow[]> {
  let q = db.selectFrom('identity_groups').selectAll();
  if (f.name !== undefined) q = q.where('name', '=', f.name);
  if (f.domainId !== undefined) q = q.where('domain_id', '=', f.domainId);
  if (f.ids !== undefined) {
    if (f.ids.length === 0) return [];
    q = q.where('id', 'in', f.ids);
  }
  return q.orderBy('name').orderBy('id').execute();
}

export async function insertGroup(db: Db, row: Insertable<GroupTable>): Promise<void> {
  await db.insertInto('identity_groups').values(row).execute();
}

export async function updateGroup(db: Db, id: string, changes: Updateable<GroupTable>): Promise<void> {
  if (Object.keys(changes).length === 0) return;
  await db.updateTable('identity_groups').set(changes).where('id', '=', id).execute();
}

/** Deletes a group, its memberships and its grants; returns its members (their tokens lose the group's roles). */
export async function deleteGroup(db: Db, id: string): Promise<string[]> {
  return atomically(db, async (tx) => {
    const members = await groupMemberIds(tx, id);
    await tx.deleteFrom('group_members').where('group_id', '=', id).execute();
    await tx.deleteFrom('grants').where('actor_type', '=', 'group').where('actor_id', '=', id).execute();
    await tx.deleteFrom('identity_groups').where('id', '=', id).execute();
    return members;
  });
}

export async function groupMemberIds(db: Db, groupId: string): Promise<string[]> {
  return (await db.selectFrom('group_members').select('user_id').where('group_id', '=', groupId).orderBy('user_id').execute()).map((r) => r.user_id);
}

export async function groupIdsOfUser(db: Db, userId: string): Promise<string[]> {
  return (await db.selectFrom('group_members').select('group_id').where('user_id', '=', userId).orderBy('group_id').execute()).map((r) => r.group_id);
}

export async function isGroupMember(db: Db, groupId: string, userId: string): Promise<boolean> {
  return (await db.selectFrom('group_members').select('user_id').where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirst()) !== undefined;
}

/** Adds a member; one already there is a no-op (PUT is idempotent). */
export async function addGroupMember(db: Db, groupId: string, userId: string): Promise<void> {
  await atomically(db, async (tx) => {
    if (!(await isGroupMember(tx, groupId, userId))) await tx.insertInto('group_members').values({ group_id: groupId, user_id: userId }).execute();
  });
}

/** Removes a member; false when it was none. */
export async function removeGroupMember(db: Db, groupId: string, userId: string): Promise<boolean> {
  const res = await db.deleteFrom('group_members').where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}
