import type { Config } from '../common/config.js';
import { now } from '../common/time.js';
import type { Db } from './connection.js';
import { metadataFor } from './instances.js';
import { lockKey } from './locks.js';
import { checkMetadataQuota } from './quota-check.js';
import { atomically } from './transactions.js';

/** A server's metadata items (Nova's server_metadata): read, and rewritten whole under the project's quota. */

/** The metadata of one instance. */
export async function instanceMetadata(db: Db, uuid: string): Promise<Record<string, string>> {
  return (await metadataFor(db, [uuid])).get(uuid) ?? {};
}

/**
 * Applies a change to an instance's metadata in one transaction: `change` gets the current
 * items and returns the new ones, which must fit the project's metadata_items quota when
 * `quota` names it (deletes are not checked, as in Nova).
 */
export async function changeInstanceMetadata(
  db: Db, uuid: string, change: (current: Record<string, string>) => Record<string, string>,
  quota?: { config: Config; projectId: string },
): Promise<Record<string, string>> {
  return atomically(db, async (tx) => {
    await lockKey(tx, `instance:${uuid}`); // read-modify-write: concurrent changes queue (PostgreSQL)
    const next = change(await instanceMetadata(tx, uuid));
    if (quota) await checkMetadataQuota(tx, quota.config, quota.projectId, Object.keys(next).length);
    await tx.deleteFrom('instance_metadata').where('instance_uuid', '=', uuid).execute();
    const entries = Object.entries(next);
    if (entries.length > 0) {
      await tx.insertInto('instance_metadata').values(entries.map(([key, value]) => ({ instance_uuid: uuid, key, value }))).execute();
    }
    await tx.updateTable('instances').set({ updated_at: now().toISOString() }).where('uuid', '=', uuid).execute();
    return next;
  });
}
