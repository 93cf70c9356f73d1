import type { Selectable } from 'kysely';
import type { Db } from './connection.js';
import type { ImageTaskTable } from './catalog-schema.js';

/** Glance's tasks: one per image import, kept until it expires. */

export type ImageTaskRow = Selectable<ImageTaskTable>;

export async function insertTask(db: Db, row: ImageTaskRow): Promise<void> {
  await db.insertInto('image_tasks').values(row).execute();
}

export async function getTask(db: Db, id: string): Promise<ImageTaskRow | null> {
  return (await db.selectFrom('image_tasks').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export async function updateTask(db: Db, id: string, changes: Partial<Omit<ImageTaskRow, 'id' | 'created_at'>>): Promise<void> {
  await db.updateTable('image_tasks').set(changes).where('id', '=', id).execute();
}

export interface TaskListQuery {
  /** Null: every project's (an admin). */
  owner: string | null;
  type?: string;
  status?: string;
  imageId?: string;
  dir: 'asc' | 'desc';
  limit: number;
  /** The task after which the page starts. */
  marker?: ImageTaskRow;
}

/** A page of tasks by creation time (id breaks ties), after the marker. */
export async function listTasks(db: Db, q: TaskListQuery): Promise<ImageTaskRow[]> {
  let query = db.selectFrom('image_tasks').selectAll();
  if (q.owner !== null) query = query.where('owner', '=', q.owner);
  if (q.type !== undefined) query = query.where('type', '=', q.type);
  if (q.status !== undefined) query = query.where('status', '=', q.status);
  if (q.imageId !== undefined) query = query.where('image_id', '=', q.imageId);
  const m = q.marker;
  if (m) {
    const op = q.dir === 'asc' ? '>' : '<';
    query = query.where((eb) => eb.or([eb('created_at', op, m.created_at), eb.and([eb('created_at', '=', m.created_at), eb('id', op, m.id)])]));
  }
  return query.orderBy('created_at', q.dir).orderBy('id', q.dir).limit(q.limit).execute();
}

/** Removes the tasks whose time to live has passed (Glance's task scrubbing); returns how many. */
export async function deleteExpiredTasks(db: Db, nowIso: string): Promise<number> {
  const res = await db.deleteFrom('image_tasks').where('expires_at', 'is not', null).where('expires_at', '<', nowIso).executeTakeFirst();
  return Number(res.numDeletedRows);
}

/** Tasks still running whose last sign of life is older than `beforeIso`: their process went away. */
export async function staleRunningTasks(db: Db, beforeIso: string): Promise<ImageTaskRow[]> {
  return db.selectFrom('image_tasks').selectAll().where('status', 'in', ['pending', 'processing']).where('updated_at', '<', beforeIso).limit(100).execute();
}
