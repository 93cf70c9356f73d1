import { sql, type RawBuilder } from 'kysely';
import type { Db } from './connection.js';
import type { ResourceRequest } from '../common/resource-classes.js';
import type { ServerGroup } from './server-groups.js';

/**
 * The scheduler's candidate query: the nodes a request may go to, best first. Its claim is
 * claimResources (allocations.ts); what a request asks is the scheduler's (scheduler.ts).
 */

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
  /** A server group's filters and weight (groupFilter), for a member of one. */
  group?: GroupFilter;
}

export interface Candidate {
  uuid: string;
  host: string;
  node: string;
  /** What is free of the anchor class (see anchorClass); 0 when the request asks for nothing. */
  free: number;
  /** The zone of the host's aggregates, for the conductor to record; null: in none, so in the default zone. */
  zone: string | null;
}

/**
 * The zone of the candidate's host as availabilityZoneOfHost (aggregates.ts) answers it, null for
 * a host in no zone (the default zone). In the select list it runs only for the rows returned
 * (one in a first round): 5–10 µs of CPU per candidate query (same database, interleaved with
 * the query without it; below the noise of the scheduler bench), where the conductor's own
 * lookup cost a statement per boot. A constant, like FREE: nothing to bind, less to compile.
 */
const ZONE = sql`(SELECT MIN(am.value) FROM aggregate_hosts ah
      JOIN aggregates a ON a.id = ah.aggregate_id AND a.deleted = 0
      JOIN aggregate_metadata am ON am.aggregate_id = ah.aggregate_id AND am.key = 'availability_zone'
      WHERE ah.host = cn.host)`;

/** Free room of the `anchor` row: the very expression of the inventories_free index, so the database walks and bounds by it. */
const FREE = sql`(anchor.total - anchor.reserved) * anchor.allocation_ratio - anchor.used`;

/**
 * The class whose inventory rows drive the walk: MEMORY_MB when asked for (most free RAM first
 * is Nova's default weigher), else the first class asked for in name order — for a whole-node
 * flavor (`resources:CUSTOM_BAREMETAL_GOLD=1`, the standard classes at 0) its custom class, so
 * only nodes of that class are walked. Null when nothing is asked.
 */
export function anchorClass(resources: ResourceRequest): string | null {
  if ((resources.MEMORY_MB ?? 0) > 0) return 'MEMORY_MB';
  const asked = Object.keys(resources).filter((rc) => resources[rc]! > 0).sort();
  return asked[0] ?? null;
}

/**
 * Finds up to `limit` nodes that pass every filter, best first (most free of the anchor class:
 * Nova's default spreading weigher when that is RAM). Filtering happens in the database so the
 * cost does not grow with a scan of every node in JavaScript for every request.
 *
 * Written as one SQL template rather than with the query builder: this runs for every decision,
 * and building it with Kysely's builder cost more than SQLite took to run it.
 */
export async function findCandidates(db: Db, q: HostQuery, limit: number): Promise<Candidate[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`scheduler: bad candidate limit ${limit}`);
  // Driven by the inventories_free index (resource_class, free): nodes are walked most-free first
  // in the anchor class, no further than the last that still has the amount asked for, and the
  // walk stops at `limit` nodes that pass every filter, so the cost does not grow with the node count.
  const anchor = anchorClass(q.resources);
  const filters: RawBuilder<unknown>[] = [];
  for (const [rc, amount] of Object.entries(q.resources)) {
    if (amount <= 0) continue;
    if (rc === anchor) {
      // The claim's test (used + amount <= capacity), in the index's terms: it bounds the walk.
      filters.push(sql`AND anchor.max_unit >= ${amount} AND ${FREE} >= ${amount}`);
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
  const order = q.group?.weight ? sql`${q.group.weight}, ${FREE} DESC` : sql`${FREE} DESC`;
  // The limit is written into the SQL, not bound: SQLite re-prepares a statement whose LIMIT is
  // a bound parameter every time it is bound, which cost more than running this query.
  const services = sql`JOIN services s ON s.host = cn.host AND s."binary" = 'nova-compute' AND s.deleted = 0 AND s.disabled = 0
      AND s.forced_down = 0 AND s.last_seen_up >= ${q.upSince}`;
  const where = sql.join(filters, sql` `);
  // Nothing asked (every class at 0): any node that passes the filters, oldest first.
  const { rows } = anchor === null
    ? await sql<Candidate>`SELECT cn.uuid AS uuid, cn.host AS host, cn.hypervisor_hostname AS node, 0 AS free, ${ZONE} AS zone
      FROM compute_nodes cn ${services}
      WHERE cn.deleted = 0 AND cn.unavailable_reason IS NULL ${where}
      ORDER BY ${q.group?.weight ? sql`${q.group.weight}, cn.id` : sql`cn.id`}
      LIMIT ${sql.lit(limit)}`.execute(db)
    : await sql<Candidate>`SELECT cn.uuid AS uuid, cn.host AS host, cn.hypervisor_hostname AS node, ${FREE} AS free, ${ZONE} AS zone
      FROM inventories anchor
      JOIN compute_nodes cn ON cn.uuid = anchor.node_uuid AND cn.deleted = 0 AND cn.unavailable_reason IS NULL
      ${services}
      WHERE anchor.resource_class = ${anchor} ${where}
      ORDER BY ${order}
      LIMIT ${sql.lit(limit)}`.execute(db);
  return rows;
}

// ---- server groups: the candidate query's half of Nova's ServerGroup(Anti)AffinityFilter and
// the soft weighers (the claim's half is the guard in scheduler/server-group-filter.ts)

/** The group a request's instances were booted into, with what its policy allows. */
export interface GroupPlacement {
  group: ServerGroup;
  /** Most members one host may run (anti-affinity; 1 unless the 2.64 rule says more). */
  maxPerHost: number;
}

/** A group's part of the candidate query, built once per instance (groupFilter). */
export interface GroupFilter {
  /** Hard policies: conditions a host must meet. */
  filters: RawBuilder<unknown>[];
  /** Soft policies: what to order by first. */
  weight: RawBuilder<unknown> | null;
}

/** The members (not `instanceUuid`) with a claim on host `host` (an SQL expression over `cn`). */
function membersOn(p: GroupPlacement, instanceUuid: string, hostCondition: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`(SELECT COUNT(DISTINCT a.consumer_uuid) FROM server_group_members m
    JOIN allocations a ON a.consumer_uuid = m.instance_uuid
    JOIN compute_nodes mn ON mn.uuid = a.node_uuid
    WHERE m.group_uuid = ${p.group.uuid} AND m.instance_uuid <> ${instanceUuid} AND ${hostCondition})`;
}

/** The candidate query's part for a member: filters (hard policies) and a weight to order by first (soft ones). */
export function groupFilter(p: GroupPlacement, instanceUuid: string): GroupFilter {
  const here = membersOn(p, instanceUuid, sql`mn.host = cn.host`);
  switch (p.group.policy) {
    case 'anti-affinity':
      return { filters: [sql`AND ${here} < ${p.maxPerHost}`], weight: null };
    case 'affinity':
      return { filters: [sql`AND ${membersOn(p, instanceUuid, sql`mn.host <> cn.host`)} = 0`], weight: null };
    case 'soft-anti-affinity':
      // Fewest members first (Nova's ServerGroupSoftAntiAffinityWeigher), then the usual weigher.
      return { filters: [], weight: sql`${here} ASC` };
    case 'soft-affinity':
      return { filters: [], weight: sql`${here} DESC` };
  }
}
