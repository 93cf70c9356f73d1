import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { Config } from '../../src/common/config.js';
import { isPostgres, isPostgresUrl, migrate, openConfiguredDatabase, openDatabase, type Db } from '../../src/db/connection.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';

/** Opening PostgreSQL from Nova's URL forms, migrating it, and the per-process pool. */

interface Column { table: string; column: string; nullable: boolean }

/** Every table's columns, by the database's own catalogue, in a comparable form. */
async function pgColumns(db: Db): Promise<Column[]> {
  const r = await sql<{ table_name: string; column_name: string; is_nullable: string }>`
    SELECT table_name, column_name, is_nullable FROM information_schema.columns
    WHERE table_schema = 'public' AND table_name NOT LIKE 'kysely_%'`.execute(db);
  return r.rows.map((c) => ({ table: c.table_name, column: c.column_name, nullable: c.is_nullable === 'YES' }))
    .sort((a, b) => `${a.table}.${a.column}`.localeCompare(`${b.table}.${b.column}`));
}

async function sqliteColumns(db: Db): Promise<Column[]> {
  const tables = await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'kysely_%' AND name NOT LIKE 'sqlite_%'`.execute(db);
  const out: Column[] = [];
  for (const { name } of tables.rows) {
    const cols = await sql<{ name: string; notnull: number; pk: number }>`SELECT name, "notnull", pk FROM pragma_table_info(${name})`.execute(db);
    for (const c of cols.rows) out.push({ table: name, column: c.name, nullable: c.notnull === 0 && c.pk === 0 });
  }
  return out.sort((a, b) => `${a.table}.${a.column}`.localeCompare(`${b.table}.${b.column}`));
}

describe('PostgreSQL connection and migrations', { skip: pgSkip }, () => {
  let pg: TestPgDatabase;
  before(async () => {
    pg = await createPgDatabase();
  });
  after(async () => {
    await pg?.drop();
  });

  it('recognises Nova\'s PostgreSQL URL forms', () => {
    for (const url of ['postgresql://u@h/d', 'postgres://u@h:5432/d', 'postgresql+psycopg2://u:p@h/d', 'POSTGRESQL://u@h/d']) {
      assert.equal(isPostgresUrl(url), true, url);
    }
    for (const url of ['sqlite://', 'sqlite:////tmp/x.sqlite', 'mysql+pymysql://u@h/d', 'postgresqlx://h/d']) {
      assert.equal(isPostgresUrl(url), false, url);
    }
    assert.throws(() => openDatabase('mysql+pymysql://nova:s3cret@db/nova'), (e: Error) => /unsupported/.test(e.message) && !e.message.includes('s3cret'));
  });

  it('migrates several processes at once to the same schema as SQLite', async () => {
    // four "processes" run db sync together: Kysely's migrator serialises them on an advisory lock
    const dbs = [0, 1, 2, 3].map(() => openDatabase(pg.url));
    try {
      await Promise.all(dbs.map((db) => migrate(db)));
      const applied = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(dbs[0]!);
      assert.deepEqual(applied.rows.map((r) => r.name), ['001_initial', '002_inventory_free_index', '003_token_hashes_and_lockout', '005_policy_implied_roles']);
      await migrate(dbs[1]!); // and again: nothing pending

      const lite = openDatabase('sqlite://');
      try {
        await migrate(lite);
        assert.deepEqual(await pgColumns(dbs[0]!), await sqliteColumns(lite));
      } finally {
        await lite.destroy();
      }
      const floats = await sql<{ data_type: string }>`SELECT DISTINCT data_type FROM information_schema.columns
        WHERE table_schema = 'public' AND column_name IN ('allocation_ratio', 'rxtx_factor')`.execute(dbs[0]!);
      assert.deepEqual(floats.rows.map((r) => r.data_type), ['double precision'], 'ratios keep SQLite REAL\'s 8-byte precision');
    } finally {
      for (const db of dbs) await db.destroy();
    }
  });

  it('opens every URL form and keeps each process to [database] max_pool_size connections', async () => {
    const forms = [pg.url, pg.url.replace(/^postgresql:/, 'postgres:'), pg.url.replace(/^postgresql:/, 'postgresql+psycopg2:')];
    for (const url of forms) {
      const db = openConfiguredDatabase(new Config({ database: { connection: url, max_pool_size: '2' } }, {}));
      try {
        assert.equal(isPostgres(db), true);
        // six slow queries at once share the pool's two connections (server processes)
        const pids = await Promise.all(Array.from({ length: 6 }, async () =>
          (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid, pg_sleep(0.05)`.execute(db)).rows[0]!.pid));
        assert.equal(new Set(pids).size, 2, url);
      } finally {
        await db.destroy();
      }
    }
    assert.throws(() => openConfiguredDatabase(new Config({ database: { connection: pg.url, max_pool_size: '0' } }, {})), /max_pool_size/);
  });
});
