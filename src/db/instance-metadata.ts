import type { Db } from './connection.js';
import { lockKey } from './locks.js';

/** A server's metadata as a whole (the items one at a time are server-metadata.ts's routes). */

/**
 * Replaces every metadata item of instance `uuid` with `metadata`, under the instance's lock key
 * as every metadata change, so that two replacements never interleave.
 */
export async function replaceInstanceMetadata(db: Db, uuid: string, metadata: Record<string, string>): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await lockKey(tx, `instance:${uuid}`);
    await tx.deleteFrom('instance_metadata').where('instance_uuid', '=', uuid).execute();
    const entries = Object.entries(metadata);
    if (entries.length > 0) {
      await tx.insertInto('instance_metadata').values(entries.map(([key, value]) => ({ instance_uuid: uuid, key, value }))).execute();
    }
  });
}
