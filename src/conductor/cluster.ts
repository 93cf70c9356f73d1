import type { Config } from '../common/config.js';
import { HashRing } from '../common/hash-ring.js';
import type { Logger } from '../common/logging.js';
import { now } from '../common/time.js';
import type { Db } from '../db/connection.js';
import { lockKey } from '../db/locks.js';
import * as owners from '../db/node-owners.js';
import type { ComputeNodeReport } from '../objects/compute.js';
import type { ClusterSyncAnswer, ConductorHandlers } from '../rpc/conductor-api.js';
import { StaleNodeOwnership, type NodeClaim } from '../rpc/node-ownership.js';
import { GONE_REASON, writeNode } from './compute-nodes.js';

/**
 * Shared-node ownership, the conductor's side (docs/drivers.md "Shared nodes and ownership").
 *
 * A compute whose driver declares shared nodes calls cluster_sync every report interval with
 * the nodes its driver sees and the claims it holds. In one transaction per call (serialized
 * per cluster) the conductor:
 *   1. refuses the call if any claim is stale (StaleNodeOwnership): the caller drops those
 *      nodes and syncs again — nothing of a stale call is written;
 *   2. records the caller as alive, and takes as live the members seen within service_down_time;
 *   3. adds nodes never seen before; a node the caller no longer sees is dropped if nothing is
 *      on it, or kept unavailable (no boots, shown down with the reason) while instances are;
 *   4. places the nodes over the live members by the ring, bounded so that no member is handed
 *      more than an even share (HashRing.place), and moves every node whose owner changed,
 *      bumping its generation (so the previous owner's claims go stale);
 *   5. writes the inventories the caller reported for nodes it owns, and answers what it owns.
 * The ring is recomputed by whichever member syncs: a member that dies stops syncing, and the
 * next sync of a survivor after service_down_time moves its nodes.
 */

export class ClusterOwnership {
  /** The last ring built, by its member list: members change rarely, syncs come every second. */
  private ring: { key: string; ring: HashRing } | null = null;

  constructor(private readonly db: Db, private readonly config: Config, private readonly log: Logger) {}

  /** The conductor RPC methods (1.4). */
  methods(): Pick<ConductorHandlers, 'cluster_sync'> {
    return {
      cluster_sync: async (req) => this.sync({
        cluster: req.cluster,
        host: req.host,
        seen: req.seen,
        reports: req.nodes,
        held: req.held.map((h) => ({ host: req.host, nodeUuid: h.nodeUuid, generation: h.generation })),
      }),
    };
  }

  async sync(req: { cluster: string; host: string; seen: string[]; reports: ComputeNodeReport[]; held: NodeClaim[] }): Promise<ClusterSyncAnswer> {
    const at = now();
    const ts = at.toISOString();
    const since = new Date(at.getTime() - this.config.num('DEFAULT', 'service_down_time') * 1000).toISOString();
    return this.db.transaction().execute(async (tx) => {
      await owners.lockCluster(tx, req.cluster);
      const stale = await owners.staleClaims(tx, req.host, req.held);
      if (stale.length > 0) throw new StaleNodeOwnership(stale);
      const members = await owners.touchMember(tx, req.cluster, req.host, ts, since);
      const ring = this.ringOf(members);
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
      const plan = ring.place([...current.keys(), ...newcomers.map((n) => n.uuid)], current);
      const ownReports = [...reports.values()].filter((r) => rows.has(r.uuid) && seen.has(r.uuid) && plan.get(r.uuid) === req.host).sort(byUuid);
      if (newcomers.length > 0 || ownReports.length > 0) await lockKey(tx, 'compute_nodes');
      for (const n of newcomers) {
        const owner = plan.get(n.uuid)!;
        await writeNode(tx, owner, { ...n, host: owner }, ts);
        await owners.insertOwner(tx, { node_uuid: n.uuid, cluster: req.cluster, owner_host: owner, generation: 1, updated_at: ts });
        this.log.info({ cluster: req.cluster, node: n.node, owner }, 'shared node added');
      }
      const reasons = await owners.unavailability(tx, [...rows.keys()]);
      for (const uuid of unseen) {
        if (dropped.has(uuid)) {
          await owners.dropNode(tx, uuid, ts);
          rows.delete(uuid);
          this.log.info({ cluster: req.cluster, node: uuid }, 'shared node removed');
        } else if (!reasons.get(uuid)) {
          await owners.setUnavailable(tx, uuid, GONE_REASON);
          this.log.warn({ cluster: req.cluster, node: uuid, instances: counts.get(uuid) }, 'shared node gone with instances on it: unavailable');
        }
      }
      for (const uuid of rows.keys()) if (seen.has(uuid) && reasons.get(uuid)) await owners.setUnavailable(tx, uuid, null);
      for (const [uuid, row] of rows) {
        const want = plan.get(uuid)!;
        if (row.owner_host === want) continue;
        await owners.moveNode(tx, uuid, want, ts);
        this.log.info({ cluster: req.cluster, node: uuid, from: row.owner_host, to: want, generation: row.generation + 1 }, 'shared node moved');
      }
      for (const n of ownReports) await writeNode(tx, req.host, { ...n, host: req.host }, ts);
      return { owned: await owners.ownedBy(tx, req.cluster, req.host), members };
    });
  }

  private ringOf(members: string[]): HashRing {
    const key = members.join('\n');
    if (this.ring?.key !== key) this.ring = { key, ring: new HashRing(members) };
    return this.ring.ring;
  }

  /**
   * Runs a write a compute makes about a node. With a claim, the claim is checked and the write
   * made in one transaction (the owner row share-locked meanwhile), else refused with
   * StaleNodeOwnership; without one (a node-local driver, an older compute) it is written as is.
   */
  async guarded<T>(claim: NodeClaim | null | undefined, write: (db: Db) => Promise<T>): Promise<T> {
    if (!claim) return write(this.db);
    return this.db.transaction().execute(async (tx) => {
      const stale = await owners.staleClaims(tx, claim.host, [claim]);
      if (stale.length > 0) throw new StaleNodeOwnership(stale);
      return write(tx);
    });
  }
}

function byUuid(a: { uuid: string }, b: { uuid: string }): number {
  return a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0;
}
