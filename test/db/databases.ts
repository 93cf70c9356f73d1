import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openDatabase, type Db } from '../../src/db/connection.js';
import { createPgDatabase, pgSkip } from '../support/postgres.js';

/**
 * The databases repository tests run on: the same test body on SQLite and on PostgreSQL.
 * `connections` is how many separate Kysely instances (pools, as separate processes would
 * have) concurrency tests spread their work over: one for SQLite, whose processes share one
 * serialized connection each, several for PostgreSQL.
 */
export interface TestDatabase {
  url: string;
  /** A migrated database's first connection. */
  db: Db;
  /** Opens another Kysely instance on the same database (closed by close()). */
  open(): Db;
  close(): Promise<void>;
}

export interface Backend {
  kind: 'sqlite' | 'postgresql';
  skip: string | false;
  connections: number;
  create(): Promise<TestDatabase>;
}

function tracked(url: string, drop: () => Promise<void>): TestDatabase {
  const opened: Db[] = [];
  const open = (): Db => {
    const db = openDatabase(url);
    opened.push(db);
    return db;
  };
  return {
    url, db: open(), open,
    close: async () => {
      for (const db of opened) await db.destroy();
      await drop();
    },
  };
}

export const BACKENDS: Backend[] = [
  {
    kind: 'sqlite',
    skip: false,
    connections: 1,
    create: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'orrery-db-'));
      const t = tracked(`sqlite:///${join(dir, 'orrery.sqlite')}`, async () => rmSync(dir, { recursive: true, force: true }));
      await migrate(t.db);
      return t;
    },
  },
  {
    kind: 'postgresql',
    skip: pgSkip,
    connections: 5,
    create: async () => {
      const pg = await createPgDatabase();
      const t = tracked(pg.url, pg.drop);
      await migrate(t.db);
      return t;
    },
  },
];

/** A suite's database: `db` and the `connections` pools of `dbs`, made before its tests and dropped after. */
export interface DatabaseFixture {
  readonly db: Db;
  readonly dbs: Db[];
  open(): Db;
}

/** Registers the current suite's before/after hooks for a fresh database of `backend`. */
export function databaseFixture(backend: Backend): DatabaseFixture {
  let t: TestDatabase | undefined;
  let dbs: Db[] = [];
  before(async () => {
    t = await backend.create();
    dbs = [t.db, ...Array.from({ length: backend.connections - 1 }, () => t!.open())];
  });
  after(async () => {
    await t?.close();
  });
  const ready = (): TestDatabase => {
    if (!t) throw new Error('the database fixture is used outside its suite');
    return t;
  };
  return {
    get db() {
      return ready().db;
    },
    get dbs() {
      ready();
      return dbs;
    },
    open: () => ready().open(),
  };
}
