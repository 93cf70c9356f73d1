import type { Kysely } from 'kysely';

/**
 * Expand phase: server groups (Nova's instance_groups, its policy and rules, its members) and
 * the servers' encrypted admin passwords (os-server-password; Nova keeps them in system metadata).
 *
 * - `server_groups.rules`: JSON of the 2.64 rules (`{"max_server_per_host": n}` or `{}`).
 * - `server_group_members`: one row per instance booted with the `group` hint, written with the
 *   instance in the create's transaction. Where a member runs is not kept here: the scheduler
 *   reads it from the member's allocations, which its claim writes in the same transaction as
 *   the group check (src/db/server-group-claims.ts), so the two can never disagree.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const s = db.schema;
  await s.createTable('server_groups')
    .addColumn('uuid', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('policy', 'varchar(32)', (c) => c.notNull())
    .addColumn('rules', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await s.createIndex('server_groups_project').on('server_groups').column('project_id').execute();
  await s.createTable('server_group_members')
    .addColumn('group_uuid', 'varchar(36)', (c) => c.notNull())
    .addColumn('instance_uuid', 'varchar(36)', (c) => c.notNull())
    .addPrimaryKeyConstraint('server_group_members_pk', ['group_uuid', 'instance_uuid'])
    .execute();
  await s.createIndex('server_group_members_instance').on('server_group_members').column('instance_uuid').execute();
  await s.createTable('instance_passwords')
    .addColumn('instance_uuid', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('password', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('instance_passwords').execute();
  await db.schema.dropTable('server_group_members').execute();
  await db.schema.dropTable('server_groups').execute();
}
