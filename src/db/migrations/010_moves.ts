import { PostgresAdapter, sql, type Kysely } from 'kysely';

/**
 * Expand phase: moves (issue #12). `migrations` is Nova's migration record (what os-migrations
 * and /servers/{id}/migrations show), with the flavors of a resize kept on it for a revert;
 * `task_flows` is the conductor's persisted flow of one move, shelve or unshelve: the step it
 * reached, who drives it (owner + lease) and what its steps learned (payload, JSON). A previous
 * release reads neither table, and the instance columns added are nullable.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  const table = db.schema.createTable('migrations');
  await (pg ? table.addColumn('id', 'serial', (c) => c.primaryKey()) : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement()))
    .addColumn('uuid', 'varchar(36)', (c) => c.notNull().unique())
    .addColumn('instance_uuid', 'varchar(36)', (c) => c.notNull())
    .addColumn('migration_type', 'varchar(20)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('source_compute', 'varchar(255)')
    .addColumn('source_node', 'varchar(255)')
    .addColumn('source_node_uuid', 'varchar(36)')
    .addColumn('dest_compute', 'varchar(255)')
    .addColumn('dest_node', 'varchar(255)')
    .addColumn('dest_node_uuid', 'varchar(36)')
    .addColumn('dest_host', 'varchar(255)')
    .addColumn('old_flavor', 'text')
    .addColumn('new_flavor', 'text')
    .addColumn('memory_total', 'bigint')
    .addColumn('memory_processed', 'bigint')
    .addColumn('memory_remaining', 'bigint')
    .addColumn('disk_total', 'bigint')
    .addColumn('disk_processed', 'bigint')
    .addColumn('disk_remaining', 'bigint')
    .addColumn('hidden', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('user_id', 'varchar(255)')
    .addColumn('project_id', 'varchar(255)')
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)')
    .addColumn('deleted_at', 'varchar(40)')
    .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('migrations_instance_idx').on('migrations').columns(['instance_uuid', 'created_at']).execute();
  await db.schema.createIndex('migrations_updated_idx').on('migrations').columns(['updated_at', 'id']).execute();

  await db.schema.createTable('task_flows')
    .addColumn('uuid', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('kind', 'varchar(32)', (c) => c.notNull())
    .addColumn('instance_uuid', 'varchar(36)', (c) => c.notNull())
    .addColumn('migration_uuid', 'varchar(36)')
    .addColumn('step', 'varchar(64)', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('owner', 'varchar(255)')
    .addColumn('lease_until', 'varchar(40)', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('request_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(255)')
    .addColumn('project_id', 'varchar(255)')
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  // One flow under way per instance: a second move of a moving instance is refused by the database.
  await sql`CREATE UNIQUE INDEX task_flows_one_live ON task_flows (instance_uuid) WHERE status <> 'done'`.execute(db);
  await db.schema.createIndex('task_flows_lease_idx').on('task_flows').columns(['status', 'lease_until']).execute();

  // Shelve: the snapshot an offloaded instance is unshelved from, and when it was shelved
  // (shelved_offload_time counts from it). Nova keeps both in system_metadata.
  await db.schema.alterTable('instances').addColumn('shelved_image_id', 'varchar(36)').execute();
  await db.schema.alterTable('instances').addColumn('shelved_at', 'varchar(40)').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('instances').dropColumn('shelved_at').execute();
  await db.schema.alterTable('instances').dropColumn('shelved_image_id').execute();
  await db.schema.dropTable('task_flows').execute();
  await db.schema.dropTable('migrations').execute();
}
