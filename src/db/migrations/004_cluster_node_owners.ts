import type { Kysely } from 'kysely';

/**
 * Expand phase: shared (clustered) nodes and who owns them (docs/drivers.md "Shared nodes and
 * ownership").
 *
 * - `node_owners`: the one compute host serving each shared node, and the ownership
 *   generation, bumped on every move; compute writes about a node carry the generation they
 *   hold and are refused when it is stale.
 * - `cluster_members`: the compute hosts of each back-end and when each last synced; the ring
 *   is built over those seen within service_down_time.
 * - `compute_nodes.unavailable_reason`: why a node takes no boots (gone from its back-end while
 *   it still has instances); null for a usable node. Nullable, so older services ignore it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const s = db.schema;
  await s.createTable('node_owners')
    .addColumn('node_uuid', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('cluster', 'varchar(255)', (c) => c.notNull())
    .addColumn('owner_host', 'varchar(255)', (c) => c.notNull())
    .addColumn('generation', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await s.createIndex('node_owners_cluster').on('node_owners').columns(['cluster', 'owner_host']).execute();
  await s.createTable('cluster_members')
    .addColumn('cluster', 'varchar(255)', (c) => c.notNull())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('last_seen', 'varchar(40)', (c) => c.notNull())
    .addPrimaryKeyConstraint('cluster_members_pk', ['cluster', 'host'])
    .execute();
  await s.alterTable('compute_nodes').addColumn('unavailable_reason', 'varchar(255)').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('compute_nodes').dropColumn('unavailable_reason').execute();
  await db.schema.dropTable('cluster_members').execute();
  await db.schema.dropTable('node_owners').execute();
}
