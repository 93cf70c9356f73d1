import { randomBytes } from 'node:crypto';
import { createDatabase, DEFAULT_PG_ADMIN_URL, postgresProblem, terminateBackends, type PgDatabase } from '../../harness/postgres.js';
import { backendSkip } from './backends.js';

/**
 * PostgreSQL for tests: a fresh database per test on the server at ORRERY_TEST_PG_URL
 * (default: the local trust-auth server), dropped afterwards.
 */

/** A database on the test server to connect to for CREATE/DROP DATABASE. */
export const PG_ADMIN_URL = process.env.ORRERY_TEST_PG_URL ?? DEFAULT_PG_ADMIN_URL;

/** `{ skip: pgSkip }` for node:test: a reason when PostgreSQL is missing (throws under ORRERY_REQUIRE_BACKENDS=1). */
export const pgSkip: string | false = backendSkip(`PostgreSQL at ${PG_ADMIN_URL}`, (await postgresProblem(PG_ADMIN_URL)) === null);

export type TestPgDatabase = PgDatabase;

/** Creates an empty database `orrery_t_<random>`. */
export function createPgDatabase(): Promise<TestPgDatabase> {
  return createDatabase(PG_ADMIN_URL, `orrery_t_${randomBytes(6).toString('hex')}`);
}

/** Terminates every connection to the test database (a database failover, as the services see it); answers how many. */
export function terminateConnections(db: TestPgDatabase): Promise<number> {
  return terminateBackends(PG_ADMIN_URL, db.name);
}
