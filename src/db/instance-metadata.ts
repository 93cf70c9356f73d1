import type { Config } from '../common/config.js';
import { now } from '../common/time.js';
import type { Db } from './connection.js';
import { metadataFor } from './instances.js';
import { lockKey } from './locks.js';
import { checkMetadataQuota } from './quota-check.js';
import { atomically } from './transactions.js';

/**
 * A server's metadata items (Nova's server_metadata), rewritten whole under the instance's lock
 * key, as every metadata change, so that two changes never interleave.
 */

/** The metadata of one instance. */
export async function instanceMetadata(db: Db, uuid: string): Promise<Record<string, string>> {
  return (await metadataFor(db, [uuid])).get(uuid) ?? {};
}

/** Inside a transaction holding the instance's lock key: the items of `uuid` become `metadata`. */
async function writeItems(tx: Db, uuid: string, metadata: Record<string, string>): Promise<void> {
  await tx.deleteFrom('instance_metadata').where('instance_uuid', '=', uuid).execute();
  const entries = Object.entries(metadata);
  if (entries.length > 0) {
    await tx.insertInto('instance_metadata').values(entries.map(([key, value]) => ({ instance_uuid: uuid, key, value }))).execute();
  }
}

/**
 * Replaces every metadata item of instance `uuid` with `metadata`, under the instance's lock key
 * as every metadata change, so that two replacements never interleave.
 */
export async function replaceInstanceMetadata(db: Db, uuid: string, metadata: Record<string, string>): Promise<void> {
  await atomically(db, async (tx) => {
    await lockKey(tx, `instance:${uuid}`);
    await writeItems(tx, uuid, metadata);
  });
}

/**
 * Applies a change to an instance's metadata in one transaction: `change` gets the current
 * items and returns the new ones, which must fit the project's metadata_items quota when
 * `quota` names it (deletes are not checked, as in Nova). The instance's updated_at moves.
 */
export async function changeInstanceMetadata(
  db: Db, uuid: string, change: (current: Record<string, string>) => Record<string, string>,
  quota?: { config: Config; projectId: string },
): Promise<Record<string, string>> {
  return atomically(db, async (tx) => {
    await lockKey(tx, `instance:${uuid}`); // read-modify-write: concurrent changes queue (PostgreSQL)
    const next = change(await instanceMetadata(tx, uuid));
    if (quota) await checkMetadataQuota(tx, quota.config, quota.projectId, Object.keys(next).length);
    await writeItems(tx, uuid, next);
    await tx.updateTable('instances').set({ updated_at: now().toISOString() }).where('uuid', '=', uuid).execute();
    return next;
  });
}
