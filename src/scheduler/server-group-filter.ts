import { sql, type RawBuilder } from 'kysely';
import type { ClaimGuard } from '../db/allocations.js';
import type { Db } from '../db/connection.js';
import { serverGroupsOf } from '../db/server-group-membership.js';
import { getServerGroup, groupClaimLock, membersPlaced, type ServerGroup } from '../db/server-groups.js';

/**
 * Nova's ServerGroupAntiAffinityFilter / ServerGroupAffinityFilter and the soft weighers, for
 * the instances of a request that are members of a server group.
 *
 * Two halves, because a filter alone cannot hold under concurrency: the candidate query skips
 * hosts the policy rules out as the database stands (so the walk finds good hosts), and the
 * claim's guard checks the policy again inside the claim's transaction, under the group's lock,
 * so two parallel boots can never both take the last place a host has for the group.
 */

export interface GroupPlacement {
  group: ServerGroup;
  /** Most members one host may run (anti-affinity; 1 unless the 2.64 rule says more). */
  maxPerHost: number;
}

/** The group the request's instances were booted into (the `group` hint), if any. */
export async function groupPlacementOf(db: Db, instanceUuid: string): Promise<GroupPlacement | null> {
  const [uuid] = await serverGroupsOf(db, instanceUuid);
  if (uuid === undefined) return null;
  const group = await getServerGroup(db, uuid);
  if (!group) return null;
  return { group, maxPerHost: group.rules.max_server_per_host ?? 1 };
}

/** The members (not `instanceUuid`) with a claim on host `host` (an SQL expression over `cn`). */
function membersOn(p: GroupPlacement, instanceUuid: string, hostCondition: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`(SELECT COUNT(DISTINCT a.consumer_uuid) FROM server_group_members m
    JOIN allocations a ON a.consumer_uuid = m.instance_uuid
    JOIN compute_nodes mn ON mn.uuid = a.node_uuid
    WHERE m.group_uuid = ${p.group.uuid} AND m.instance_uuid <> ${instanceUuid} AND ${hostCondition})`;
}

/** The candidate query's part: filters (hard policies) and a weight to order by first (soft ones). */
export function groupQuery(p: GroupPlacement, instanceUuid: string): { filters: RawBuilder<unknown>[]; weight: RawBuilder<unknown> | null } {
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

/** The claim's guard for a hard policy (soft policies only weigh, so any host will do). */
export function groupGuard(p: GroupPlacement, instanceUuid: string): ClaimGuard | undefined {
  if (p.group.policy !== 'anti-affinity' && p.group.policy !== 'affinity') return undefined;
  const anti = p.group.policy === 'anti-affinity';
  return {
    lock: groupClaimLock(p.group.uuid),
    holds: async (tx, nodeUuid) => {
      const placed = await membersPlaced(tx, p.group.uuid, nodeUuid, instanceUuid);
      return anti ? placed.onHost < p.maxPerHost : !placed.elsewhere;
    },
  };
}
