import type { Db } from './connection.js';
import type { MigrationRow } from './move-records.js';
import { now } from '../common/time.js';

/**
 * The API's reads of migration records (os-migrations, /servers/{id}/migrations) and the one
 * write it makes to one (an abort marks it cancelling). The conductor's flows write the rest
 * (move-records.ts).
 */

/** Nova's "in progress" of a live migration, as server_migrations and os-migrations' links name it. */
export const LIVE_IN_PROGRESS = ['queued', 'preparing', 'running', 'post-migrating'] as const;

export interface MigrationFilter {
  status?: string;
  /** Either end (Nova: source_compute or dest_compute). */
  host?: string;
  sourceCompute?: string;
  instanceUuid?: string;
  migrationType?: string;
  hidden?: boolean;
  /** updated_at ≥ (changes-since) and ≤ (changes-before), ISO strings. */
  changesSince?: string;
  changesBefore?: string;
  userId?: string;
  projectId?: string;
}

export interface MigrationPage {
  limit: number;
  /** The migration the page starts after (2.59 paging, newest first). */
  marker?: MigrationRow;
  /** 2.59: newest first (created_at, id descending); below it: in id order, unpaged. */
  newestFirst: boolean;
}

/** Migration records matching `f`, a page of them. */
export async function listMigrations(db: Db, f: MigrationFilter, page: MigrationPage): Promise<MigrationRow[]> {
  let q = db.selectFrom('migrations').selectAll().where('deleted', '=', 0);
  if (f.status !== undefined) q = q.where('status', '=', f.status);
  if (f.host !== undefined) {
    const host = f.host;
    q = q.where((eb) => eb.or([eb('source_compute', '=', host), eb('dest_compute', '=', host)]));
  }
  if (f.sourceCompute !== undefined) q = q.where('source_compute', '=', f.sourceCompute);
  if (f.instanceUuid !== undefined) q = q.where('instance_uuid', '=', f.instanceUuid);
  if (f.migrationType !== undefined) q = q.where('migration_type', '=', f.migrationType);
  if (f.hidden !== undefined) q = q.where('hidden', '=', f.hidden ? 1 : 0);
  if (f.changesSince !== undefined) q = q.where('updated_at', '>=', f.changesSince);
  if (f.changesBefore !== undefined) q = q.where('updated_at', '<=', f.changesBefore);
  if (f.userId !== undefined) q = q.where('user_id', '=', f.userId);
  if (f.projectId !== undefined) q = q.where('project_id', '=', f.projectId);
  if (!page.newestFirst) return q.orderBy('id').limit(page.limit).execute();
  const m = page.marker;
  if (m) {
    q = q.where((eb) => eb.or([
      eb('created_at', '<', m.created_at),
      eb.and([eb('created_at', '=', m.created_at), eb('id', '<', m.id)]),
    ]));
  }
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).execute();
}

/** A migration of one instance by its integer id (Nova's get_by_id_and_instance), or null. */
export async function migrationOfInstance(db: Db, id: number, instanceUuid: string): Promise<MigrationRow | null> {
  return (await db.selectFrom('migrations').selectAll()
    .where('id', '=', id).where('instance_uuid', '=', instanceUuid).where('deleted', '=', 0)
    .executeTakeFirst()) ?? null;
}

/** The live migrations of an instance under way (Nova's get_migrations_in_progress_by_instance). */
export async function liveMigrationsInProgress(db: Db, instanceUuid: string): Promise<MigrationRow[]> {
  return db.selectFrom('migrations').selectAll()
    .where('instance_uuid', '=', instanceUuid).where('migration_type', '=', 'live-migration')
    .where('status', 'in', [...LIVE_IN_PROGRESS]).where('deleted', '=', 0)
    .orderBy('id').execute();
}

/**
 * The integer ids of flavors by their API ids (Nova's old/new_instance_type_id); a flavor since
 * deleted keeps its row, so deleted ones count, the live one first.
 */
export async function flavorRowIds(db: Db, flavorids: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (flavorids.length === 0) return out;
  const rows = await db.selectFrom('flavors').select(['id', 'flavorid', 'deleted'])
    .where('flavorid', 'in', [...new Set(flavorids)]).orderBy('deleted').orderBy('id', 'desc').execute();
  for (const r of rows) if (!out.has(r.flavorid)) out.set(r.flavorid, r.id);
  return out;
}

/** Sets a migration's status while it is one of `from`: false when it was not (it moved on meanwhile). */
export async function setMigrationStatusIf(db: Db, uuid: string, from: readonly string[], to: string): Promise<boolean> {
  const res = await db.updateTable('migrations').set({ status: to, updated_at: now().toISOString() })
    .where('uuid', '=', uuid).where('status', 'in', [...from]).executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}
