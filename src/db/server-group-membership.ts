import type { Db } from './connection.js';

/** The uuids of the server groups an instance is a member of (Nova's 2.71 `server_groups`); at most one today. */
export async function serverGroupsOf(db: Db, instanceUuid: string): Promise<string[]> {
  const rows = await db.selectFrom('server_group_members').select('group_uuid').where('instance_uuid', '=', instanceUuid).execute();
  return rows.map((r) => r.group_uuid);
}
