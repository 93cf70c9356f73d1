// The fake driver's own behaviour: configuration, many nodes, state outside the process,
// out-of-band changes, and runtime fault injection through its database.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  capabilityTraits, guardDriver, isDriverError, loadDriver, PowerState,
  type GuardOptions, type InstanceSpec, type LifecycleEvent, type VirtDriver,
} from '@orrery/virt-api';
import { createTestContext, MemoryImageService, sampleInstanceSpec } from '@orrery/virt-api/conformance';
import { code } from './outcome.js';
import { createDriver, fakeBackendPath, openFakeBackend, parseConfig, type FakeBackend } from '@orrery/driver-fake';

interface Booted {
  driver: VirtDriver;
  backend: FakeBackend;
  images: MemoryImageService;
  events: LifecycleEvent[];
  spec(node?: string): InstanceSpec;
  restart(): Promise<VirtDriver>;
  done(): Promise<void>;
}

/** A guarded fake driver on a fresh state dir, plus a second connection to its back-end. */
async function boot(config: Record<string, string> = {}, guard: GuardOptions = {}): Promise<Booted> {
  const images = new MemoryImageService();
  const { ctx, cleanup } = await createTestContext({ host: 'h', config: { watch_interval_ms: '0', ...config }, images });
  let driver = guardDriver(createDriver(), guard);
  await driver.init(ctx);
  const backend = openFakeBackend(fakeBackendPath(ctx.stateDir, ctx.host));
  const events: LifecycleEvent[] = [];
  driver.onEvent((e) => events.push(e));
  const nodes = await driver.listNodes();
  return {
    get driver() {
      return driver;
    },
    backend,
    images,
    events,
    spec: (node = nodes[0]!.name) => sampleInstanceSpec({ ...nodes[0]!, name: node }, driver.capabilities()),
    async restart() {
      await driver.shutdown();
      driver = guardDriver(createDriver(), guard);
      await driver.init(ctx);
      return driver;
    },
    async done() {
      await driver.shutdown();
      backend.close();
      await cleanup();
    },
  };
}

const ref = (s: InstanceSpec) => ({ uuid: s.uuid, node: s.node });

describe('fake driver: nodes and configuration', () => {
  it('names one node after the host, several as <host>-n<i>, or as configured', async () => {
    for (const [config, names] of [
      [{}, ['h']],
      [{ nodes: '3' }, ['h-n1', 'h-n2', 'h-n3']],
      [{ nodes: '2', node_name_prefix: 'rack7' }, ['rack7-n1', 'rack7-n2']],
      [{ node_names: 'a, b' }, ['a', 'b']],
    ] as const) {
      const b = await boot(config);
      assert.deepEqual((await b.driver.listNodes()).map((n) => n.name), names);
      await b.done();
    }
  });

  it('reports configured capacity, custom resources and traits', async () => {
    const b = await boot({ vcpus: '4', memory_mb: '2048', disk_gb: '20', resources: 'CUSTOM_GPU=2', traits: 'HW_CPU_X86_AVX2' });
    const [n] = await b.driver.listNodes();
    assert.deepEqual(
      Object.fromEntries(Object.entries(n!.inventory).map(([rc, inv]) => [rc, [inv?.total, inv?.maxUnit]])),
      { VCPU: [4, 4], MEMORY_MB: [2048, 2048], DISK_GB: [20, 20], CUSTOM_GPU: [2, 2] },
    );
    assert.deepEqual(n!.traits, ['HW_CPU_X86_AVX2']);
    assert.equal(n!.hypervisorType, 'fake');
    assert.ok(capabilityTraits(b.driver.capabilities()).includes('CUSTOM_HYPERVISOR_FAKE'));
    await b.done();
  });

  it('reports whole machines: only the node_resource_class, total 1, on every node', async () => {
    const b = await boot({ nodes: '2', node_resource_class: 'CUSTOM_BAREMETAL_SMALL' });
    for (const n of await b.driver.listNodes()) {
      assert.deepEqual(Object.entries(n.inventory).map(([rc, inv]) => [rc, inv?.total, inv?.maxUnit]), [['CUSTOM_BAREMETAL_SMALL', 1, 1]]);
    }
    await b.done();
    assert.throws(() => parseConfig('h', { node_resource_class: 'baremetal-small' }), /node_resource_class must look like CUSTOM_NAME/);
  });

  it('switches capabilities off on request, and then refuses their operations', async () => {
    const b = await boot({ unsupported: 'pause,snapshot' });
    const caps = b.driver.capabilities();
    assert.deepEqual([caps.pause, caps.snapshot, caps.suspend], [false, false, true]);
    const raw = createDriver();
    const { ctx, cleanup } = await createTestContext({ config: { unsupported: 'pause' } });
    await raw.init(ctx);
    assert.equal(await code(raw.pause({ uuid: 'x', node: 'kit-host' })), 'NotSupported');
    await raw.shutdown();
    await cleanup();
    await b.done();
  });

  it('refuses a bad configuration with a readable message', async () => {
    const { ctx, cleanup } = await createTestContext({ config: { nodes: 'many' } });
    await assert.rejects(guardDriver(createDriver()).init(ctx), /nodes must be an integer >= 1, got "many"/);
    await cleanup();
  });

  it('manages thousands of nodes with UUIDs stable across restarts', async () => {
    const b = await boot({ nodes: '3000' });
    const before = await b.driver.listNodes();
    assert.equal(new Set(before.map((n) => n.uuid)).size, 3000);
    const after = await (await b.restart()).listNodes();
    assert.deepEqual(after.map((n) => n.uuid), before.map((n) => n.uuid));
    await b.done();
  });
});

