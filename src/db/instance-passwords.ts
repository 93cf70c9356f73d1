import type { Db } from './connection.js';

/**
 * A server's encrypted admin password (os-server-password), as the guest posts it to the
 * metadata service: encrypted with the server's key pair, so Orrery never holds it in clear.
 */

export async function getInstancePassword(db: Db, instanceUuid: string): Promise<string> {
  const row = await db.selectFrom('instance_passwords').select('password').where('instance_uuid', '=', instanceUuid).executeTakeFirst();
  return row?.password ?? '';
}

export async function clearInstancePassword(db: Db, instanceUuid: string): Promise<void> {
  await db.deleteFrom('instance_passwords').where('instance_uuid', '=', instanceUuid).execute();
}

/**
 * Stores the password a guest posts to the metadata service, once (Nova's: a second post is a
 * conflict until the owner clears it). The primary key decides, so of two posts at once one wins.
 * Returns false when the instance already has one.
 */
export async function setInstancePasswordOnce(db: Db, instanceUuid: string, password: string): Promise<boolean> {
  const r = await db.insertInto('instance_passwords').values({ instance_uuid: instanceUuid, password })
    .onConflict((oc) => oc.column('instance_uuid').doNothing()).executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}
