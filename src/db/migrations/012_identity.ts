import { sql, type Kysely } from 'kysely';

/**
 * Expand phase: Keystone's domains, groups, grants beyond user-on-project, application
 * credentials and project tags (issue #22). A previous release reads none of it.
 *
 * - `domains`: the Default domain becomes a row like any other (it was implied before).
 * - `identity_groups` + `group_members`: Keystone's groups (`groups` is a reserved word in SQL).
 * - `grants`: every assignment except user-on-project, which stays in `role_assignments`:
 *   (actor user|group, target project|domain, role, inherited). `inherited` on a domain means
 *   "on every project of the domain" (OS-INHERIT).
 * - `application_credentials`: the secret only as its hash; `roles` a JSON list of role ids;
 *   `access_rules` JSON (null: unlimited).
 * - `tokens.app_cred_id` (the credential a token was issued by: checked again at every
 *   validation), `tokens.domain_id` (domain-scoped tokens).
 * - `users.options`, `users.extra`, `projects.extra`: JSON text, Keystone's options and the
 *   unknown attributes it keeps.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const s = db.schema;
  await s.createTable('domains')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('extra', 'text', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await sql`INSERT INTO domains (id, name, description, enabled, extra, created_at)
    VALUES ('default', 'Default', 'The default domain', 1, '{}', '1970-01-01T00:00:00.000Z')`.execute(db);

  await s.createTable('identity_groups')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('domain_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addUniqueConstraint('identity_groups_name', ['domain_id', 'name'])
    .execute();
  await s.createTable('group_members')
    .addColumn('group_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'user_id'])
    .execute();
  await s.createIndex('group_members_user').on('group_members').column('user_id').execute();

  await s.createTable('grants')
    .addColumn('actor_type', 'varchar(8)', (c) => c.notNull())
    .addColumn('actor_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('target_type', 'varchar(8)', (c) => c.notNull())
    .addColumn('target_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('role_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('inherited', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('grants_pk', ['actor_type', 'actor_id', 'target_type', 'target_id', 'role_id', 'inherited'])
    .execute();
  await s.createIndex('grants_target').on('grants').columns(['target_type', 'target_id']).execute();

  await s.createTable('application_credentials')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('expires_at', 'varchar(40)')
    .addColumn('unrestricted', 'integer', (c) => c.notNull())
    .addColumn('roles', 'text', (c) => c.notNull())
    .addColumn('access_rules', 'text')
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addUniqueConstraint('application_credentials_name', ['user_id', 'name'])
    .execute();

  await s.createTable('project_tags')
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('tag', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('project_tags_pk', ['project_id', 'tag'])
    .execute();
  await s.createIndex('project_tags_tag').on('project_tags').column('tag').execute();

  await s.alterTable('tokens').addColumn('app_cred_id', 'varchar(64)').execute();
  await s.alterTable('tokens').addColumn('domain_id', 'varchar(64)').execute();
  // Deleting a credential revokes its tokens: without the index, a scan of every token issued.
  await s.createIndex('tokens_app_cred').on('tokens').column('app_cred_id').execute();
  await s.alterTable('users').addColumn('options', 'text', (c) => c.notNull().defaultTo('{}')).execute();
  await s.alterTable('users').addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}')).execute();
  await s.alterTable('projects').addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}')).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  const s = db.schema;
  await s.alterTable('projects').dropColumn('extra').execute();
  await s.alterTable('users').dropColumn('extra').execute();
  await s.alterTable('users').dropColumn('options').execute();
  await s.dropIndex('tokens_app_cred').execute();
  await s.alterTable('tokens').dropColumn('domain_id').execute();
  await s.alterTable('tokens').dropColumn('app_cred_id').execute();
  for (const t of ['project_tags', 'application_credentials', 'grants', 'group_members', 'identity_groups', 'domains']) {
    await s.dropTable(t).execute();
  }
}
