// guardDriver: the contract enforced at the seam.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  guardDriver, InstanceNotFound, isDriverError, PowerState, Timeout,
  type Capabilities, type InstanceRef, type LifecycleEvent, type VirtDriver,
} from '@orrery/virt-api';
import { createTestContext, sampleInstanceSpec } from '@orrery/virt-api/conformance';

const ref: InstanceRef = { uuid: 'u1', node: 'n1' };
const node = { name: 'n1', uuid: '00000000-0000-4000-8000-000000000001' } as Parameters<typeof sampleInstanceSpec>[0];

/** A driver whose every call is recorded and succeeds, unless `over` replaces it. */
function stub(over: Partial<VirtDriver> = {}, caps: Partial<Capabilities> = {}): VirtDriver & { calls: string[] } {
  const calls: string[] = [];
  const info = { uuid: 'u1', node: 'n1', powerState: PowerState.RUNNING };
  const base: VirtDriver = {
    version: () => ({ name: 'stub', driverVersion: '0', contract: { min: '1.0', max: '1.0' } }),
    capabilities: () => ({
      pause: false, suspend: true, reboot: true, powerControl: true, rebuild: true, snapshot: true, consoleOutput: true,
      multiNode: false, imageFormats: ['raw'], hypervisorType: 'stub', ...caps,
    }),
    init: async () => void calls.push('init'),
    shutdown: async () => void calls.push('shutdown'),
    listNodes: async () => [],
    listInstances: async () => [],
    getInstance: async () => (calls.push('getInstance'), info),
    spawn: async () => (calls.push('spawn'), info),
    destroy: async () => void calls.push('destroy'),
    reboot: async () => void calls.push('reboot'),
    powerOff: async () => void calls.push('powerOff'),
    powerOn: async () => void calls.push('powerOn'),
    pause: async () => void calls.push('pause'),
    unpause: async () => void calls.push('unpause'),
    suspend: async () => void calls.push('suspend'),
    resume: async () => void calls.push('resume'),
    rebuild: async () => info,
    getConsoleOutput: async () => '',
    snapshot: async () => {},
    onEvent: () => () => {},
  };
  return Object.assign(base, over, { calls });
}

async function started(d: VirtDriver): Promise<VirtDriver> {
  const g = guardDriver(d);
  const { ctx, cleanup } = await createTestContext();
  await g.init(ctx);
  await cleanup();
  return g;
}

const rejection = (p: Promise<unknown>) => p.then(() => assert.fail('expected a rejection'), (e: unknown) => e);

describe('guardDriver', () => {
  it('refuses an undeclared operation with NotSupported without calling the driver', async () => {
    const d = stub();
    const g = await started(d);
    const err = await rejection(g.pause(ref));
    assert.ok(isDriverError(err, 'NotSupported'));
    assert.match((err as Error).message, /stub does not support pause \(capability pause not declared\)/);
    assert.ok(!d.calls.includes('pause'));
    await g.suspend(ref);
    assert.ok(d.calls.includes('suspend'), 'declared operations go through');
  });

  it('refuses spawn of an undeclared image format without calling the driver', async () => {
    const d = stub();
    const g = await started(d);
    const spec = sampleInstanceSpec(node, d.capabilities());
    const err = await rejection(g.spawn({ ...spec, image: { ...spec.image, diskFormat: 'vmdk' } }));
    assert.ok(isDriverError(err, 'NotSupported'));
    assert.ok(!d.calls.includes('spawn'));
  });

  it('takes a container image (container_format docker) for type docker, whatever its disk format', async () => {
    const raw = stub();
    const g = await started(raw);
    const spec = sampleInstanceSpec(node, raw.capabilities());
    const err = await rejection(g.spawn({ ...spec, image: { ...spec.image, diskFormat: 'raw', containerFormat: 'docker' } }));
    assert.match((err as Error).message, /cannot spawn an image of container format docker/);
    assert.ok(!raw.calls.includes('spawn'), 'a raw host is never handed a docker save tarball');
    const docker = stub({}, { imageFormats: ['docker'] });
    const gd = await started(docker);
    await gd.spawn({ ...spec, image: { ...spec.image, diskFormat: 'raw', containerFormat: 'docker' } });
    assert.ok(docker.calls.includes('spawn'));
  });

  it('passes allowed errors through unchanged', async () => {
    const original = new InstanceNotFound('no u1');
    const g = await started(stub({ getInstance: async () => { throw original; } }));
    assert.equal(await rejection(g.getInstance(ref)), original);
  });

  it('wraps raw errors, sync throws and disallowed codes as DriverFault, keeping the message', async () => {
    const raw = new TypeError('cannot read properties of undefined');
    const g = await started(stub({
      reboot: async () => { throw raw; },
      powerOn: () => { throw new Error('thrown before any promise'); },
      destroy: async () => { throw new InstanceNotFound('destroy must be idempotent'); },
    }));
    const a = await rejection(g.reboot(ref, 'hard'));
    assert.ok(isDriverError(a, 'DriverFault'));
    assert.match(a.message, /cannot read properties of undefined/);
    assert.equal(a.cause, raw);
    assert.ok(isDriverError(await rejection(g.powerOn(ref)), 'DriverFault'));
    const c = await rejection(g.destroy(ref));
    assert.ok(isDriverError(c, 'DriverFault'));
    assert.equal((c as { originalCode?: string }).originalCode, 'InstanceNotFound');
  });

  it('turns a call that outlives its deadline into Timeout', async () => {
    const g = guardDriver(stub({ spawn: () => new Promise(() => {}) }), { timeoutMs: { spawn: 20 } });
    const { ctx, cleanup } = await createTestContext();
    await g.init(ctx);
    const spec = sampleInstanceSpec(node, g.capabilities());
    const err = await rejection(g.spawn(spec));
    assert.ok(isDriverError(err, 'Timeout'));
    assert.match((err as Error).message, /stub\.spawn did not finish within 20 ms/);
    await cleanup();
  });

  it('passes a Timeout the driver raises itself', async () => {
    const g = await started(stub({ powerOff: async () => { throw new Timeout('guest ignored ACPI'); } }));
    assert.ok(isDriverError(await rejection(g.powerOff(ref, 1)), 'Timeout'));
  });

  it('refuses many nodes from a driver that did not declare multiNode', async () => {
    const n = { name: 'a' } as Awaited<ReturnType<VirtDriver['listNodes']>>[number];
    const g = await started(stub({ listNodes: async () => [n, { ...n, name: 'b' }] }));
    assert.ok(isDriverError(await rejection(g.listNodes()), 'DriverFault'));
  });

  it('refuses malformed capabilities at init', async () => {
    const g = guardDriver(stub({}, { imageFormats: [] }));
    const { ctx, cleanup } = await createTestContext();
    const err = await rejection(g.init(ctx));
    assert.match((err as Error).message, /imageFormats must list at least one disk format/);
    await cleanup();
  });

  it('keeps a throwing listener away from the driver', () => {
    let emit: (e: LifecycleEvent) => void = () => {};
    const seen: unknown[] = [];
    const g = guardDriver(stub({ onEvent: (l) => ((emit = l), () => {}) }), { onListenerError: (err) => seen.push(err) });
    g.onEvent(() => {
      throw new Error('listener bug');
    });
    assert.doesNotThrow(() => emit({ uuid: 'u1', node: 'n1', transition: 'started', powerState: PowerState.RUNNING, at: Date.now() }));
    assert.equal((seen[0] as Error).message, 'listener bug');
  });

  it('is a no-op on a guarded driver', () => {
    const g = guardDriver(stub());
    assert.equal(guardDriver(g), g);
  });
});
