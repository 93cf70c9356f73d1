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
