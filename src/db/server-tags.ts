import { NotFound } from '../common/errors.js';
import { now } from '../common/time.js';
import type { Db } from './connection.js';
import { lockKey } from './locks.js';
import { atomically } from './transactions.js';

/** A server's tags (2.26): a JSON array in instances.tags, rewritten whole. */

/**
 * Rewrites the tags of a live instance from its current ones, atomically: `change` gets the
 * current tags and returns the new ones (or throws to refuse). 404 when the instance is gone.
 */
export async function changeInstanceTags(db: Db, uuid: string, change: (current: string[]) => string[]): Promise<string[]> {
  return atomically(db, async (tx) => {
    await lockKey(tx, `instance:${uuid}`); // read-modify-write: concurrent changes queue (PostgreSQL)
    const row = await tx.selectFrom('instances').select('tags').where('uuid', '=', uuid).where('deleted', '=', 0).executeTakeFirst();
    if (!row) throw new NotFound(`Instance ${uuid} could not be found.`);
    const next = change(JSON.parse(row.tags) as string[]);
    await tx.updateTable('instances').set({ tags: JSON.stringify(next), updated_at: now().toISOString() }).where('uuid', '=', uuid).execute();
    return next;
  });
}
