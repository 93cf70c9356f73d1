import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
import type { Database } from './schema.js';
import * as m001 from './migrations/001_initial.js';

export type Db = Kysely<Database>;

/** Migrations in order; expand/contract steps are separate entries. */
const MIGRATIONS: Record<string, Migration> = {
  '001_initial': m001,
};

class StaticMigrations implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

/**
 * Opens the database named by a Nova-style URL: `sqlite:///relative/or//absolute/path`,
 * `sqlite://` (in memory). PostgreSQL arrives with the scale-out work behind the same type.
 */
export function openDatabase(url: string): Db {
  const m = /^sqlite:\/\/(\/?)(.*)$/.exec(url);
  if (!m) throw new Error(`database: unsupported connection URL ${url}`);
  const path = m[2] === '' ? ':memory:' : m[2]!;
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
}

/** Applies every pending migration (the admin CLI's `db sync`). */
export async function migrate(db: Db): Promise<void> {
  const { error, results } = await new Migrator({ db, provider: new StaticMigrations() }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
  }
}
