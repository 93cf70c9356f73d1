import { sql, type SqlBool } from 'kysely';
import type { Db } from '../db/connection.js';
import type { ResourceRequest } from '../db/allocations.js';

/** What a request asks of candidate nodes: filters Nova runs in Python, run here in SQL. */
export interface HostQuery {
  resources: ResourceRequest;
  /** Oldest heartbeat that still counts as up (ISO). */
  upSince: string;
  availabilityZone: string | null;
  defaultAvailabilityZone: string;
  hypervisorType: string | null;
  requiredTraits: string[];
  forbiddenTraits: string[];
  ignoreHosts: string[];
  forceHost: string | null;
  forceNode: string | null;
  limit: number;
}

export interface Candidate {
  uuid: string;
  host: string;
  node: string;
  freeRam: number;
}

/**
 * Finds nodes that pass every filter, best first (most free RAM: Nova's default spreading
 * weigher). Filtering happens in the database so the cost does not grow with a scan of every
 * node in JavaScript for every request.
 */
export async function findCandidates(db: Db, q: HostQuery): Promise<Candidate[]> {
  // Driven by the inventories_free index: nodes are walked most-free-RAM first and the walk
  // stops at `limit` nodes that pass every filter, so the cost does not grow with the node count.
  const freeRam = sql<number>`(mem.total - mem.reserved) * mem.allocation_ratio - mem.used`;
  let query = db.selectFrom('inventories as mem')
    .innerJoin('compute_nodes as cn', 'cn.uuid', 'mem.node_uuid')
    .innerJoin('services as s', (j) => j.onRef('s.host', '=', 'cn.host')
      .on('s.binary', '=', 'nova-compute').on('s.deleted', '=', 0).on('s.disabled', '=', 0)
      .on('s.forced_down', '=', 0).on('s.last_seen_up', '>=', q.upSince))
    .select(['cn.uuid as uuid', 'cn.host as host', 'cn.hypervisor_hostname as node'])
    .select(freeRam.as('freeRam'))
    .where('mem.resource_class', '=', 'MEMORY_MB')
    .where('cn.deleted', '=', 0);

  for (const [rc, amount] of Object.entries(q.resources)) {
    if (amount <= 0) continue;
    query = query.where(({ exists, selectFrom }) => exists(
      selectFrom('inventories as inv').select(sql`1`.as('one'))
        .whereRef('inv.node_uuid', '=', 'cn.uuid')
        .where('inv.resource_class', '=', rc)
        .where('inv.max_unit', '>=', amount)
        .where(sql<SqlBool>`inv.used + ${amount} <= (inv.total - inv.reserved) * inv.allocation_ratio`),
    ));
  }
  for (const trait of q.requiredTraits) {
    query = query.where(({ exists, selectFrom }) => exists(
      selectFrom('node_traits as t').select(sql`1`.as('one')).whereRef('t.node_uuid', '=', 'cn.uuid').where('t.trait', '=', trait),
    ));
  }
  for (const trait of q.forbiddenTraits) {
    query = query.where(({ not, exists, selectFrom }) => not(exists(
      selectFrom('node_traits as t').select(sql`1`.as('one')).whereRef('t.node_uuid', '=', 'cn.uuid').where('t.trait', '=', trait),
    )));
  }
  if (q.ignoreHosts.length > 0) query = query.where('cn.host', 'not in', q.ignoreHosts);
  if (q.forceHost) query = query.where('cn.host', '=', q.forceHost);
  if (q.forceNode) query = query.where('cn.hypervisor_hostname', '=', q.forceNode);
  if (q.hypervisorType) query = query.where(sql<SqlBool>`lower(cn.hypervisor_type) = ${q.hypervisorType.toLowerCase()}`);
  if (q.availabilityZone) {
    // A host is in the zones of its aggregates; a host in none is in the default zone.
    // Correlated per node, so the walk above can stop early.
    const zoned = (zone: string | null) => sql<SqlBool>`EXISTS (SELECT 1 FROM aggregate_hosts ah
      JOIN aggregates a ON a.id = ah.aggregate_id AND a.deleted = 0
      JOIN aggregate_metadata am ON am.aggregate_id = ah.aggregate_id AND am.key = 'availability_zone'
      WHERE ah.host = cn.host${zone === null ? sql`` : sql` AND am.value = ${zone}`})`;
    query = q.availabilityZone === q.defaultAvailabilityZone
      ? query.where(sql<SqlBool>`(${zoned(q.availabilityZone)} OR NOT ${zoned(null)})`)
      : query.where(zoned(q.availabilityZone));
  }
  return query.orderBy(freeRam, 'desc').limit(q.limit).execute();
}
