import { randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { Db } from './connection.js';
import type { BmNodeHistoryTable } from './schema-baremetal.js';

/** Every step done to a node (Ironic's node history): power, boot device, deploy and clean steps, their errors. */

export type BmNodeHistoryRow = Selectable<BmNodeHistoryTable>;
export type HistorySeverity = 'INFO' | 'WARNING' | 'ERROR';

/** Most history rows kept per node: older ones are removed as new ones come (a node power-synced for years stays bounded). */
export const HISTORY_PER_NODE = 500;

export async function recordNodeHistory(
  db: Db, e: { node_uuid: string; event: string; severity: HistorySeverity; message: string; conductor: string | null }, now = new Date(),
): Promise<void> {
  await db.insertInto('bm_node_history').values({ uuid: randomUUID(), ...e, created_at: now.toISOString() }).execute();
  const cutoff = await db.selectFrom('bm_node_history').select('created_at').where('node_uuid', '=', e.node_uuid)
    .orderBy('created_at', 'desc').offset(HISTORY_PER_NODE).limit(1).executeTakeFirst();
  if (cutoff) {
    await db.deleteFrom('bm_node_history').where('node_uuid', '=', e.node_uuid).where('created_at', '<=', cutoff.created_at).execute();
  }
}

/** A node's history, oldest first, at most `limit` rows. */
export async function listNodeHistory(db: Db, nodeUuid: string, limit: number): Promise<BmNodeHistoryRow[]> {
  return db.selectFrom('bm_node_history').selectAll().where('node_uuid', '=', nodeUuid)
    .orderBy('created_at').orderBy('uuid').limit(limit).execute();
}
