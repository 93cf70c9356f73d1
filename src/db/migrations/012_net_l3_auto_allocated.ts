import type { Kysely } from 'kysely';

/**
 * Expand phase: Neutron's auto_allocated_topologies (issue #13, get-me-a-network). The primary
 * key makes one topology per project under concurrency; the unique cidr makes every project's
 * auto-allocated /24 its own. A previous release reads none of it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('auto_allocated_topologies')
    .addColumn('project_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('cidr', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('network_id', 'varchar(36)')
    .addColumn('subnet_id', 'varchar(36)')
    .addColumn('router_id', 'varchar(36)')
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('auto_allocated_topologies').execute();
}
