import type { Kysely } from 'kysely';

/**
 * Expand phase: the Bare Metal service's state (Ironic's nodes, ports and node history, issue
 * #16). JSON documents (driver_info, properties, instance_info, extra) are text columns holding
 * JSON; the secret keys of driver_info (ipmi_password) are never in `driver_info` but sealed in
 * `driver_secrets` with the credential keys. `reservation` is the conductor host holding the
 * node's lock until `reservation_expires_at` (a killed conductor's lock runs out). A previous
 * release reads none of it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('bm_nodes')
    .addColumn('uuid', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.unique())
    .addColumn('driver', 'varchar(64)', (c) => c.notNull())
    .addColumn('driver_info', 'text', (c) => c.notNull())
    .addColumn('driver_secrets', 'text')
    .addColumn('driver_secrets_key', 'varchar(64)')
    .addColumn('properties', 'text', (c) => c.notNull())
    .addColumn('extra', 'text', (c) => c.notNull())
    .addColumn('resource_class', 'varchar(80)')
    .addColumn('provision_state', 'varchar(32)', (c) => c.notNull())
    .addColumn('target_provision_state', 'varchar(32)')
    .addColumn('provision_updated_at', 'varchar(40)')
    .addColumn('power_state', 'varchar(32)')
    .addColumn('target_power_state', 'varchar(32)')
    .addColumn('maintenance', 'integer', (c) => c.notNull())
    .addColumn('maintenance_reason', 'text')
    .addColumn('last_error', 'text')
    .addColumn('instance_uuid', 'varchar(36)', (c) => c.unique())
    .addColumn('instance_info', 'text', (c) => c.notNull())
    .addColumn('boot_device', 'varchar(16)')
    .addColumn('boot_device_persistent', 'integer', (c) => c.notNull())
    .addColumn('reservation', 'varchar(255)')
    .addColumn('reservation_expires_at', 'varchar(40)')
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)')
    .execute();
  await db.schema.createIndex('bm_nodes_provision_state_idx').on('bm_nodes').column('provision_state').execute();
  await db.schema.createTable('bm_ports')
    .addColumn('uuid', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('node_uuid', 'varchar(36)', (c) => c.notNull().references('bm_nodes.uuid').onDelete('cascade'))
    .addColumn('address', 'varchar(17)', (c) => c.notNull().unique())
    .addColumn('pxe_enabled', 'integer', (c) => c.notNull())
    .addColumn('extra', 'text', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)')
    .execute();
  await db.schema.createIndex('bm_ports_node_idx').on('bm_ports').column('node_uuid').execute();
  await db.schema.createTable('bm_node_history')
    .addColumn('uuid', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('node_uuid', 'varchar(36)', (c) => c.notNull().references('bm_nodes.uuid').onDelete('cascade'))
    .addColumn('event', 'varchar(64)', (c) => c.notNull())
    .addColumn('severity', 'varchar(16)', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('conductor', 'varchar(255)')
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('bm_node_history_node_idx').on('bm_node_history').columns(['node_uuid', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('bm_node_history').execute();
  await db.schema.dropTable('bm_ports').execute();
  await db.schema.dropTable('bm_nodes').execute();
}
