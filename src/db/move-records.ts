import type { Selectable } from 'kysely';
import { now } from '../common/time.js';
import { releaseResources } from './allocations.js';
import type { Db } from './connection.js';
import type { MigrationTable } from './schema.js';
import { atomically } from './transactions.js';

/** The migration records of moves, as the conductor's flows write them (the API's reads: migration-list.ts). */

export type MigrationRow = Selectable<MigrationTable>;
export type MigrationUpdates = Partial<Omit<MigrationRow, 'id' | 'uuid' | 'instance_uuid' | 'created_at'>>;

export async function getMigration(db: Db, uuid: string): Promise<MigrationRow | null> {
  return (await db.selectFrom('migrations').selectAll().where('uuid', '=', uuid).executeTakeFirst()) ?? null;
}

/** Updates a migration record (its updated_at too: os-migrations' changes-since reads it). */
export async function updateMigration(db: Db, uuid: string, updates: MigrationUpdates): Promise<void> {
  await db.updateTable('migrations').set({ ...updates, updated_at: now().toISOString() }).where('uuid', '=', uuid).execute();
}

/** A live migration's latest progress (compute → conductor migration_progress); only while it runs. */
export async function recordMoveProgress(db: Db, uuid: string, p: {
  memoryTotal: number; memoryProcessed: number; memoryRemaining: number; diskTotal: number; diskProcessed: number; diskRemaining: number;
}): Promise<void> {
  await db.updateTable('migrations').set({
    memory_total: p.memoryTotal, memory_processed: p.memoryProcessed, memory_remaining: p.memoryRemaining,
    disk_total: p.diskTotal, disk_processed: p.diskProcessed, disk_remaining: p.diskRemaining, updated_at: now().toISOString(),
  }).where('uuid', '=', uuid).where('status', 'in', ['preparing', 'running', 'queued']).execute();
}

/** Moves what `from` holds to `to` (Nova's move_allocations): the source's claim under the migration's uuid, and back. Idempotent. */
export async function moveAllocations(db: Db, from: string, to: string): Promise<void> {
  await db.updateTable('allocations').set({ consumer_uuid: to }).where('consumer_uuid', '=', from).execute();
}

/** Evacuations from `host` its source has not cleaned up: done (the instance runs elsewhere) or under way. */
export async function evacuationsFromHost(db: Db, host: string): Promise<Array<{ migrationUuid: string; instanceUuid: string; node: string; done: boolean }>> {
  const rows = await db.selectFrom('migrations').select(['uuid', 'instance_uuid', 'source_node', 'status'])
    .where('migration_type', '=', 'evacuation').where('status', 'in', ['accepted', 'pre-migrating', 'done'])
    .where('source_compute', '=', host).where('deleted', '=', 0)
    .execute();
  return rows.map((r) => ({ migrationUuid: r.uuid, instanceUuid: r.instance_uuid, node: r.source_node ?? '', done: r.status === 'done' }));
}

/** The source cleaned up after an evacuation: its claim there released, the migration completed. Idempotent. */
export async function completeEvacuation(db: Db, uuid: string): Promise<void> {
  await atomically(db, async (tx) => {
    const res = await tx.updateTable('migrations').set({ status: 'completed', updated_at: now().toISOString() })
      .where('uuid', '=', uuid).where('migration_type', '=', 'evacuation').where('status', '=', 'done').executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) await releaseResources(tx, uuid);
  });
}
