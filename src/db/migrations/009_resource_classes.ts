import type { Kysely } from 'kysely';

/**
 * Expand phase: the custom resource classes Placement knows (`PUT /resource_classes/CUSTOM_X`,
 * or recorded when a node first reports one). Standard classes are not rows: they are the
 * fixed list of src/common/resource-classes.ts. Inventories keep naming their class by name, as
 * before, so a previous release reading them sees nothing new.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('resource_classes')
    .addColumn('name', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('resource_classes').execute();
}
