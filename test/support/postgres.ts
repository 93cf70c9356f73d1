import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { backendSkip } from './backends.js';

/**
 * PostgreSQL for tests: a fresh database per test on the server at ORRERY_TEST_PG_URL
 * (default: the local trust-auth server), dropped afterwards.
 */

/** A database on the test server to connect to for CREATE/DROP DATABASE. */
export const PG_ADMIN_URL = process.env.ORRERY_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** `{ skip: pgSkip }` for node:test: a reason when PostgreSQL is missing (throws under ORRERY_REQUIRE_BACKENDS=1). */
export const pgSkip: string | false = backendSkip(`PostgreSQL at ${PG_ADMIN_URL}`, await postgresAvailable());

export interface TestPgDatabase {
  name: string;
  /** Orrery's connection URL for it (Nova's form). */
  url: string;
  /** Drops it, closing whatever connections are still open. */
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database `orrery_t_<random>`. */
export async function createPgDatabase(): Promise<TestPgDatabase> {
  const name = `orrery_t_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => admin(async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }),
  };
}
