import type { Kysely } from 'kysely';

/**
 * Expand phase: what the servers API of microversions up to 2.93 keeps per instance.
 *
 * - `auto_disk_config`: `OS-DCF:diskConfig` as Nova stores it (1 = AUTO, 0 = MANUAL); NULL on
 *   rows written before, which read as MANUAL, the only value earlier releases answered.
 * - `locked_reason`: the reason given to `lock` (2.73), shown while the server is locked.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('instances').addColumn('auto_disk_config', 'integer').execute();
  await db.schema.alterTable('instances').addColumn('locked_reason', 'varchar(255)').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('instances').dropColumn('locked_reason').execute();
  await db.schema.alterTable('instances').dropColumn('auto_disk_config').execute();
}
