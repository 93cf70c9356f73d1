import type { Kysely } from 'kysely';

/**
 * Expand phase: Keystone's role implications (`implied_role` in Keystone): a token scoped with
 * the prior role also carries the implied one. Bootstrap writes admin → member → reader, the
 * implications Nova's and Glance's default rules rely on (`role:reader` passes a member).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('implied_roles')
    .addColumn('prior_role_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('implied_role_id', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('implied_roles_pk', ['prior_role_id', 'implied_role_id'])
    .execute();
  await db.schema.createIndex('implied_roles_implied').on('implied_roles').column('implied_role_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('implied_roles').execute();
}
