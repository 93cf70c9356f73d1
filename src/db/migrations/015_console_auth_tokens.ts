import type { Kysely } from 'kysely';

/**
 * Expand phase: Nova's console_auth_tokens (remote consoles, issue #14). A row is one console
 * URL handed out: where the guest's console listens and until when the URL may be used. The
 * token itself is never stored, only its SHA-256 (the primary key the proxy looks it up by).
 * A previous release reads none of it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('console_auth_tokens')
    .addColumn('token_hash', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('console_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('port', 'integer', (c) => c.notNull())
    .addColumn('internal_access_path', 'varchar(255)')
    .addColumn('instance_uuid', 'varchar(36)', (c) => c.notNull())
    .addColumn('access_url_base', 'varchar(255)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('expires_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('console_auth_tokens_instance_idx').on('console_auth_tokens').column('instance_uuid').execute();
  await db.schema.createIndex('console_auth_tokens_expires_idx').on('console_auth_tokens').column('expires_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('console_auth_tokens').execute();
}
