import { type Kysely, sql } from 'kysely';

/**
 * Indexes for the scheduler. One on what is free of each resource class, so the scheduler walks nodes best-first
 * (most free RAM) and stops after a few: its cost stays flat as the number of nodes grows.
 * The expression must match the scheduler's ORDER BY exactly. Expand phase: only adds.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX inventories_free ON inventories (resource_class, ((total - reserved) * allocation_ratio - used))`.execute(db);
  // The zone filter looks a node's host up in its aggregates.
  await db.schema.createIndex('aggregate_hosts_host').on('aggregate_hosts').column('host').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX inventories_free`.execute(db);
  await db.schema.dropIndex('aggregate_hosts_host').execute();
}
