import type { ComputeNodeReport } from '../objects/compute.js';
import { GONE_REASON, writeNode } from './compute-nodes.js';
import type { Db } from './connection.js';
import { lockKey } from './locks.js';
import * as owners from './node-owners.js';

/**
 * One cluster_sync of shared-node ownership, in one transaction (conductor/cluster.ts says what
 * a sync does and why; docs/drivers.md "Shared nodes and ownership"). The ring's placement is the
 * conductor's, passed in as `place`; the rows are read and written here.
 */

export interface ClusterSyncRequest {
  cluster: string;
  /** The compute host syncing. */
  host: string;
  /** UUIDs of every node the caller's back-end has. */
  seen: string[];
  /** The caller's reports of the nodes it sees. */
  reports: ComputeNodeReport[];
  /** The claims the caller holds. */
  held: Array<{ nodeUuid: string; generation: number }>;
}

/** What a sync changed, for the conductor's log (written once the transaction committed). */
export type ClusterChange =
  | { change: 'added'; node: string; owner: string }
  | { change: 'removed'; nodeUuid: string }
  | { change: 'unavailable'; nodeUuid: string; instances: number }
  | { change: 'moved'; nodeUuid: string; from: string; to: string; generation: number };

export type ClusterSyncResult =
  /** Some claims are stale: nothing was written. */
  | { ok: false; stale: string[] }
  | { ok: true; owned: Array<{ uuid: string; node: string; generation: number }>; members: string[]; changes: ClusterChange[] };

/** The ring's answer: node UUID → owner, given the live members and the current owners. */
export type Placement = (members: string[], nodes: string[], current: Map<string, string>) => Map<string, string>;

/**
 * Applies a sync: refuses it when a claim is stale, records the caller alive, adds new nodes,
 * drops or marks unavailable the unseen ones, moves nodes whose owner `place` changed, and
 * writes the caller's reports of the nodes it owns. Serialized per cluster.
 */
export async function syncCluster(db: Db, req: ClusterSyncRequest, at: string, since: string, place: Placement): Promise<ClusterSyncResult> {
  return db.transaction().execute(async (tx): Promise<ClusterSyncResult> => {
    await owners.lockCluster(tx, req.cluster);
    const stale = await owners.staleClaims(tx, req.host, req.held);
    if (stale.length > 0) return { ok: false, stale };
    const changes: ClusterChange[] = [];
    const members = await owners.touchMember(tx, req.cluster, req.host, at, since);
    const rows = new Map((await owners.ownersOf(tx, req.cluster)).map((r) => [r.node_uuid, r]));
    const seen = new Set(req.seen);
    const reports = new Map(req.reports.map((r) => [r.uuid, r]));
    // Node rows and inventories are written in uuid order under the lock claims order by.
    const newcomers = [...reports.values()].filter((r) => !rows.has(r.uuid) && seen.has(r.uuid)).sort(byUuid);
    // What the caller no longer sees is gone from the back-end (every member sees the same one).
    const unseen = [...rows.keys()].filter((u) => !seen.has(u));
    const counts = await owners.instanceCounts(tx, unseen);
    const dropped = new Set(unseen.filter((u) => (counts.get(u) ?? 0) === 0));
    const current = new Map([...rows].filter(([u]) => !dropped.has(u)).map(([u, r]) => [u, r.owner_host]));
    const plan = place(members, [...current.keys(), ...newcomers.map((n) => n.uuid)], current);
    const ownReports = [...reports.values()].filter((r) => rows.has(r.uuid) && seen.has(r.uuid) && plan.get(r.uuid) === req.host).sort(byUuid);
    if (newcomers.length > 0 || ownReports.length > 0) await lockKey(tx, 'compute_nodes');
    for (const n of newcomers) {
      const owner = plan.get(n.uuid)!;
      await writeNode(tx, owner, { ...n, host: owner }, at);
      await owners.insertOwner(tx, { node_uuid: n.uuid, cluster: req.cluster, owner_host: owner, generation: 1, updated_at: at });
      changes.push({ change: 'added', node: n.node, owner });
    }
    const reasons = await owners.unavailability(tx, [...rows.keys()]);
    for (const uuid of unseen) {
      if (dropped.has(uuid)) {
        await owners.dropNode(tx, uuid, at);
        rows.delete(uuid);
        changes.push({ change: 'removed', nodeUuid: uuid });
      } else if (!reasons.get(uuid)) {
        await owners.setUnavailable(tx, uuid, GONE_REASON);
        changes.push({ change: 'unavailable', nodeUuid: uuid, instances: counts.get(uuid) ?? 0 });
      }
    }
    for (const uuid of rows.keys()) if (seen.has(uuid) && reasons.get(uuid)) await owners.setUnavailable(tx, uuid, null);
    for (const [uuid, row] of rows) {
      const want = plan.get(uuid)!;
      if (row.owner_host === want) continue;
      await owners.moveNode(tx, uuid, want, at);
      changes.push({ change: 'moved', nodeUuid: uuid, from: row.owner_host, to: want, generation: row.generation + 1 });
    }
    for (const n of ownReports) await writeNode(tx, req.host, { ...n, host: req.host }, at);
    return { ok: true, owned: await owners.ownedBy(tx, req.cluster, req.host), members, changes };
  });
}

/**
 * Runs `write` in one transaction with a check of the claims `host` presents (their owner rows
 * share-locked meanwhile on PostgreSQL, see staleClaims): when any is stale nothing is written
 * and the stale nodes are answered instead.
 */
export async function writeWithClaims<T>(
  db: Db, host: string, claims: Array<{ nodeUuid: string; generation: number }>, write: (tx: Db) => Promise<T>,
): Promise<{ ok: false; stale: string[] } | { ok: true; value: T }> {
  return db.transaction().execute(async (tx): Promise<{ ok: false; stale: string[] } | { ok: true; value: T }> => {
    const stale = await owners.staleClaims(tx, host, claims);
    if (stale.length > 0) return { ok: false, stale };
    return { ok: true, value: await write(tx) };
  });
}

function byUuid(a: { uuid: string }, b: { uuid: string }): number {
  return a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0;
}
