import type { Config } from '../common/config.js';
import { HashRing } from '../common/hash-ring.js';
import type { Logger } from '../common/logging.js';
import { now } from '../common/time.js';
import { syncCluster, writeWithClaims, type ClusterChange } from '../db/cluster-sync.js';
import type { Db } from '../db/connection.js';
import type { ComputeNodeReport } from '../objects/compute.js';
import type { ClusterSyncAnswer, ConductorHandlers } from '../rpc/conductor-api.js';
import { StaleNodeOwnership, type NodeClaim } from '../rpc/node-ownership.js';

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
 * next sync of a survivor after service_down_time moves its nodes. The rows are read and written
 * by syncCluster (db/cluster-sync.ts); the ring's placement is decided here. What changed is
 * logged once the transaction committed.
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
    const since = new Date(at.getTime() - this.config.num('DEFAULT', 'service_down_time') * 1000).toISOString();
    const result = await syncCluster(this.db, req, at.toISOString(), since,
      (members, nodes, current) => this.ringOf(members).place(nodes, current));
    if (!result.ok) throw new StaleNodeOwnership(result.stale);
    for (const c of result.changes) this.logChange(req.cluster, c);
    return { owned: result.owned, members: result.members };
  }

  private logChange(cluster: string, c: ClusterChange): void {
    switch (c.change) {
      case 'added': return this.log.info({ cluster, node: c.node, owner: c.owner }, 'shared node added');
      case 'removed': return this.log.info({ cluster, node: c.nodeUuid }, 'shared node removed');
      case 'unavailable':
        return this.log.warn({ cluster, node: c.nodeUuid, instances: c.instances }, 'shared node gone with instances on it: unavailable');
      case 'moved': return this.log.info({ cluster, node: c.nodeUuid, from: c.from, to: c.to, generation: c.generation }, 'shared node moved');
    }
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
    const result = await writeWithClaims(this.db, claim.host, [claim], write);
    if (!result.ok) throw new StaleNodeOwnership(result.stale);
    return result.value;
  }
}
