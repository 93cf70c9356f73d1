import { sql, type RawBuilder } from 'kysely';
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
  /** A server group's filters and weight (server-group-filter.ts), for a member of one. */
  group?: { filters: RawBuilder<unknown>[]; weight: RawBuilder<unknown> | null };
}

export interface Candidate {
  uuid: string;
  host: string;
  node: string;
  freeRam: number;
}

/** Free memory of the `mem` row: the very expression of the inventories_free index, so SQLite walks and bounds by it. */
const FREE_RAM = sql`(mem.total - mem.reserved) * mem.allocation_ratio - mem.used`;

/**
 * Finds up to `limit` nodes that pass every filter, best first (most free RAM: Nova's default
 * spreading weigher). Filtering happens in the database so the cost does not grow with a scan of
 * every node in JavaScript for every request.
 *
 * Written as one SQL template rather than with the query builder: this runs for every decision,
 * and building it with Kysely's builder cost more than SQLite took to run it.
 */
export async function findCandidates(db: Db, q: HostQuery, limit: number): Promise<Candidate[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`scheduler: bad candidate limit ${limit}`);
  // Driven by the inventories_free index: nodes are walked most-free-RAM first, no further than
  // the last that still has the memory asked for, and the walk stops at `limit` nodes that pass
  // every filter, so the cost does not grow with the node count.
  const filters: RawBuilder<unknown>[] = [];
  for (const [rc, amount] of Object.entries(q.resources)) {
    if (amount <= 0) continue;
    if (rc === 'MEMORY_MB') {
      // The claim's test (used + amount <= capacity), in the index's terms: it bounds the walk.
      filters.push(sql`AND mem.max_unit >= ${amount} AND ${FREE_RAM} >= ${amount}`);
      continue;
    }
    filters.push(sql`AND EXISTS (SELECT 1 FROM inventories inv WHERE inv.node_uuid = cn.uuid
      AND inv.resource_class = ${rc} AND inv.max_unit >= ${amount}
      AND inv.used + ${amount} <= (inv.total - inv.reserved) * inv.allocation_ratio)`);
  }
  for (const trait of q.requiredTraits) {
    filters.push(sql`AND EXISTS (SELECT 1 FROM node_traits t WHERE t.node_uuid = cn.uuid AND t.trait = ${trait})`);
  }
  for (const trait of q.forbiddenTraits) {
    filters.push(sql`AND NOT EXISTS (SELECT 1 FROM node_traits t WHERE t.node_uuid = cn.uuid AND t.trait = ${trait})`);
  }
  if (q.ignoreHosts.length > 0) filters.push(sql`AND cn.host NOT IN (${sql.join(q.ignoreHosts)})`);
  if (q.forceHost) filters.push(sql`AND cn.host = ${q.forceHost}`);
  if (q.forceNode) filters.push(sql`AND cn.hypervisor_hostname = ${q.forceNode}`);
  if (q.hypervisorType) filters.push(sql`AND lower(cn.hypervisor_type) = ${q.hypervisorType.toLowerCase()}`);
  if (q.availabilityZone) {
    // A host is in the zones of its aggregates; a host in none is in the default zone.
    // Correlated per node, so the walk above can stop early.
    const zoned = (zone: string | null) => sql`EXISTS (SELECT 1 FROM aggregate_hosts ah
      JOIN aggregates a ON a.id = ah.aggregate_id AND a.deleted = 0
      JOIN aggregate_metadata am ON am.aggregate_id = ah.aggregate_id AND am.key = 'availability_zone'
      WHERE ah.host = cn.host${zone === null ? sql`` : sql` AND am.value = ${zone}`})`;
    filters.push(q.availabilityZone === q.defaultAvailabilityZone
      ? sql`AND (${zoned(q.availabilityZone)} OR NOT ${zoned(null)})`
      : sql`AND ${zoned(q.availabilityZone)}`);
  }
  if (q.group) filters.push(...q.group.filters);
  // A group's weight comes first: then the walk no longer stops early, but only members of a
  // group pay for that, and their candidates are the nodes the group leaves them.
  const order = q.group?.weight ? sql`${q.group.weight}, ${FREE_RAM} DESC` : sql`${FREE_RAM} DESC`;
  // The limit is written into the SQL, not bound: SQLite re-prepares a statement whose LIMIT is
  // a bound parameter every time it is bound, which cost more than running this query.
  const { rows } = await sql<Candidate>`SELECT cn.uuid AS uuid, cn.host AS host, cn.hypervisor_hostname AS node, ${FREE_RAM} AS "freeRam"
    FROM inventories mem
    JOIN compute_nodes cn ON cn.uuid = mem.node_uuid AND cn.deleted = 0 AND cn.unavailable_reason IS NULL
    JOIN services s ON s.host = cn.host AND s."binary" = 'nova-compute' AND s.deleted = 0 AND s.disabled = 0
      AND s.forced_down = 0 AND s.last_seen_up >= ${q.upSince}
    WHERE mem.resource_class = 'MEMORY_MB' ${sql.join(filters, sql` `)}
    ORDER BY ${order}
    LIMIT ${sql.lit(limit)}`.execute(db);
  return rows;
}
