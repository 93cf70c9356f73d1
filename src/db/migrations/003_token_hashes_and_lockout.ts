import { type Kysely, sql } from 'kysely';

/**
 * Expand phase: Keystone's lockout counters on users, and tokens stored by their hash.
 *
 * - `users.failed_auth_count` / `failed_auth_at`: consecutive failed password logins and when
 *   the last one was attempted ([security_compliance] lockout_failure_attempts, lockout_duration).
 *   In the database, not in memory, so that every API process sees the same count.
 * - `tokens.id` now holds SHA-256 (hex) of the token id rather than the id. The rows written
 *   before hold the ids themselves — usable by anyone who can read the table — so they are
 *   deleted: **upgrading logs every user out** (clients authenticate again, as after a Keystone
 *   fernet key rotation without the old keys). An API process of the previous release still
 *   running after this migration writes plain rows that the new processes cannot validate and
 *   that expire within [identity] token_expiration; upgrade the API processes together.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('failed_auth_count', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('users').addColumn('failed_auth_at', 'varchar(40)').execute();
  // Token ids start with 'gAAAA'; their hashes are hexadecimal.
  await sql`DELETE FROM tokens WHERE id LIKE 'gAAAA%'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('failed_auth_at').execute();
  await db.schema.alterTable('users').dropColumn('failed_auth_count').execute();
}
