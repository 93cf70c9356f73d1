import { PostgresAdapter, sql, type Expression, type ExpressionBuilder, type Insertable, type RawBuilder, type Selectable, type SqlBool } from 'kysely';
import type { Db } from './connection.js';
import { atomically } from './transactions.js';
import type { Database, ImageMemberTable, ImageTable } from './schema.js';

/** The image repository: image records, their members, and the visibility-aware listing. */

export type ImageRow = Selectable<ImageTable>;
export type ImageMemberRow = Selectable<ImageMemberTable>;
export type ImageChanges = Partial<Omit<ImageRow, 'id' | 'created_at'>>;

export type Visibility = 'public' | 'private' | 'shared' | 'community';
export type MemberStatus = 'pending' | 'accepted' | 'rejected';

/** Who is looking: admins see everything, others what Glance's visibility rules allow. */
export interface ImageViewer {
  projectId: string | null;
  isAdmin: boolean;
}

export async function getImageRow(db: Db, id: string): Promise<ImageRow | null> {
  return (await db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export async function insertImage(db: Db, row: Insertable<ImageTable>): Promise<void> {
  await db.insertInto('images').values(row).execute();
}

/**
 * Updates an image; with `whenStatus`, only while its status is that one (how status
 * transitions stay race-free). Returns whether a row changed.
 */
export async function updateImage(db: Db, id: string, changes: ImageChanges, whenStatus?: string): Promise<boolean> {
  let q = db.updateTable('images').set(changes).where('id', '=', id);
  if (whenStatus !== undefined) q = q.where('status', '=', whenStatus);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function deleteImageRow(db: Db, id: string): Promise<void> {
  await atomically(db, async (tx) => {
    await tx.deleteFrom('image_members').where('image_id', '=', id).execute();
    await tx.deleteFrom('images').where('id', '=', id).execute();
  });
}

export async function countImages(db: Db): Promise<number> {
  const row = await db.selectFrom('images').select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

// ---- members

export async function getMember(db: Db, imageId: string, memberId: string): Promise<ImageMemberRow | null> {
  return (await db.selectFrom('image_members').selectAll()
    .where('image_id', '=', imageId).where('member_id', '=', memberId).executeTakeFirst()) ?? null;
}

export async function listMembers(db: Db, imageId: string): Promise<ImageMemberRow[]> {
  return db.selectFrom('image_members').selectAll().where('image_id', '=', imageId)
    .orderBy('created_at').orderBy('member_id').execute();
}

export async function insertMember(db: Db, row: ImageMemberRow): Promise<void> {
  await db.insertInto('image_members').values(row).execute();
}

export async function updateMemberStatus(db: Db, imageId: string, memberId: string, status: MemberStatus, at: string): Promise<void> {
  await db.updateTable('image_members').set({ status, updated_at: at })
    .where('image_id', '=', imageId).where('member_id', '=', memberId).execute();
}

export async function deleteMember(db: Db, imageId: string, memberId: string): Promise<boolean> {
  const res = await db.deleteFrom('image_members')
    .where('image_id', '=', imageId).where('member_id', '=', memberId).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

// ---- listing

/** Columns a list may sort on; nullable ones sort as '' or -1 so both databases agree on order. */
export const IMAGE_SORT_KEYS = {
  name: 'text', status: 'text', container_format: 'text', disk_format: 'text', size: 'number', virtual_size: 'number',
  id: 'text', created_at: 'text', updated_at: 'text', min_disk: 'number', min_ram: 'number', visibility: 'text',
  owner: 'text', protected: 'number', os_hidden: 'number',
} as const;
export type ImageSortKey = keyof typeof IMAGE_SORT_KEYS;
export interface ImageSort { key: ImageSortKey; dir: 'asc' | 'desc' }

/** A filter value: exact, or one of several (Glance's `in:a,b`). */
export type Match = string | { in: string[] };

export interface ImageListFilters {
  id?: Match;
  name?: Match;
  status?: Match;
  disk_format?: Match;
  container_format?: Match;
  owner?: string;
  /** Glance's visibility filter; 'all' also shows community images. */
  visibility?: Visibility | 'all';
  /** For shared images the viewer is a member of; Glance's default is accepted. */
  member_status?: MemberStatus | 'all';
  /** Every listed tag must be present. */
  tags?: string[];
  os_hidden?: boolean;
  protected?: boolean;
  size_min?: number;
  size_max?: number;
  /** Extra properties that must have exactly these values. */
  properties?: Record<string, string>;
  created_at?: TimeFilter;
  updated_at?: TimeFilter;
}

/** Glance's time filters, e.g. `created_at=gte:2026-01-01T00:00:00Z`; value is ISO-8601 as stored. */
export interface TimeFilter { op: keyof typeof TIME_OPS; value: string }
export const TIME_OPS = { gt: '>', gte: '>=', lt: '<', lte: '<=', eq: '=', neq: '<>' } as const;

export interface ImageListQuery {
  viewer: ImageViewer;
  filters: ImageListFilters;
  sort: ImageSort[];
  limit: number;
  /** The row after which the page starts (already checked to be visible). */
  marker?: ImageRow;
}

type Eb = ExpressionBuilder<Database, 'images'>;

function sortExpr(key: ImageSortKey): RawBuilder<unknown> {
  return IMAGE_SORT_KEYS[key] === 'text' ? sql`coalesce(${sql.ref(key)}, '')` : sql`coalesce(${sql.ref(key)}, -1)`;
}

function sortValue(row: ImageRow, key: ImageSortKey): string | number {
  const v = row[key];
  if (v === null) return IMAGE_SORT_KEYS[key] === 'text' ? '' : -1;
  return v;
}

/** Exact, case-sensitive substring test, in each database's own spelling. */
function contains(db: Db, column: 'tags' | 'properties', needle: string): RawBuilder<SqlBool> {
  return db.getExecutor().adapter instanceof PostgresAdapter
    ? sql<SqlBool>`strpos(${sql.ref(column)}, ${needle}) > 0`
    : sql<SqlBool>`instr(${sql.ref(column)}, ${needle}) > 0`;
}

function matches(eb: Eb, column: 'id' | 'name' | 'status' | 'disk_format' | 'container_format', m: Match): Expression<SqlBool> {
  if (typeof m === 'string') return eb(column, '=', m);
  return m.in.length === 0 ? sql<SqlBool>`1 = 0` : eb(column, 'in', m.in);
}

/** The images a viewer may list, per Glance's rules (community images only when asked for). */
function visibleTo(eb: Eb, viewer: ImageViewer, visibility: ImageListFilters['visibility'], memberStatus: MemberStatus | 'all'): Expression<SqlBool> {
  if (viewer.isAdmin) {
    return visibility === undefined || visibility === 'all' ? sql<SqlBool>`1 = 1` : eb('visibility', '=', visibility);
  }
  const p = viewer.projectId;
  const owned = p === null ? sql<SqlBool>`1 = 0` : eb('owner', '=', p);
  let members = eb.selectFrom('image_members').select('image_members.image_id')
    .where('image_members.member_id', '=', p ?? '');
  if (memberStatus !== 'all') members = members.where('image_members.status', '=', memberStatus);
  const sharedWithMe = eb.and([eb('visibility', '=', 'shared'), eb('id', 'in', members)]);
  switch (visibility) {
    case undefined:
      return eb.or([eb('visibility', '=', 'public'), owned, sharedWithMe]);
    case 'all':
      return eb.or([eb('visibility', '=', 'public'), eb('visibility', '=', 'community'), owned, sharedWithMe]);
    case 'public':
    case 'community':
      return eb('visibility', '=', visibility);
    case 'private':
      return eb.and([eb('visibility', '=', 'private'), owned]);
    case 'shared':
      return eb.and([eb('visibility', '=', 'shared'), eb.or([owned, sharedWithMe])]);
  }
}

/** One page of the images a viewer may see, filtered and sorted, after the marker. */
export async function listImages(db: Db, q: ImageListQuery): Promise<ImageRow[]> {
  const f = q.filters;
  let query = db.selectFrom('images').selectAll()
    .where((eb) => visibleTo(eb, q.viewer, f.visibility, f.member_status ?? 'accepted'));
  for (const column of ['id', 'name', 'status', 'disk_format', 'container_format'] as const) {
    const m = f[column];
    if (m !== undefined) query = query.where((eb) => matches(eb, column, m));
  }
  if (f.owner !== undefined) query = query.where('owner', '=', f.owner);
  query = query.where('os_hidden', '=', f.os_hidden ? 1 : 0);
  if (f.protected !== undefined) query = query.where('protected', '=', f.protected ? 1 : 0);
  if (f.size_min !== undefined) query = query.where('size', '>=', f.size_min);
  if (f.size_max !== undefined) query = query.where('size', '<=', f.size_max);
  for (const column of ['created_at', 'updated_at'] as const) {
    const t = f[column];
    if (t !== undefined) query = query.where(column, TIME_OPS[t.op], t.value);
  }
  // Tags and properties are JSON text written by JSON.stringify; an element or pair appears verbatim.
  for (const tag of f.tags ?? []) query = query.where(contains(db, 'tags', JSON.stringify(tag)));
  for (const [k, v] of Object.entries(f.properties ?? {})) {
    query = query.where(contains(db, 'properties', `${JSON.stringify(k)}:${JSON.stringify(v)}`));
  }

  // id breaks ties so that the order, and with it keyset pagination, is total.
  const keys: ImageSort[] = [...q.sort];
  if (!keys.some((k) => k.key === 'id')) keys.push({ key: 'id', dir: keys[keys.length - 1]?.dir ?? 'desc' });
  const marker = q.marker;
  if (marker) {
    query = query.where((eb) => eb.or(keys.map((k, i) => eb.and([
      ...keys.slice(0, i).map((prev) => eb(sortExpr(prev.key), '=', sortValue(marker, prev.key))),
      eb(sortExpr(k.key), k.dir === 'asc' ? '>' : '<', sortValue(marker, k.key)),
    ]))));
  }
  for (const k of keys) query = query.orderBy(sortExpr(k.key), k.dir);
  return query.limit(q.limit).execute();
}
