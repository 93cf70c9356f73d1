import { isCustomResourceClass, STANDARD_RESOURCE_CLASSES } from '../common/resource-classes.js';
import { now } from '../common/time.js';
import type { Db } from './connection.js';

/** Every class Placement knows: the standard list, then the custom classes in name order. */
export async function listResourceClasses(db: Db): Promise<string[]> {
  const rows = await db.selectFrom('resource_classes').select('name').orderBy('name').execute();
  return [...STANDARD_RESOURCE_CLASSES, ...rows.map((r) => r.name)];
}

export async function resourceClassExists(db: Db, name: string): Promise<boolean> {
  if (STANDARD_RESOURCE_CLASSES.includes(name)) return true;
  return (await db.selectFrom('resource_classes').select('name').where('name', '=', name).executeTakeFirst()) !== undefined;
}

/**
 * Records a custom class; false when it was known already. Concurrent callers may record the
 * same class: the insert of the later one does nothing.
 */
export async function createResourceClass(db: Db, name: string): Promise<boolean> {
  const res = await db.insertInto('resource_classes').values({ name, created_at: now().toISOString() })
    .onConflict((oc) => oc.column('name').doNothing()).executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Records the custom classes among `names` that are not known yet (one read when they all are). */
export async function ensureCustomClasses(db: Db, names: Iterable<string>): Promise<void> {
  const wanted = [...new Set(names)].filter(isCustomResourceClass).sort();
  if (wanted.length === 0) return;
  const known = new Set((await db.selectFrom('resource_classes').select('name').where('name', 'in', wanted).execute()).map((r) => r.name));
  for (const name of wanted) if (!known.has(name)) await createResourceClass(db, name);
}
