import type { Db } from './connection.js';

/** The traits of compute nodes (their drivers' capabilities among them, CAPABILITY_TRAITS). */

/** Whether node `nodeUuid` has `trait`. */
export async function nodeHasTrait(db: Db, nodeUuid: string, trait: string): Promise<boolean> {
  const row = await db.selectFrom('node_traits').select('trait')
    .where('node_uuid', '=', nodeUuid).where('trait', '=', trait).executeTakeFirst();
  return row !== undefined;
}
