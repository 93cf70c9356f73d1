import type { Insertable, Selectable, Updateable } from 'kysely';
import { newUuid } from '../common/ids.js';
import type { Db } from './connection.js';
import type { NetViewer } from './network-networks.js';
import type { SecurityGroupRuleTable, SecurityGroupTable } from './schema-network.js';
import { atomically } from './transactions.js';

/**
 * Security groups and their rules. The project's `default` group is made on first use, once:
 * the primary key of default_security_groups (project_id) decides which of two concurrent
 * first uses makes it — the other finds the winner's row.
 */

export type SecurityGroupRow = Selectable<SecurityGroupTable>;
export type SecurityGroupRuleRow = Selectable<SecurityGroupRuleTable>;

export async function getSecurityGroupRow(db: Db, id: string): Promise<SecurityGroupRow | null> {
  return (await db.selectFrom('security_groups').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export async function visibleSecurityGroup(db: Db, viewer: NetViewer, id: string): Promise<SecurityGroupRow | null> {
  const row = await getSecurityGroupRow(db, id);
  return row && (viewer.isAdmin || row.project_id === viewer.projectId) ? row : null;
}

export async function listVisibleSecurityGroups(db: Db, viewer: NetViewer): Promise<SecurityGroupRow[]> {
  let q = db.selectFrom('security_groups').selectAll();
  if (!viewer.isAdmin) q = q.where('project_id', '=', viewer.projectId ?? '');
  return q.orderBy('id').execute();
}

export async function securityGroupsByIds(db: Db, ids: readonly string[]): Promise<SecurityGroupRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('security_groups').selectAll().where('id', 'in', [...ids]).execute();
}

export async function rulesOfGroups(db: Db, groupIds: readonly string[]): Promise<SecurityGroupRuleRow[]> {
  if (groupIds.length === 0) return [];
  return db.selectFrom('security_group_rules').selectAll().where('security_group_id', 'in', [...groupIds]).orderBy('created_at').orderBy('id').execute();
}

export async function listVisibleRules(db: Db, viewer: NetViewer): Promise<SecurityGroupRuleRow[]> {
  let q = db.selectFrom('security_group_rules').selectAll();
  if (!viewer.isAdmin) q = q.where('project_id', '=', viewer.projectId ?? '');
  return q.orderBy('id').execute();
}

export async function getRuleRow(db: Db, id: string): Promise<SecurityGroupRuleRow | null> {
  return (await db.selectFrom('security_group_rules').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

/** The id of the project's default group, if it has one already. */
export async function defaultGroupId(db: Db, projectId: string): Promise<string | null> {
  return (await db.selectFrom('default_security_groups').select('security_group_id').where('project_id', '=', projectId).executeTakeFirst())?.security_group_id ?? null;
}

export async function isDefaultGroup(db: Db, groupId: string): Promise<boolean> {
  return (await db.selectFrom('default_security_groups').select('project_id').where('security_group_id', '=', groupId).executeTakeFirst()) !== undefined;
}

/**
 * The project's default group, made with Neutron's four rules when it has none: ingress from
 * the group itself (IPv4, IPv6) and egress anywhere (IPv4, IPv6).
 */
export async function ensureDefaultGroup(db: Db, projectId: string, at: string): Promise<string> {
  const existing = await defaultGroupId(db, projectId);
  if (existing) return existing;
  return atomically(db, async (tx) => {
    const id = newUuid();
    const claimed = await tx.insertInto('default_security_groups').values({ project_id: projectId, security_group_id: id })
      .onConflict((oc) => oc.column('project_id').doNothing()).executeTakeFirst();
    if (Number(claimed.numInsertedOrUpdatedRows ?? 0n) === 0) return (await defaultGroupId(tx, projectId))!;
    await tx.insertInto('security_groups').values({
      id, project_id: projectId, name: 'default', description: 'Default security group', stateful: 1, tags: '[]', revision_number: 1,
      created_at: at, updated_at: at,
    }).execute();
    const rule = (direction: string, ethertype: string, remote: string | null): Insertable<SecurityGroupRuleTable> => ({
      id: newUuid(), security_group_id: id, project_id: projectId, direction, ethertype, protocol: null, port_range_min: null,
      port_range_max: null, remote_ip_prefix: null, remote_group_id: remote, description: '', revision_number: 0, created_at: at, updated_at: at,
    });
    await tx.insertInto('security_group_rules').values([
      rule('ingress', 'IPv4', id), rule('ingress', 'IPv6', id), rule('egress', 'IPv4', null), rule('egress', 'IPv6', null),
    ]).execute();
    return id;
  });
}

export async function insertSecurityGroup(db: Db, row: Insertable<SecurityGroupTable>, rules: Insertable<SecurityGroupRuleTable>[]): Promise<void> {
  await atomically(db, async (tx) => {
    await tx.insertInto('security_groups').values(row).execute();
    if (rules.length > 0) await tx.insertInto('security_group_rules').values(rules).execute();
  });
}

export async function updateSecurityGroupRow(db: Db, id: string, changes: Updateable<SecurityGroupTable>): Promise<boolean> {
  const r = await db.updateTable('security_groups').set((eb) => ({ ...changes, revision_number: eb('revision_number', '+', 1) }))
    .where('id', '=', id).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Deletes a group and its rules; 'in-use' while a port uses it. Rules of other groups naming it as remote go too (Neutron's cascade). */
export async function deleteSecurityGroupCascade(db: Db, id: string): Promise<'deleted' | 'in-use' | 'gone'> {
  return atomically(db, async (tx) => {
    if (!(await tx.selectFrom('security_groups').select('id').where('id', '=', id).executeTakeFirst())) return 'gone';
    if (await tx.selectFrom('port_security_groups').select('port_id').where('security_group_id', '=', id).executeTakeFirst()) return 'in-use';
    await tx.deleteFrom('security_group_rules').where((eb) => eb.or([eb('security_group_id', '=', id), eb('remote_group_id', '=', id)])).execute();
    await tx.deleteFrom('security_groups').where('id', '=', id).execute();
    return 'deleted';
  });
}

export async function insertRule(db: Db, row: Insertable<SecurityGroupRuleTable>): Promise<void> {
  await db.insertInto('security_group_rules').values(row).execute();
}

/** Bumps the group's revision (a rule change is a change of the group: the agents' state hash follows it). */
export async function touchGroup(db: Db, id: string, at: string): Promise<void> {
  await db.updateTable('security_groups').set((eb) => ({ updated_at: at, revision_number: eb('revision_number', '+', 1) })).where('id', '=', id).execute();
}

export async function deleteRuleRow(db: Db, id: string): Promise<boolean> {
  const r = await db.deleteFrom('security_group_rules').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Whether a port still uses a group (for port updates and the host state). */
export async function portsUsingGroups(db: Db, groupIds: readonly string[]): Promise<Array<{ port_id: string; security_group_id: string }>> {
  if (groupIds.length === 0) return [];
  return db.selectFrom('port_security_groups').selectAll().where('security_group_id', 'in', [...groupIds]).execute();
}

/** Which of `groupIds` are their project's default group. */
export async function defaultGroupsAmong(db: Db, groupIds: readonly string[]): Promise<Set<string>> {
  if (groupIds.length === 0) return new Set();
  return new Set((await db.selectFrom('default_security_groups').select('security_group_id').where('security_group_id', 'in', [...groupIds]).execute())
    .map((r) => r.security_group_id));
}
