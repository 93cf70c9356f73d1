import type { Db } from './connection.js';

/** The tables whose rows carry Neutron's standard-attr tags (a JSON list of strings in `tags`). */
export type TaggedTable = 'networks' | 'subnets' | 'ports' | 'security_groups' | 'routers' | 'floating_ips';

export async function getTags(db: Db, table: TaggedTable, id: string): Promise<string[] | null> {
  // Every tagged table has the same id/tags columns; one table type stands for all of them.
  const row = await db.selectFrom(table as 'networks').select('tags').where('id', '=', id).executeTakeFirst();
  return row ? (JSON.parse(row.tags) as string[]) : null;
}

/** Replaces a row's tags (a tag change is a change: the revision goes up); false when the row is gone. */
export async function setTags(db: Db, table: TaggedTable, id: string, tags: readonly string[], at: string): Promise<boolean> {
  const r = await db.updateTable(table as 'networks')
    .set((eb) => ({ tags: JSON.stringify(tags), updated_at: at, revision_number: eb('revision_number', '+', 1) }))
    .where('id', '=', id).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
