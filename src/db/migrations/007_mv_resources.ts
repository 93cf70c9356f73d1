import type { Kysely } from 'kysely';

/**
 * Expand phase for the compute resources of microversions 2.38–2.93:
 *
 * - `quota_classes`: os-quota-class-sets. The `default` class's rows override the configured
 *   defaults for every project without limits of its own.
 * - `project_user_quotas`: per-user limits inside a project (os-quota-sets?user_id=).
 * - `compute_nodes.started_at`: when the node's driver started (ISO-8601), for
 *   os-hypervisors/{id}/uptime and the uptime of 2.88; null while a driver does not say.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const s = db.schema;
  await s.createTable('quota_classes')
    .addColumn('class_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('resource', 'varchar(255)', (c) => c.notNull())
    .addColumn('hard_limit', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('quota_classes_pk', ['class_name', 'resource'])
    .execute();
  await s.createTable('project_user_quotas')
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('resource', 'varchar(255)', (c) => c.notNull())
    .addColumn('hard_limit', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('project_user_quotas_pk', ['project_id', 'user_id', 'resource'])
    .execute();
  await s.alterTable('compute_nodes').addColumn('started_at', 'varchar(40)').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('compute_nodes').dropColumn('started_at').execute();
  await db.schema.dropTable('project_user_quotas').execute();
  await db.schema.dropTable('quota_classes').execute();
}
