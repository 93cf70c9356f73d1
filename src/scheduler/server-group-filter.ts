import type { ClaimGuard } from '../db/allocations.js';
import type { Db } from '../db/connection.js';
import type { GroupPlacement } from '../db/host-candidates.js';
import { serverGroupsOf } from '../db/server-group-membership.js';
import { getServerGroup, groupClaimLock, membersPlaced } from '../db/server-groups.js';

/**
 * Nova's ServerGroupAntiAffinityFilter / ServerGroupAffinityFilter and the soft weighers, for
 * the instances of a request that are members of a server group.
 *
 * Two halves, because a filter alone cannot hold under concurrency: the candidate query skips
 * hosts the policy rules out as the database stands (groupFilter in db/host-candidates.ts, so the
 * walk finds good hosts), and the claim's guard checks the policy again inside the claim's
 * transaction, under the group's lock, so two parallel boots can never both take the last place
 * a host has for the group.
 */

/** The group the request's instances were booted into (the `group` hint), if any. */
export async function groupPlacementOf(db: Db, instanceUuid: string): Promise<GroupPlacement | null> {
  const [uuid] = await serverGroupsOf(db, instanceUuid);
  if (uuid === undefined) return null;
  const group = await getServerGroup(db, uuid);
  if (!group) return null;
  return { group, maxPerHost: group.rules.max_server_per_host ?? 1 };
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
