import { sql, type SqlBool } from 'kysely';
import type { Db } from './connection.js';

/** Amounts of each resource class one consumer (instance) takes on one node. */
export type ResourceRequest = Record<string, number>;

/**
 * Claims resources on a node atomically: one conditional UPDATE per resource class inside a
 * transaction, so concurrent claims never overcommit and a claim costs the same however many
 * allocations the node already has. Returns false (and changes nothing) when the node lacks room.
 */
export async function claimResources(db: Db, consumerUuid: string, nodeUuid: string, request: ResourceRequest): Promise<boolean> {
  // Rows are locked in one global order (resource class, as in releases and node reports), so
  // concurrent transactions on PostgreSQL queue behind each other instead of deadlocking.
  const entries = Object.entries(request).filter(([, amount]) => amount > 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  try {
    await db.transaction().execute(async (tx) => {
      for (const [rc, amount] of entries) {
        const res = await tx.updateTable('inventories')
          .set((eb) => ({ used: eb('used', '+', amount) }))
          .where('node_uuid', '=', nodeUuid)
          .where('resource_class', '=', rc)
          .where('max_unit', '>=', amount)
          // Raw SQL for the parentheses: Kysely's nested binary expressions do not add them.
          .where(sql<SqlBool>`used + ${amount} <= (total - reserved) * allocation_ratio`)
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) !== 1) throw new ClaimRefused();
      }
      if (entries.length > 0) {
        await tx.insertInto('allocations')
          .values(entries.map(([rc, used]) => ({ consumer_uuid: consumerUuid, node_uuid: nodeUuid, resource_class: rc, used })))
          .execute();
      }
    });
    return true;
  } catch (err) {
    if (err instanceof ClaimRefused) return false;
    throw err;
  }
}

class ClaimRefused extends Error {}

/**
 * Releases everything a consumer holds (idempotent: a second release finds nothing). The
 * allocations are deleted first and the counters lowered by what was deleted, so of two
 * concurrent releases only one (the one whose DELETE got the rows) gives the resources back.
 */
export async function releaseResources(db: Db, consumerUuid: string): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const rows = await tx.deleteFrom('allocations').where('consumer_uuid', '=', consumerUuid).returningAll().execute();
    rows.sort((a, b) => (a.node_uuid + a.resource_class < b.node_uuid + b.resource_class ? -1 : 1));
    for (const r of rows) {
      await tx.updateTable('inventories')
        .set((eb) => ({ used: eb('used', '-', r.used) }))
        .where('node_uuid', '=', r.node_uuid)
        .where('resource_class', '=', r.resource_class)
        .execute();
    }
  });
}

/** What a flavor asks of a node (Nova's resources_from_flavor). */
export function flavorResources(f: { vcpus: number; memoryMb: number; rootGb: number; ephemeralGb: number; swap: number }): ResourceRequest {
  return {
    VCPU: f.vcpus,
    MEMORY_MB: f.memoryMb,
    DISK_GB: f.rootGb + f.ephemeralGb + Math.ceil(f.swap / 1024),
  };
}

/** The node a consumer already holds resources on, if any (makes a repeated selection idempotent). */
export async function claimedNode(db: Db, consumerUuid: string): Promise<{ uuid: string; host: string; node: string } | null> {
  const row = await db.selectFrom('allocations as a')
    .innerJoin('compute_nodes as cn', 'cn.uuid', 'a.node_uuid')
    .select(['cn.uuid as uuid', 'cn.host as host', 'cn.hypervisor_hostname as node'])
    .where('a.consumer_uuid', '=', consumerUuid)
    .executeTakeFirst();
  return row ?? null;
}
