import pg from 'pg';

/** The local trust-auth server's maintenance database, where CREATE/DROP DATABASE run. */
export const DEFAULT_PG_ADMIN_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';

async function admin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Why the server of `adminUrl` cannot be used, or null when it answers. */
export async function postgresProblem(adminUrl: string): Promise<string | null> {
  try {
    await admin(adminUrl, (c) => c.query('SELECT 1'));
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export interface PgDatabase {
  name: string;
  /** Orrery's connection URL for it (Nova's form). */
  url: string;
  /** Drops it, closing whatever connections are still open. */
  drop(): Promise<void>;
}

/** Creates the empty database `name` on the server of `adminUrl`. */
export async function createDatabase(adminUrl: string, name: string): Promise<PgDatabase> {
  await admin(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: async () => {
      await admin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/**
 * Terminates every server process connected to database `name` (as a failover or an
 * administrator would: `pg_terminate_backend`); answers how many there were.
 */
export async function terminateBackends(adminUrl: string, name: string): Promise<number> {
  return admin(adminUrl, async (c) => {
    const r = await c.query('SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
    return (r.rows[0] as { n: number }).n;
  });
}
