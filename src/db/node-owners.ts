import type { Selectable } from 'kysely';
import { isPostgres, type Db } from './connection.js';
import { lockKey } from './locks.js';
import type { NodeOwnerTable } from './schema.js';

/**
 * The rows behind shared-node ownership (migration 004): who serves each node of a clustered
 * back-end, at which generation, and which compute hosts of the back-end are alive. The ring
 * decisions are the conductor's (conductor/cluster.ts); this file only reads and writes rows.
 * Every function takes a transaction: ownership changes and the checks against them are
 * serialized per cluster (lockCluster) and per node row (checkClaims' row lock).
 */

export type NodeOwnerRow = Selectable<NodeOwnerTable>;

/** Serializes syncs of one cluster: each recomputes the ring from what the previous one committed. */
export function lockCluster(tx: Db, cluster: string): Promise<void> {
  return lockKey(tx, `cluster:${cluster}`);
}

export function ownersOf(tx: Db, cluster: string): Promise<NodeOwnerRow[]> {
  return tx.selectFrom('node_owners').selectAll().where('cluster', '=', cluster).orderBy('node_uuid').execute();
}

/** Records that `host` synced now; answers the hosts of the cluster seen since `since` (ISO), sorted. */
export async function touchMember(tx: Db, cluster: string, host: string, at: string, since: string): Promise<string[]> {
  const res = await tx.updateTable('cluster_members').set({ last_seen: at }).where('cluster', '=', cluster).where('host', '=', host).executeTakeFirst();
  if (Number(res.numUpdatedRows) === 0) await tx.insertInto('cluster_members').values({ cluster, host, last_seen: at }).execute();
  const rows = await tx.selectFrom('cluster_members').select('host').where('cluster', '=', cluster).where('last_seen', '>=', since).orderBy('host').execute();
  return rows.map((r) => r.host);
}

export async function insertOwner(tx: Db, row: NodeOwnerRow): Promise<void> {
  await tx.insertInto('node_owners').values(row).execute();
}

/**
 * Moves a node to `host` at the next generation: its node row and its instances follow, so the
 * scheduler sees the node's service as live again and the new owner's power sync and start-up
 * recovery (which go by host) cover its instances.
 */
export async function moveNode(tx: Db, nodeUuid: string, host: string, at: string): Promise<void> {
  await tx.updateTable('node_owners').set((eb) => ({ owner_host: host, generation: eb('generation', '+', 1), updated_at: at }))
    .where('node_uuid', '=', nodeUuid).execute();
  await tx.updateTable('compute_nodes').set({ host, updated_at: at }).where('uuid', '=', nodeUuid).where('deleted', '=', 0).execute();
  await tx.updateTable('instances').set({ host }).where('node_uuid', '=', nodeUuid).where('deleted', '=', 0).execute();
}

/** A node gone from its back-end with nothing on it: no owner, no longer listed. */
export async function dropNode(tx: Db, nodeUuid: string, at: string): Promise<void> {
  await tx.deleteFrom('node_owners').where('node_uuid', '=', nodeUuid).execute();
  const row = await tx.selectFrom('compute_nodes').select('id').where('uuid', '=', nodeUuid).where('deleted', '=', 0).executeTakeFirst();
  if (row) await tx.updateTable('compute_nodes').set({ deleted: row.id, updated_at: at }).where('id', '=', row.id).execute();
}

/** Marks a node as taking no boots, with the reason operators see; null makes it usable again. */
export async function setUnavailable(tx: Db, nodeUuid: string, reason: string | null): Promise<void> {
  await tx.updateTable('compute_nodes').set({ unavailable_reason: reason }).where('uuid', '=', nodeUuid).where('deleted', '=', 0).execute();
}

/** Unavailability of the given live nodes (uuid → reason or null). */
export async function unavailability(tx: Db, nodeUuids: string[]): Promise<Map<string, string | null>> {
  if (nodeUuids.length === 0) return new Map();
  const rows = await tx.selectFrom('compute_nodes').select(['uuid', 'unavailable_reason']).where('uuid', 'in', nodeUuids).where('deleted', '=', 0).execute();
  return new Map(rows.map((r) => [r.uuid, r.unavailable_reason]));
}

/** How many live instances each of the given nodes holds (nodes with none are absent). */
export async function instanceCounts(tx: Db, nodeUuids: string[]): Promise<Map<string, number>> {
  if (nodeUuids.length === 0) return new Map();
  const rows = await tx.selectFrom('instances').select((eb) => ['node_uuid', eb.fn.countAll<number>().as('n')])
    .where('node_uuid', 'in', nodeUuids).where('deleted', '=', 0).groupBy('node_uuid').execute();
  return new Map(rows.map((r) => [r.node_uuid!, Number(r.n)]));
}

/** The nodes `host` owns in `cluster`, with their names and generations. */
export async function ownedBy(tx: Db, cluster: string, host: string): Promise<Array<{ uuid: string; node: string; generation: number }>> {
  const rows = await tx.selectFrom('node_owners as o').innerJoin('compute_nodes as cn', (j) => j.onRef('cn.uuid', '=', 'o.node_uuid').on('cn.deleted', '=', 0))
    .select(['o.node_uuid as uuid', 'cn.hypervisor_hostname as node', 'o.generation as generation'])
    .where('o.cluster', '=', cluster).where('o.owner_host', '=', host).orderBy('o.node_uuid').execute();
  return rows;
}

/**
 * Of the claims `host` presents, the node UUIDs whose claim is not current (another owner, a
 * newer generation, or no owner at all). On PostgreSQL the owner rows stay share-locked until
 * the transaction ends, so a move (an UPDATE of the row) waits for the write the claim guards,
 * and the write is never made by an owner that lost the node meanwhile.
 */
export async function staleClaims(tx: Db, host: string, claims: Array<{ nodeUuid: string; generation: number }>): Promise<string[]> {
  if (claims.length === 0) return [];
  let q = tx.selectFrom('node_owners').select(['node_uuid', 'owner_host', 'generation']).where('node_uuid', 'in', claims.map((c) => c.nodeUuid));
  if (isPostgres(tx)) q = q.forShare();
  const rows = new Map((await q.execute()).map((r) => [r.node_uuid, r]));
  return claims.filter((c) => {
    const r = rows.get(c.nodeUuid);
    return !r || r.owner_host !== host || r.generation !== c.generation;
  }).map((c) => c.nodeUuid);
}
