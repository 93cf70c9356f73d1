import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fakeBackendPath, openFakeBackend } from '@orrery/driver-fake';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { FAMILIES, moved, scrapeUrl, sumOf, valueOf, type Scrape } from './support.js';

const MV = { 'openstack-api-version': 'compute 2.37' };

/**
 * The all-in-one's /metrics: every family, and counters that move by exactly what was done.
 * The registry is the process's, shared with anything else this process ran: every check is a
 * difference between two scrapes.
 */
describe('metrics of the all-in-one', () => {
  let cloud: TestCloud;
  let admin: Session;
  let imageId: string;
  let url: string;

  before(async () => {
    cloud = await startTestCloud({ quota: { instances: '50', cores: '100', ram: '102400' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    imageId = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
    assert.ok(cloud.metricsUrl, 'the all-in-one has a metrics listener by default');
    url = cloud.metricsUrl;
  });
  after(async () => {
    await cloud?.close();
  });

  const boot = async (name: string): Promise<string> => {
    const r = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers`, { server: { name, imageRef: imageId, flavorRef: '1', networks: 'none' } }, MV);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.server.id as string;
  };
  const settled = (ids: string[]) => waitFor(`${ids.length} servers to settle`, async () => {
    const views = await Promise.all(ids.map(async (id) => (await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}`, undefined, MV)).body.server));
    return views.every((s) => s.status !== 'BUILD' && !s['OS-EXT-STS:task_state']) ? views : undefined;
  }, 60_000);

  it('shows every family Orrery defines, and the process metrics', async () => {
    const s = await scrapeUrl(url);
    for (const f of FAMILIES) assert.ok(s.families.has(f), `family ${f} missing`);
    assert.ok(s.families.has('orrery_process_cpu_user_seconds_total'));
    assert.ok(s.families.has('orrery_nodejs_eventloop_lag_seconds'));
    assert.equal(valueOf(s, 'orrery_process_service', { service: 'compute', host: 'compute2' }), 1);
    // The database's facts, read at scrape: every compute service and node up, every vm state shown.
    assert.equal(valueOf(s, 'orrery_service_up', { binary: 'nova-compute', host: 'compute1' }), 1);
    assert.equal(sumOf(s, 'orrery_compute_node_up'), 2);
    assert.ok(s.samples.has('orrery_instances{vm_state="shelved_offloaded"}'));
    // Each compute's last probe of its back-end.
    for (const host of ['compute1', 'compute2']) assert.equal(valueOf(s, 'orrery_driver_backend_up', { host, driver: 'fake' }), 1, host);
  });

  it('10 servers booted move the request, RPC, scheduler, build, driver and instance counters by exactly 10', async () => {
    const before = await scrapeUrl(url);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await boot(`m${i}`));
    const views = await settled(ids);
    assert.deepEqual(views.map((v) => v.status), Array(10).fill('ACTIVE'));
    // A compute counts a build once the conductor answered its ACTIVE update: the API can show
    // ACTIVE a moment before the last count moves.
    const handled = (s: Scrape) => valueOf(s, 'orrery_rpc_handled_total', { api: 'compute', method: 'build_and_run_instance', outcome: 'ok' });
    const after = await waitFor('the computes to count their builds', async () => {
      const s = await scrapeUrl(url);
      return handled(s) - handled(before) >= 10 ? s : undefined;
    });
    assert.deepEqual(moved(before, after, [
      ['orrery_http_requests_total', { api: 'compute', method: 'POST', route: '/v2.1/servers', status: '202' }],
      ['orrery_http_request_duration_seconds_count', { api: 'compute', method: 'POST', route: '/v2.1/servers' }],
      ['orrery_rpc_sent_total', { api: 'conductor', method: 'build_instances', kind: 'cast' }],
      ['orrery_rpc_sent_total', { api: 'scheduler', method: 'select_destinations', kind: 'call' }],
      ['orrery_rpc_call_duration_seconds_count', { api: 'scheduler', method: 'select_destinations' }],
      ['orrery_rpc_sent_total', { api: 'compute', method: 'build_and_run_instance', kind: 'cast' }],
      ['orrery_rpc_handled_total', { api: 'compute', method: 'build_and_run_instance', outcome: 'ok' }],
      ['orrery_rpc_handle_duration_seconds_count', { api: 'compute', method: 'build_and_run_instance' }],
      ['orrery_scheduler_decisions_total', { outcome: 'selected' }],
      ['orrery_scheduler_select_duration_seconds_count'],
      ['orrery_builds_started_total'],
      ['orrery_builds_succeeded_total'],
      ['orrery_build_duration_seconds_count', { outcome: 'succeeded' }],
      ['orrery_driver_calls_total', { driver: 'fake', method: 'spawn', outcome: 'ok' }],
      ['orrery_driver_call_duration_seconds_count', { driver: 'fake', method: 'spawn' }],
      ['orrery_instances', { vm_state: 'active' }],
    ]), {
      'orrery_http_requests_total{api="compute",method="POST",route="/v2.1/servers",status="202"}': 10,
      'orrery_http_request_duration_seconds_count{api="compute",method="POST",route="/v2.1/servers"}': 10,
      'orrery_rpc_sent_total{api="conductor",kind="cast",method="build_instances"}': 10,
      'orrery_rpc_sent_total{api="scheduler",kind="call",method="select_destinations"}': 10,
      'orrery_rpc_call_duration_seconds_count{api="scheduler",method="select_destinations"}': 10,
      'orrery_rpc_sent_total{api="compute",kind="cast",method="build_and_run_instance"}': 10,
      'orrery_rpc_handled_total{api="compute",method="build_and_run_instance",outcome="ok"}': 10,
      'orrery_rpc_handle_duration_seconds_count{api="compute",method="build_and_run_instance"}': 10,
      'orrery_scheduler_decisions_total{outcome="selected"}': 10,
      'orrery_scheduler_select_duration_seconds_count': 10,
      'orrery_builds_started_total': 10,
      'orrery_builds_succeeded_total': 10,
      'orrery_build_duration_seconds_count{outcome="succeeded"}': 10,
      'orrery_driver_calls_total{driver="fake",method="spawn",outcome="ok"}': 10,
      'orrery_driver_call_duration_seconds_count{driver="fake",method="spawn"}': 10,
      'orrery_instances{vm_state="active"}': 10,
    });
    // Nothing failed on the way.
    assert.deepEqual(moved(before, after, [['orrery_builds_failed_total'], ['orrery_builds_errored_total'], ['orrery_scheduler_decisions_total', { outcome: 'no_valid_host' }]]),
      { orrery_builds_failed_total: 0, orrery_builds_errored_total: 0, 'orrery_scheduler_decisions_total{outcome="no_valid_host"}': 0 });

    for (const id of ids) assert.equal((await api(admin, 'DELETE', `${cloud.urls.compute}/v2.1/servers/${id}`)).status, 204);
    await waitFor('the servers to be gone', async () => (valueOf(await scrapeUrl(url), 'orrery_instances', { vm_state: 'active' }) === valueOf(before, 'orrery_instances', { vm_state: 'active' }) ? true : undefined), 60_000);
  });

  it('labels routes by their pattern: ids and unknown paths do not make series of their own', async () => {
    const before = await scrapeUrl(url);
    const missing = ['7f7e5b0c-0000-4000-8000-000000000001', '7f7e5b0c-0000-4000-8000-000000000002'];
    for (const id of missing) assert.equal((await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}`)).status, 404);
    for (const junk of ['no-such-thing', 'nor-this-one']) assert.equal((await api(admin, 'GET', `${cloud.urls.compute}/v2.1/${junk}`)).status, 404);
    const after = await scrapeUrl(url);
    assert.deepEqual(moved(before, after, [
      ['orrery_http_requests_total', { api: 'compute', method: 'GET', route: '/v2.1/servers/:server_id', status: '404' }],
      ['orrery_http_requests_total', { api: 'compute', method: 'GET', route: '(unmatched)', status: '404' }],
    ]), {
      'orrery_http_requests_total{api="compute",method="GET",route="/v2.1/servers/:server_id",status="404"}': 2,
      'orrery_http_requests_total{api="compute",method="GET",route="(unmatched)",status="404"}': 2,
    });
    for (const raw of [...missing, 'no-such-thing']) assert.ok(!after.text.includes(raw), `${raw} appears in a label`);
  });

  it('a spawn failing on both hosts: failed twice, rescheduled twice, then ERROR with no valid host', async () => {
    const backends = cloud.computes.map((c) => openFakeBackend(fakeBackendPath(cloud.config.statePath('compute', c.host), c.host)));
    try {
      for (const b of backends) b.injectFault({ op: 'spawn', kind: 'error', code: 'BackendUnavailable', times: 1 });
      const before: Scrape = await scrapeUrl(url);
      const id = await boot('doomed');
      const [view] = await settled([id]);
      assert.equal(view.status, 'ERROR');
      assert.match(view.fault.message, /No valid host/);
      const after = await waitFor('the conductor to count the end of the build', async () => {
        const s = await scrapeUrl(url);
        return sumOf(s, 'orrery_builds_errored_total') > sumOf(before, 'orrery_builds_errored_total') ? s : undefined;
      });
      assert.deepEqual(moved(before, after, [
        ['orrery_builds_started_total'], ['orrery_builds_failed_total'], ['orrery_builds_rescheduled_total'], ['orrery_builds_succeeded_total'],
        ['orrery_builds_errored_total', { reason: 'no_valid_host' }],
        ['orrery_build_duration_seconds_count', { outcome: 'failed' }],
        ['orrery_scheduler_decisions_total', { outcome: 'selected' }], ['orrery_scheduler_decisions_total', { outcome: 'no_valid_host' }],
        ['orrery_driver_calls_total', { driver: 'fake', method: 'spawn', outcome: 'BackendUnavailable' }],
        ['orrery_instances', { vm_state: 'error' }],
      ]), {
        orrery_builds_started_total: 2, orrery_builds_failed_total: 2, orrery_builds_rescheduled_total: 2, orrery_builds_succeeded_total: 0,
        'orrery_builds_errored_total{reason="no_valid_host"}': 1,
        'orrery_build_duration_seconds_count{outcome="failed"}': 2,
        'orrery_scheduler_decisions_total{outcome="selected"}': 2, 'orrery_scheduler_decisions_total{outcome="no_valid_host"}': 1,
        'orrery_driver_calls_total{driver="fake",method="spawn",outcome="BackendUnavailable"}': 2,
        'orrery_instances{vm_state="error"}': 1,
      });
      assert.equal((await api(admin, 'DELETE', `${cloud.urls.compute}/v2.1/servers/${id}`)).status, 204);
    } finally {
      for (const b of backends) b.close();
    }
  });

  it('answers /metrics only: another path is 404, another method 405', async () => {
    const base = url.replace(/\/metrics$/, '');
    assert.equal((await fetch(`${base}/`)).status, 404);
    assert.equal((await fetch(`${base}/metrics/../x`)).status, 404);
    const post = await fetch(url, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });
});
