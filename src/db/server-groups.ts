import { sql } from 'kysely';
import { BadRequest, OverQuota } from '../common/errors.js';
import { now } from '../common/time.js';
import type { Db } from './connection.js';
import { lockKey } from './locks.js';
import { UNLIMITED } from './quotas.js';

/**
 * Server groups (Nova's instance groups): a policy placing their members together or apart,
 * the 2.64 rules, and the members, which join at create time with their instance rows.
 */

export const GROUP_POLICIES = ['affinity', 'anti-affinity', 'soft-affinity', 'soft-anti-affinity'] as const;
export type GroupPolicy = (typeof GROUP_POLICIES)[number];

export interface GroupRules { max_server_per_host?: number }

export interface ServerGroup {
  uuid: string;
  name: string;
  projectId: string;
  userId: string;
  policy: GroupPolicy;
  rules: GroupRules;
  createdAt: string;
}

type Row = { uuid: string; name: string; project_id: string; user_id: string; policy: string; rules: string; created_at: string };

function rowToGroup(r: Row): ServerGroup {
  return {
    uuid: r.uuid, name: r.name, projectId: r.project_id, userId: r.user_id, policy: r.policy as GroupPolicy,
    rules: JSON.parse(r.rules) as GroupRules, createdAt: r.created_at,
  };
}

export async function getServerGroup(db: Db, uuid: string): Promise<ServerGroup | null> {
  const row = await db.selectFrom('server_groups').selectAll().where('uuid', '=', uuid).executeTakeFirst();
  return row ? rowToGroup(row) : null;
}

/** Groups of one project (or of all), oldest first, `offset` skipped and at most `limit` (Nova's common.limited). */
export async function listServerGroups(db: Db, projectId: string | null, page: { limit: number; offset: number }): Promise<ServerGroup[]> {
  let q = db.selectFrom('server_groups').selectAll();
  if (projectId !== null) q = q.where('project_id', '=', projectId);
  const rows = await q.orderBy('created_at').orderBy('uuid').limit(page.limit).offset(page.offset).execute();
  return rows.map(rowToGroup);
}

export async function countServerGroups(db: Db, projectId: string): Promise<number> {
  const r = await db.selectFrom('server_groups').select((eb) => eb.fn.countAll<number>().as('n')).where('project_id', '=', projectId).executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * Stores a new group unless the project holds `quota` groups already (-1: unlimited): count and
 * insert in one transaction under the project's group lock, so parallel creates cannot both pass.
 */
export async function createServerGroup(db: Db, g: Omit<ServerGroup, 'createdAt'>, quota: number): Promise<ServerGroup> {
  return db.transaction().execute(async (tx) => {
    await lockKey(tx, `server_groups:${g.projectId}`);
    if (quota !== UNLIMITED && (await countServerGroups(tx, g.projectId)) + 1 > quota) {
      throw new OverQuota('Quota exceeded, too many server groups.');
    }
    const created_at = now().toISOString();
    await tx.insertInto('server_groups').values({
      uuid: g.uuid, name: g.name, project_id: g.projectId, user_id: g.userId, policy: g.policy, rules: JSON.stringify(g.rules), created_at,
    }).execute();
    return { ...g, createdAt: created_at };
  });
}

/** Deletes a group and its member rows (the instances stay); false when it was not there. */
export async function deleteServerGroup(db: Db, uuid: string): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    await lockKey(tx, `server_group:${uuid}`);
    const res = await tx.deleteFrom('server_groups').where('uuid', '=', uuid).executeTakeFirst();
    await tx.deleteFrom('server_group_members').where('group_uuid', '=', uuid).execute();
    return Number(res.numDeletedRows) > 0;
  });
}

/** Each group's members that are not deleted (what Nova shows: a deleted instance leaves its group). */
export async function liveMembers(db: Db, groupUuids: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(groupUuids.map((u) => [u, []]));
  if (groupUuids.length === 0) return out;
  const rows = await db.selectFrom('server_group_members as m')
    .innerJoin('instances as i', 'i.uuid', 'm.instance_uuid')
    .select(['m.group_uuid as group', 'm.instance_uuid as instance'])
    .where('m.group_uuid', 'in', groupUuids).where('i.deleted', '=', 0)
    .orderBy('i.id')
    .execute();
  for (const r of rows) out.get(r.group)?.push(r.instance);
  return out;
}

/**
 * Inside a create's transaction: makes the new instances members of the group, unless that takes
 * the group past `quota` live members (Nova's "too many servers in group", 403) or the group was
 * deleted meanwhile (400, as a hint naming a missing group). The group's lock serialises this
 * with other creates into the same group and with its deletion.
 */
export async function addGroupMembers(tx: Db, groupUuid: string, instanceUuids: string[], quota: number): Promise<void> {
  await lockKey(tx, `server_group:${groupUuid}`);
  const group = await tx.selectFrom('server_groups').select('uuid').where('uuid', '=', groupUuid).executeTakeFirst();
  if (!group) throw new BadRequest(`Instance group ${groupUuid} could not be found.`);
  if (quota !== UNLIMITED) {
    const live = (await liveMembers(tx, [groupUuid])).get(groupUuid)!.length;
    if (live + instanceUuids.length > quota) throw new OverQuota('Quota exceeded, too many servers in group');
  }
  await tx.insertInto('server_group_members').values(instanceUuids.map((instance_uuid) => ({ group_uuid: groupUuid, instance_uuid }))).execute();
}

/** The lock every claim for a member of the group takes (server-group-claims): one placement decision at a time per group. */
export function groupClaimLock(groupUuid: string): string {
  return `server_group_claims:${groupUuid}`;
}

/**
 * How many other members of the group hold resources on the host of node `nodeUuid` (their
 * claims are where they run: a claim and its allocations are written together), and whether
 * any holds them on another host.
 */
export async function membersPlaced(tx: Db, groupUuid: string, nodeUuid: string, except: string): Promise<{ onHost: number; elsewhere: boolean }> {
  const { rows } = await sql<{ on_host: number; elsewhere: number }>`SELECT
      COUNT(DISTINCT CASE WHEN cn.host = h.host THEN a.consumer_uuid END) AS on_host,
      COUNT(DISTINCT CASE WHEN cn.host <> h.host THEN a.consumer_uuid END) AS elsewhere
    FROM server_group_members m
    JOIN allocations a ON a.consumer_uuid = m.instance_uuid
    JOIN compute_nodes cn ON cn.uuid = a.node_uuid
    CROSS JOIN (SELECT host FROM compute_nodes WHERE uuid = ${nodeUuid}) h
    WHERE m.group_uuid = ${groupUuid} AND m.instance_uuid <> ${except}`.execute(tx);
  const r = rows[0];
  return { onHost: Number(r?.on_host ?? 0), elsewhere: Number(r?.elsewhere ?? 0) > 0 };
}