describe('fake driver: guests', () => {
  it('refuses flavors larger than a node, unknown nodes and duplicate uuids', async () => {
    const b = await boot({ vcpus: '2', nodes: '2' });
    const s = b.spec();
    assert.equal(await code(b.driver.spawn({ ...s, flavor: { ...s.flavor, vcpus: 3 } })), 'CapacityExceeded');
    assert.equal(await code(b.driver.spawn(b.spec('elsewhere'))), 'NodeNotFound');
    await b.driver.spawn(s);
    assert.equal(await code(b.driver.spawn(s)), 'InstanceExists');
    assert.deepEqual(b.backend.listInstances().map((i) => i.uuid), [s.uuid]);
    await b.done();
  });

  it('records every spawn call, even of a guest since destroyed', async () => {
    const b = await boot();
    const s = b.spec();
    await b.driver.spawn(s);
    assert.equal(await code(b.driver.spawn(s)), 'InstanceExists');
    await b.driver.destroy({ uuid: s.uuid, node: s.node });
    assert.deepEqual([...b.backend.spawnCounts()], [[s.uuid, 2]]);
    await b.done();
  });

  it('keeps guests across a compute restart', async () => {
    const b = await boot();
    const s = b.spec();
    await b.driver.spawn(s);
    await b.driver.pause(ref(s));
    const d = await b.restart();
    assert.equal((await d.getInstance(ref(s))).powerState, PowerState.PAUSED);
    await b.done();
  });

  it('uploads snapshot bytes and shows the guest on its console', async () => {
    const b = await boot();
    const s = b.spec();
    await b.driver.spawn(s);
    await b.driver.snapshot({ instance: ref(s), imageId: 'img-1', diskFormat: 'qcow2' });
    assert.match(Buffer.from(b.images.images.get('img-1')!).toString('latin1'), new RegExp(`instance=${s.uuid}`));
    assert.match(await b.driver.getConsoleOutput(ref(s)), new RegExp(`${s.name} login:`));
    await b.done();
  });

  it('sees changes made behind its back, and reports them as events', async () => {
    const b = await boot({ watch_interval_ms: '5' });
    const s = b.spec();
    await b.driver.spawn(s);
    b.backend.setPowerState(s.uuid, PowerState.SHUTDOWN);
    assert.equal((await b.driver.getInstance(ref(s))).powerState, PowerState.SHUTDOWN);
    for (let i = 0; i < 200 && !b.events.some((e) => e.transition === 'stopped'); i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(b.events.map((e) => [e.uuid, e.transition]), [[s.uuid, 'started'], [s.uuid, 'stopped']]);
    b.backend.deleteInstance(s.uuid);
    assert.equal(await code(b.driver.getInstance(ref(s))), 'InstanceNotFound');
    await b.done();
  });
});

describe('fake driver: fault injection at runtime', () => {
  it('fails the next spawn with the armed error and leaves no guest', async () => {
    const b = await boot();
    b.backend.injectFault({ op: 'spawn', code: 'ImageNotFound', message: 'image vanished' });
    const s = b.spec();
    assert.equal(await code(b.driver.spawn(s)), 'ImageNotFound');
    assert.deepEqual(b.backend.listInstances(), []);
    assert.deepEqual(b.backend.listFaults(), [], 'a one-shot fault is used up');
    await b.driver.spawn(s);
    await b.done();
  });

  it('hits only the node and the number of calls it names', async () => {
    const b = await boot({ nodes: '2' });
    const [s1, s2] = [b.spec('h-n1'), b.spec('h-n2')];
    await b.driver.spawn(s1);
    await b.driver.spawn(s2);
    b.backend.injectFault({ op: 'powerOff', node: 'h-n2', code: 'Timeout', times: 2 });
    assert.equal(await code(b.driver.powerOff(ref(s1), 0)), 'resolved');
    assert.equal(await code(b.driver.powerOff(ref(s2), 0)), 'Timeout');
    assert.equal(await code(b.driver.powerOff(ref(s2), 0)), 'Timeout');
    assert.equal(await code(b.driver.powerOff(ref(s2), 0)), 'resolved');
    await b.done();
  });

  it('takes the whole back-end down and brings it back', async () => {
    const b = await boot();
    const s = b.spec();
    await b.driver.spawn(s);
    b.backend.setDown(true);
    assert.equal(await code(b.driver.listInstances()), 'BackendUnavailable');
    assert.equal(await code(b.driver.getInstance(ref(s))), 'BackendUnavailable');
    assert.equal(await code(b.driver.spawn(b.spec())), 'BackendUnavailable');
    b.backend.setDown(false);
    assert.equal((await b.driver.listInstances()).length, 1);
    await b.done();
  });

  it('loses an instance: spawn reports success, then the guest is gone', async () => {
    const b = await boot();
    b.backend.injectFault({ op: 'spawn', kind: 'lose' });
    const s = b.spec();
    assert.equal((await b.driver.spawn(s)).powerState, PowerState.RUNNING);
    assert.equal(await code(b.driver.getInstance(ref(s))), 'InstanceNotFound');
    await b.done();
  });

  it('hangs a call until its timeout, and cleans up a hung spawn at shutdown', async () => {
    const b = await boot({}, { timeoutMs: { spawn: 30 } });
    b.backend.injectFault({ op: 'reboot', kind: 'hang', delayMs: 20 });
    const s = b.spec();
    await b.driver.spawn(s);
    assert.equal(await code(b.driver.reboot(ref(s), 'hard')), 'Timeout', 'the fake times out after delayMs');
    b.backend.injectFault({ op: 'spawn', kind: 'hang' }); // never returns: the guard's deadline answers
    const t = b.spec();
    assert.equal(await code(b.driver.spawn(t)), 'Timeout');
    await b.driver.shutdown();
    assert.deepEqual(b.backend.listInstances().map((i) => i.uuid), [s.uuid], 'the hung spawn left nothing');
    await b.done();
  });

  it('makes a call crash like a driver bug, which the guard reports as DriverFault', async () => {
    const b = await boot();
    b.backend.injectFault({ op: 'listInstances', kind: 'crash', message: 'segfault in fake' });
    const err = await b.driver.listInstances().catch((e: unknown) => e);
    assert.ok(isDriverError(err, 'DriverFault'));
    assert.match((err as Error).message, /segfault in fake/);
    await b.done();
  });

  it('adds latency to every call', async () => {
    const b = await boot({ latency_ms: '30' });
    const t0 = performance.now();
    await b.driver.listInstances();
    assert.ok(performance.now() - t0 >= 25);
    await b.done();
  });
});

describe('fake driver: loading', () => {
  it('loads by its bundled name and passes the handshake', async () => {
    const d = await loadDriver('fake', { bundled: { fake: '@orrery/driver-fake' } });
    assert.deepEqual(d.version().contract, { min: '1.0', max: '1.4' });
    assert.deepEqual(d.contract, { version: '1.4', groups: ['nodeLookup'] });
    assert.equal(d.version().name, 'fake');
  });
});
