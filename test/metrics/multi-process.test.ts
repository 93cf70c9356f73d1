import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NodeProcess } from '../../harness/children.js';
import { builtEntry } from '../../harness/repo.js';
import { waitFor, type Session } from '../support/cloud.js';
import { startDeployment, type Deployment } from '../support/deployment.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';
import { RABBIT_URL, rabbitSkip } from '../support/rabbitmq.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { bootMany, deleteAll, loginTo, seededImage, waitSettled } from '../scaleout/support.js';
import { FAMILIES, moved, scrapeUrl, sumOf, valueOf, type Scrape } from './support.js';

const skip = pgSkip || (await rabbitSkip());
const COMPUTES = ['compute1', 'compute2'];

/**
 * Every process of the multi-process deployment (api, conductor, scheduler, two computes, a
 * network agent) on PostgreSQL and RabbitMQ serves /metrics on a port of its own; each moves
 * the families of its own work, and together they count 10 boots exactly.
 */
describe('metrics of the multi-process deployment', { skip }, () => {
  let pg: TestPgDatabase;
  let proxy: TcpProxy;
  let d: Deployment;
  let agent: NodeProcess;
  let admin: Session;
  let imageId: string;
  const SERVICES = ['api', 'conductor1', 'scheduler1', ...COMPUTES];

  before(async () => {
    pg = await createPgDatabase();
    // The broker through a proxy, so the test can cut every connection to it.
    proxy = await TcpProxy.start('127.0.0.1', Number(new URL(RABBIT_URL.replace(/^rabbit:/, 'http:')).port || 5672));
    d = await startDeployment({
      brokerUrl: RABBIT_URL, viaPort: proxy.port, databaseUrl: pg.url, conductors: 1, schedulers: 1,
      ini: { DEFAULT: { service_down_time: '60' } }, computes: COMPUTES.map((host) => ({ host })),
    });
    agent = new NodeProcess('network-agent', builtEntry('orrery'), ['--config', d.configPath, 'network-agent', '--host', 'compute1'], process.env, {
      ready: / is running/, cwd: d.stateDir,
    });
    await agent.start();
    admin = await loginTo(d.urls.identity);
    imageId = await seededImage(d, admin);
  });
  after(async () => {
    await agent?.stop();
    await d?.stop();
    await proxy?.close();
    await pg?.drop();
  });

  const agentUrl = (): string => /; metrics (http:\/\/\S+\/metrics)/.exec(agent.output())![1]!;
  const scrapeAll = async (): Promise<Map<string, Scrape>> => new Map(await Promise.all(SERVICES.map(async (s) => [s, await scrapeUrl(d.metricsUrl(s))] as const)));
  const total = (all: Map<string, Scrape>, name: string, labels: Record<string, string> = {}): number => [...all.values()].reduce((n, s) => n + sumOf(s, name, labels), 0);

  it('every process serves every family on its own port, and names the services it runs', async () => {
    const urls = [...SERVICES.map((s) => d.metricsUrl(s)), agentUrl()];
    assert.equal(new Set(urls).size, urls.length, `one port each: ${urls.join(' ')}`);
    for (const [name, url] of [...SERVICES, 'network-agent'].map((s, i) => [s, urls[i]!] as const)) {
      const s = await scrapeUrl(url);
      for (const f of FAMILIES) assert.ok(s.families.has(f), `${name}: family ${f} missing`);
      assert.ok(s.families.has('orrery_process_resident_memory_bytes'), name);
    }
    const agentScrape = await scrapeUrl(agentUrl());
    assert.equal(valueOf(agentScrape, 'orrery_process_service', { service: 'network-agent', host: 'compute1' }), 1);
    const all = await scrapeAll();
    assert.equal(valueOf(all.get('compute2')!, 'orrery_process_service', { service: 'compute', host: 'compute2' }), 1);
    // The processes with a database read its facts at scrape; a compute has none and shows none.
    for (const s of ['api', 'conductor1', 'scheduler1']) {
      assert.equal(valueOf(all.get(s)!, 'orrery_service_up', { binary: 'nova-compute', host: 'compute1' }), 1, s);
      assert.equal(sumOf(all.get(s)!, 'orrery_compute_node_up'), 2, s);
      assert.ok(valueOf(all.get(s)!, 'orrery_db_pool_connections', { state: 'total' }) >= 1, `${s}: pool`);
    }
    assert.equal(sumOf(all.get('compute1')!, 'orrery_service_up'), 0);
    // A compute shows its own back-end's health, and no other's.
    for (const host of COMPUTES) assert.deepEqual([...all.get(host)!.samples].filter(([k]) => k.startsWith('orrery_driver_backend_up')), [[`orrery_driver_backend_up{driver="fake",host="${host}"}`, 1]]);
  });

  it('10 servers booted: each process counts its part, together exactly 10', async () => {
    const before = await scrapeAll();
    const ids = await bootMany(d, admin, 10, 'mp', imageId);
    const servers = await waitSettled(d, admin, ids);
    assert.deepEqual(servers.map((s) => s.status), Array(10).fill('ACTIVE'));
    // A compute counts a build once the conductor answered its ACTIVE update: the API can show
    // ACTIVE a moment before the last count moves.
    const after = await waitFor('the computes to count their builds', async () => {
      const all = await scrapeAll();
      return total(all, 'orrery_builds_succeeded_total') - total(before, 'orrery_builds_succeeded_total') >= 10
        && total(all, 'orrery_rpc_handled_total', { api: 'compute', method: 'build_and_run_instance' }) - total(before, 'orrery_rpc_handled_total', { api: 'compute', method: 'build_and_run_instance' }) >= 10
        ? all : undefined;
    });
    const of = (s: string) => (series: Array<[string, Record<string, string>?]>) => moved(before.get(s)!, after.get(s)!, series);
    assert.deepEqual(of('api')([
      ['orrery_http_requests_total', { api: 'compute', method: 'POST', route: '/v2.1/servers', status: '202' }],
      ['orrery_rpc_sent_total', { api: 'conductor', method: 'build_instances', kind: 'cast' }],
      ['orrery_instances', { vm_state: 'active' }],
    ]), {
      'orrery_http_requests_total{api="compute",method="POST",route="/v2.1/servers",status="202"}': 10,
      'orrery_rpc_sent_total{api="conductor",kind="cast",method="build_instances"}': 10,
      'orrery_instances{vm_state="active"}': 10,
    });
    assert.deepEqual(of('conductor1')([
      ['orrery_rpc_handled_total', { api: 'conductor', method: 'build_instances', outcome: 'ok' }],
      ['orrery_rpc_sent_total', { api: 'scheduler', method: 'select_destinations', kind: 'call' }],
      ['orrery_rpc_sent_total', { api: 'compute', method: 'build_and_run_instance', kind: 'cast' }],
    ]), {
      'orrery_rpc_handled_total{api="conductor",method="build_instances",outcome="ok"}': 10,
      'orrery_rpc_sent_total{api="scheduler",kind="call",method="select_destinations"}': 10,
      'orrery_rpc_sent_total{api="compute",kind="cast",method="build_and_run_instance"}': 10,
    });
    assert.deepEqual(of('scheduler1')([['orrery_scheduler_decisions_total', { outcome: 'selected' }], ['orrery_rpc_handled_total', { api: 'scheduler', outcome: 'ok' }]]), {
      'orrery_scheduler_decisions_total{outcome="selected"}': 10, 'orrery_rpc_handled_total{api="scheduler",outcome="ok"}': 10,
    });
    const computeMoved = (name: string, labels: Record<string, string> = {}) => total(after, name, labels) - total(before, name, labels);
    assert.deepEqual([
      computeMoved('orrery_builds_started_total'), computeMoved('orrery_builds_succeeded_total'),
      computeMoved('orrery_build_duration_seconds_count', { outcome: 'succeeded' }),
      computeMoved('orrery_driver_calls_total', { driver: 'fake', method: 'spawn', outcome: 'ok' }),
      computeMoved('orrery_rpc_handled_total', { api: 'compute', method: 'build_and_run_instance', outcome: 'ok' }),
    ], [10, 10, 10, 10, 10]);
    // Only the computes build: the others' build counters stay where they were.
    for (const s of ['api', 'conductor1', 'scheduler1']) assert.equal(sumOf(after.get(s)!, 'orrery_builds_started_total'), 0, s);
    await deleteAll(d, admin);
  });

  it('the broker\'s connections cut and restored: every process counts its reconnect', async () => {
    const before = await scrapeAll();
    for (const s of before.values()) assert.equal(valueOf(s, 'orrery_bus_reconnects_total'), 0);
    proxy.cut();
    await new Promise((r) => setTimeout(r, 1000));
    proxy.restore();
    await waitFor('every process to reconnect', async () => {
      const all = await scrapeAll();
      return [...all.values()].every((s) => valueOf(s, 'orrery_bus_reconnects_total') >= 1) ? true : undefined;
    }, 60_000);
  });
});
