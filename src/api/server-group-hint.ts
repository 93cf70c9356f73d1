import type { FastifyRequest } from 'fastify';
import { BadRequest } from '../common/errors.js';
import { isUuidLike } from '../common/ids.js';
import type { Db } from '../db/connection.js';
import { addGroupMembers, getServerGroup } from '../db/server-groups.js';
import { UNLIMITED } from '../db/quotas.js';

/**
 * The scheduler hint `group` of POST /servers: the server group the new servers join. The
 * group must exist and be the caller's project's (an admin may name any); the members are
 * written with the instances, under the group's lock and its server_group_members quota.
 */

type Hints = Record<string, unknown> | undefined;

/** The group a create names (either hints key Nova accepts), checked; null when it names none. */
export async function requestedGroup(db: Db, req: FastifyRequest, body: { 'os:scheduler_hints'?: Hints; 'OS-SCH-HNT:scheduler_hints'?: Hints }): Promise<string | null> {
  const hints = body['os:scheduler_hints'] ?? body['OS-SCH-HNT:scheduler_hints'];
  if (hints === undefined || !Object.hasOwn(hints, 'group')) return null;
  const value = hints.group;
  if (typeof value !== 'string') {
    throw new BadRequest(`Invalid input for field/attribute group. Value: ${JSON.stringify(value)}. ${JSON.stringify(value)} is not of type 'string'`);
  }
  if (!isUuidLike(value)) throw new BadRequest(`Invalid input for field/attribute group. Value: ${value}. '${value}' is not a 'uuid'`);
  const group = await getServerGroup(db, value);
  if (!group || (!req.auth.isAdmin && group.projectId !== req.auth.projectId)) {
    throw new BadRequest(`Instance group ${value} could not be found.`);
  }
  return group.uuid;
}

/** What the create's transaction writes beside the instances: their membership in `groupUuid`. */
export function joinGroup(groupUuid: string, limits: Record<string, number>): (tx: Db, instanceUuids: string[]) => Promise<void> {
  return (tx, instanceUuids) => addGroupMembers(tx, groupUuid, instanceUuids, limits.server_group_members ?? UNLIMITED);
}
