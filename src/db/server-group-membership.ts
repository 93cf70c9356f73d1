import type { Db } from './connection.js';

/**
 * The server groups an instance belongs to (2.71's `server_groups`, at most one in Nova). The
 * server-group tables arrive with the groups-admin branch (migration 008); until then no
 * instance belongs to any group, and this seam is the one line that branch replaces.
 */
export async function serverGroupsOf(_db: Db, _instanceUuid: string): Promise<string[]> {
  return [];
}
