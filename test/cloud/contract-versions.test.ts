// Contract versions side by side: the unchanged 1.0 example driver (examples/driver-example)
// and the 1.1 fake driver, each behind its own compute service in one cloud. Both boot and
// delete servers; a recording proxy around each driver shows the 1.0 one is never called with
// anything 1.1 added (no method, no CallOptions argument), while the 1.1 one is. The fake's
// status() reaches os-services: its back-end down disables the service with a reason.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  importDriverFactory, METHOD_SINCE, METHODS_ADDED, prepareDriver, type DriverMethod, type VirtDriver,
} from '@orrery/virt-api';
import { fakeBackendPath, openFakeBackend } from '@orrery/driver-fake';
import { IdentityClient } from '../../src/clients/identity-client.js';
import { createLogger } from '../../src/common/logging.js';
import { driverImageService } from '../../src/compute/image-service.js';
import { ComputeService } from '../../src/compute/manager.js';
import { repoRoot } from '../../harness/repo.js';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

const MV = { 'openstack-api-version': 'compute 2.37' };
const EXAMPLE = './examples/driver-example';

/** Every call made on a driver: the method and how many arguments it was given. */
type CallLog = Array<{ method: string; args: number }>;

/** The driver behind a proxy that records each method call before passing it on. */
function recording(driver: VirtDriver, log: CallLog): VirtDriver {
  return new Proxy(driver, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...args: unknown[]) => {
        log.push({ method: prop, args: args.length });
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

describe('a 1.0 driver beside a 1.1 driver', () => {
  let cloud: TestCloud;
  let admin: Session;
  const computes: ComputeService[] = [];
  const calls: Record<'example' | 'fake', CallLog> = { example: [], fake: [] };
  /** What each compute's handshake agreed. */
  const agreed = new Map<string, { version: string; groups: readonly string[] }>();

  /** A compute service on `host` whose driver (loaded from `spec`) is recorded into `log`. */
  async function startCompute(host: string, spec: string, log: CallLog): Promise<void> {
    const factory = await importDriverFactory(spec, { bundled: { fake: '@orrery/driver-fake' }, baseDir: repoRoot() });
    const driver = prepareDriver(recording(await factory(), log), {}, spec);
    agreed.set(host, driver.contract);
    const config = cloud.config.with({ DEFAULT: { compute_driver: spec } });
    const compute = new ComputeService(cloud.bus, {
      config, host, driver, log: createLogger('test', 'silent'),
      images: driverImageService(IdentityClient.fromConfig(config, `${cloud.urls.identity}/v3`)),
    });
    computes.push(compute);
    await compute.start();
  }

  async function flavorFor(trait: string): Promise<string> {
    const id = `on-${trait.toLowerCase()}`;
    const f = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/flavors`, { flavor: { name: id, ram: 128, vcpus: 1, disk: 1, id } });
    assert.equal(f.status, 200, JSON.stringify(f.body));
    const spec = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/flavors/${id}/os-extra_specs`, { extra_specs: { [`trait:${trait}`]: 'required' } });
    assert.equal(spec.status, 200, JSON.stringify(spec.body));
    return id;
  }

  async function bootAndDelete(flavor: string, name: string): Promise<string> {
    const images = await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`);
    const created = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers`, {
      server: { name, imageRef: images.body.images[0].id, flavorRef: flavor, networks: 'none' },
    }, MV);
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const id = created.body.server.id as string;
    const server = await waitFor(`${name} to leave BUILD`, async () => {
      const r = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}`, undefined, MV);
      return r.body.server.status === 'BUILD' ? undefined : r.body.server;
    });
    assert.equal(server.status, 'ACTIVE', JSON.stringify(server.fault ?? server));
    const host = server['OS-EXT-SRV-ATTR:host'] as string;
    assert.equal((await api(admin, 'DELETE', `${cloud.urls.compute}/v2.1/servers/${id}`, undefined, MV)).status, 204);
    await waitFor(`${name} to be deleted`, async () => {
      const r = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}`, undefined, MV);
      return r.status === 404 ? true : undefined;
    });
    return host;
  }

  async function computeService(host: string): Promise<{ status: string; disabled_reason: string | null }> {
    const r = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/os-services?binary=nova-compute&host=${host}`, undefined, MV);
    assert.equal(r.status, 200);
    return r.body.services[0];
  }

  before(async () => {
    // No compute of the cloud's own: the two below are started with recorded drivers.
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: '', report_interval: '1' }, fake: { watch_interval_ms: '0' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    await startCompute('c-example', EXAMPLE, calls.example);
    await startCompute('c-fake', 'fake', calls.fake);
  });
  after(async () => {
    for (const c of computes) await c.stop();
    await cloud?.close();
  });

  it('loads the unchanged 1.0 example driver under contract 1.0, and the fake under 1.3', () => {
    assert.deepEqual(agreed.get('c-example'), { version: '1.0', groups: [] });
    assert.deepEqual(agreed.get('c-fake'), { version: '1.4', groups: ['nodeLookup'] });
  });

  it('boots and deletes a server through each driver', async () => {
    assert.equal(await bootAndDelete(await flavorFor('CUSTOM_HYPERVISOR_EXAMPLE'), 'on-example'), 'c-example');
    assert.equal(await bootAndDelete(await flavorFor('CUSTOM_HYPERVISOR_FAKE'), 'on-fake'), 'c-fake');
  });

  it('never makes a 1.1 call to the 1.0 driver, and makes them to the 1.1 driver', async () => {
    // Let a few service reports (each of which probes a 1.1 driver's status) go by.
    await waitFor('two status probes of the fake', async () => (calls.fake.filter((c) => c.method === 'status').length >= 2 ? true : undefined), 10_000);
    const newer = new Set<string>(METHODS_ADDED['1.1']);
    const exampleMethods = new Set(calls.example.map((c) => c.method));
    for (const m of exampleMethods) {
      assert.ok(!newer.has(m), `1.1 method ${m} was called on the 1.0 driver`);
      assert.equal(METHOD_SINCE[m as DriverMethod], '1.0', `${m} is no method of contract 1.0`);
    }
    for (const m of ['spawn', 'destroy', 'listNodes', 'onEvent']) assert.ok(exampleMethods.has(m), `the example driver was never asked to ${m}`);
    // CallOptions are 1.1 too: the 1.0 driver's long calls get exactly their 1.0 arguments.
    for (const c of calls.example.filter((x) => x.method === 'spawn' || x.method === 'destroy')) assert.equal(c.args, 1, `${c.method} got ${c.args} arguments`);

    const fakeMethods = new Set(calls.fake.map((c) => c.method));
    assert.ok(fakeMethods.has('status') && fakeMethods.has('onNodeEvent'), [...fakeMethods].join(','));
    assert.ok(calls.fake.some((c) => c.method === 'spawn' && c.args === 2), 'the 1.1 driver’s spawn gets its CallOptions');
  });

  it('shows a compute whose back-end is unreachable as disabled, with the reason, until it answers again', async () => {
    const backend = openFakeBackend(fakeBackendPath(cloud.config.statePath('compute', 'c-fake'), 'c-fake'));
    try {
      backend.setDown(true);
      const down = await waitFor('c-fake to be disabled', async () => {
        const s = await computeService('c-fake');
        return s.status === 'disabled' ? s : undefined;
      }, 15_000);
      assert.match(down.disabled_reason ?? '', /^AUTO: driver back-end unreachable: fake back-end: fake back-end is down/);
      // The 1.0 compute reports no status: it stays as it was.
      const example = await computeService('c-example');
      assert.deepEqual([example.status, example.disabled_reason], ['enabled', null]);
      backend.setDown(false);
      await waitFor('c-fake to be enabled again', async () => ((await computeService('c-fake')).status === 'enabled' ? true : undefined), 15_000);
      assert.equal((await computeService('c-fake')).disabled_reason, null);
    } finally {
      backend.setDown(false);
      backend.close();
    }
  });

  it('leaves an operator’s disable alone when the back-end answers', async () => {
    const put = await api(admin, 'PUT', `${cloud.urls.compute}/v2.1/os-services/disable-log-reason`, {
      host: 'c-fake', binary: 'nova-compute', disabled_reason: 'maintenance',
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const reports = calls.fake.filter((c) => c.method === 'status').length;
    await waitFor('two more reports', async () => (calls.fake.filter((c) => c.method === 'status').length >= reports + 2 ? true : undefined), 10_000);
    assert.deepEqual(await computeService('c-fake').then((s) => [s.status, s.disabled_reason]), ['disabled', 'maintenance']);
  });
});
