import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { freePort } from '../../harness/ports.js';
import { sleep } from '../../src/common/time.js';
import { DatabaseUnavailable, migrate, openDatabase, type Db } from '../../src/db/connection.js';
import { api, login, startTestCloud, type TestCloud } from '../support/cloud.js';
import { createPgDatabase, PG_ADMIN_URL, pgSkip, terminateConnections, type TestPgDatabase } from '../support/postgres.js';
import { TcpProxy } from '../support/tcp-proxy.js';

/**
 * Losing PostgreSQL connections (a failover, pg_terminate_backend, a network cut): no process
 * dies of it, what can be repeated is repeated on a fresh connection, and what cannot answers
 * DatabaseUnavailable — 503 in each API's own format while the database is out of reach.
 */
describe('losing the PostgreSQL connection', { skip: pgSkip }, () => {
  let pg: TestPgDatabase;
  let db: Db;

  before(async () => {
    pg = await createPgDatabase();
    db = openDatabase(pg.url, { maxPoolSize: 3 });
    await migrate(db);
  });
  after(async () => {
    await db?.destroy();
    await pg?.drop();
  });

  const fault = (message: string) => ({
    instance_uuid: '00000000-0000-4000-8000-000000000001', code: 500, message, details: '', host: null, created_at: new Date().toISOString(),
  });
  const faults = async (message: string): Promise<number> =>
    (await db.selectFrom('instance_faults').select((eb) => eb.fn.countAll<number>().as('n')).where('message', '=', message).executeTakeFirstOrThrow()).n;

  it('a transaction whose connection is terminated between two statements runs again from BEGIN, and the process lives', async () => {
    // In a service this would be the end of the process; the test runner only reports it.
    const uncaught: unknown[] = [];
    const record = (err: unknown): void => void uncaught.push(err);
    process.on('uncaughtException', record);
    after(() => void process.off('uncaughtException', record));
    let attempts = 0;
    const done = db.transaction().execute(async (tx) => {
      attempts++;
      await tx.insertInto('instance_faults').values(fault('tx')).execute();
      // Checked out, between statements: a terminated client emits 'error' on itself here.
      if (attempts === 1) await sleep(400);
      await tx.insertInto('instance_faults').values(fault('tx')).execute();
    });
    await sleep(150);
    assert.ok((await terminateConnections(pg)) >= 1);
    await done;
    assert.equal(attempts, 2);
    assert.equal(await faults('tx'), 2, 'the first attempt rolled back, the second committed once');
    await sleep(100);
    assert.deepEqual(uncaught.map(String), [], 'no uncaught error event from the terminated client');
  });

  it('a read lost mid-statement is repeated on a fresh connection', async () => {
    const first = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(db)).rows[0]!.pid;
    const read = sql<{ pid: number }>`SELECT pg_backend_pid() AS pid FROM pg_sleep(0.5)`.execute(db);
    await sleep(150);
    await terminateConnections(pg);
    const again = (await read).rows[0]!.pid;
    assert.notEqual(again, first, 'answered by another server process');
  });

  it('a write lost mid-statement is not repeated (it may have landed): DatabaseUnavailable, 503, outcome unknown', async () => {
    const write = sql`INSERT INTO instance_faults (instance_uuid, code, message, details, created_at)
      SELECT '00000000-0000-4000-8000-000000000002', 500, 'lost', '', 'now' FROM pg_sleep(0.5)`.execute(db).then(() => null, (err: unknown) => err);
    await sleep(150);
    await terminateConnections(pg);
    const err = await write;
    assert.ok(err instanceof DatabaseUnavailable && err.status === 503 && err.outcome === 'unknown', String(err));
    assert.equal(await faults('lost'), 0, 'terminated before it committed, and not sent again');
    // The pool has recovered: the next statement works.
    await db.insertInto('instance_faults').values(fault('after')).execute();
    assert.equal(await faults('after'), 1);
  });

  it('a database nobody answers for is DatabaseUnavailable (503), nothing having been sent', async () => {
    const url = new URL(pg.url);
    url.port = String(await freePort());
    const gone = openDatabase(url.toString());
    try {
      await assert.rejects(sql`SELECT 1`.execute(gone), (err: unknown) => err instanceof DatabaseUnavailable && err.outcome === 'not-applied');
    } finally {
      await gone.destroy();
    }
  });

  describe('the all-in-one with its database cut off (through a proxy)', () => {
    let proxy: TcpProxy;
    let cloud: TestCloud;
    let cloudPg: TestPgDatabase;

    before(async () => {
      cloudPg = await createPgDatabase();
      const server = new URL(PG_ADMIN_URL);
      proxy = await TcpProxy.start(server.hostname, Number(server.port || 5432));
      const viaProxy = new URL(cloudPg.url);
      viaProxy.port = String(proxy.port);
      cloud = await startTestCloud({ database: { connection: viaProxy.toString(), max_pool_size: '4' } });
    });
    after(async () => {
      await cloud?.close();
      await proxy?.close();
      await cloudPg?.drop();
    });

    it('answers 503 in each API\'s format while the database is out of reach, and serves again once it is back', async () => {
      const admin = await login(cloud, 'admin', 'secret', 'admin');
      const servers = `${cloud.urls.compute}/v2.1/servers`;
      assert.equal((await api(admin, 'GET', servers)).status, 200);

      proxy.cut();
      const list = await api(admin, 'GET', servers);
      assert.equal(list.status, 503, JSON.stringify(list.body));
      assert.equal(list.body.serviceUnavailable.code, 503);
      const token = await api(null, 'POST', `${cloud.urls.identity}/v3/auth/tokens`, {
        auth: { identity: { methods: ['password'], password: { user: { name: 'admin', domain: { id: 'default' }, password: 'secret' } } } },
      });
      assert.equal(token.status, 503, JSON.stringify(token.body));
      assert.equal(token.body.error.code, 503);

      proxy.restore();
      assert.equal((await api(admin, 'GET', servers)).status, 200);
      assert.equal((await api(admin, 'GET', `${cloud.urls.compute}/v2.1/flavors`)).status, 200);
    });
  });
});
