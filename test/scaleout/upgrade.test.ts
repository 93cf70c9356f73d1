import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { api, waitFor, type Session } from '../support/cloud.js';
import { startDeployment, type Deployment } from '../support/deployment.js';
import { buildPreviousRelease, type PreviousRelease } from '../support/previous-release.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';
import { RABBIT_URL, rabbitSkip } from '../support/rabbitmq.js';
import { builtEntry } from '../../harness/repo.js';
import { COMPUTE_RPC_VERSION } from '../../src/rpc/compute-api.js';
import type { RpcMessage } from '../../src/rpc/bus.js';
import { bootMany, listServers, loginTo, MV, raiseQuota, seededImage, waitSettled } from './support.js';

const exec = promisify(execFile);
const skip = pgSkip || (await rabbitSkip());

/**
 * A rolling upgrade: the previous release's compute service (a real earlier revision, packed in
 * test/fixtures: compute RPC 1.0 and Instance 1.0, one method and one field fewer) runs beside
 * the current services, which pin to it; once it is replaced and the others are signalled,
 * the pin lifts.
 */
describe('rolling upgrade of a compute service', { skip }, () => {
  let prev: PreviousRelease;
  let pg: TestPgDatabase;
  let d: Deployment;
  let admin: Session;
  let conn: amqp.ChannelModel;
  const captured: RpcMessage[] = [];

  before(async () => {
    prev = await buildPreviousRelease();
    pg = await createPgDatabase();
    d = await startDeployment({
      brokerUrl: RABBIT_URL, databaseUrl: pg.url, conductors: 1, schedulers: 1,
      computes: [{ host: 'compute1' }], computeEntry: prev.entry,
    });
    // A queue of the test's own, bound to every compute topic, sees what the senders send.
    const broker = new URL(RABBIT_URL.replace(/^rabbit:/, 'amqp:'));
    broker.pathname = `/${d.vhost}`;
    conn = await amqp.connect(broker.toString());
    const ch = await conn.createChannel();
    const q = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    await ch.bindQueue(q.queue, 'orrery', 'compute.#');
    await ch.consume(q.queue, (m) => {
      if (m) captured.push(JSON.parse(m.content.toString()) as RpcMessage);
    }, { noAck: true });
    admin = await loginTo(d.urls.identity);
    await raiseQuota(d, admin, 20);
  });
  after(async () => {
    await conn?.close();
    await d?.stop();
    await pg?.drop();
    prev?.dispose();
  });

  const orrery = (...args: string[]) => exec(process.execPath, [builtEntry('orrery'), '--config', d.configPath, ...args]);

  it('boots and stops servers through the old compute, with every message at the pinned version', async () => {
    assert.notEqual(COMPUTE_RPC_VERSION, '1.0', 'this release must be newer than the packed one');
    const status = await orrery('upgrade', 'status');
    assert.match(status.stdout, /nova-compute: 1\.0/);
    assert.match(status.stdout, /compute RPC pin: 1\.0/);
    // Contract migrations wait until every service is new.
    await assert.rejects(orrery('db', 'sync', '--contract'), /still run older releases.*nova-compute: 1\.0/s);

    const [id] = await bootMany(d, admin, 1, 'old', await seededImage(d, admin));
    assert.equal((await waitSettled(d, admin, [id!]))[0]!.status, 'ACTIVE');
    assert.equal((await api(admin, 'POST', `${d.urls.compute}/v2.1/servers/${id}/action`, { 'os-stop': null }, MV)).status, 202);
    assert.equal((await waitSettled(d, admin, [id!]))[0]!.status, 'SHUTOFF');
    // What needs 1.1 is refused before it leaves the API.
    const diag = await api(admin, 'GET', `${d.urls.compute}/v2.1/servers/${id}/diagnostics`, undefined, MV);
    assert.equal(diag.status, 409, JSON.stringify(diag.body));

    await waitFor('the captured messages', async () => (captured.length >= 2 ? true : undefined));
    for (const m of captured) {
      assert.equal(m.version, '1.0', `${m.method} sent at ${m.version}`);
      const inst = m.args.instance as { version: string; data: Record<string, unknown> };
      assert.equal(inst.version, '1.0');
      assert.ok(!('hostname' in inst.data), 'Instance was not backported to 1.0');
    }
    assert.deepEqual(captured.map((m) => m.method), ['build_and_run_instance', 'stop_instance']);
  });

  it('replacing the compute and signalling the others lifts the pin', async () => {
    const compute = d.service('compute1');
    await compute.stop();
    compute.entry = builtEntry('orrery');
    await compute.start();
    for (const name of ['api', 'conductor1']) d.service(name).signal('SIGHUP');
    const status = await waitFor('the pin to lift', async () => {
      const s = (await orrery('upgrade', 'status')).stdout;
      return new RegExp(`compute RPC pin: ${COMPUTE_RPC_VERSION.replace('.', '\\.')}`).test(s) ? s : undefined;
    });
    assert.match(status, new RegExp(`nova-compute: ${COMPUTE_RPC_VERSION.replace('.', '\\.')}$`, 'm'));
    assert.match((await orrery('db', 'sync', '--contract')).stdout, /database is up to date/);

    const [server] = await listServers(d, admin);
    captured.length = 0;
    // The API re-read its pin on SIGHUP: diagnostics (1.1) now reach the new compute.
    const diag = await waitFor('diagnostics through the new compute', async () => {
      const r = await api(admin, 'GET', `${d.urls.compute}/v2.1/servers/${server!.id}/diagnostics`, undefined, MV);
      return r.status === 200 ? r : undefined;
    });
    assert.equal(diag.body.hostname, 'old0');
    assert.equal(diag.body.state, 'shutdown');
    assert.equal((await api(admin, 'POST', `${d.urls.compute}/v2.1/servers/${server!.id}/action`, { 'os-start': null }, MV)).status, 202);
    assert.equal((await waitSettled(d, admin, [server!.id]))[0]!.status, 'ACTIVE');
    await waitFor('the captured start', async () => (captured.some((m) => m.method === 'start_instance') ? true : undefined));
    for (const m of captured) {
      assert.equal(m.version, COMPUTE_RPC_VERSION);
      assert.equal((m.args.instance as { data: Record<string, unknown> }).data.hostname, 'old0');
    }
  });
});
