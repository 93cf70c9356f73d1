// Contract 1.1: the per-version method table, the handshake's agreement, and the guard holding
// a driver to what was agreed (version, optional groups) and to the signals of long calls.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  agreeContract, CONTRACT_METHODS, DRIVER_METHODS, guardDriver, inContract, isDriverError, METHOD_SINCE, METHODS_ADDED,
  nodeChanges, PowerState, prepareDriver, requiredMethods, SUPPORTED_CONTRACT, Aborted,
  type DriverContext, type DriverVersionInfo, type InstanceInfo, type NodeEvent, type NodeInfo, type VirtDriver,
} from '@orrery/virt-api';
import { createTestContext, sampleInstanceSpec } from '@orrery/virt-api/conformance';

const info = (min: string, max: string, groups?: string[]): DriverVersionInfo => ({ name: 'd', driverVersion: '0', contract: { min, max }, ...(groups ? { groups } : {}) });
const running: InstanceInfo = { uuid: 'u1', node: 'n1', powerState: PowerState.RUNNING };
const NODE: NodeInfo = {
  name: 'n1', uuid: '00000000-0000-4000-8000-000000000001', hypervisorType: 'stub', hypervisorVersion: 1,
  cpuInfo: { arch: 'x86_64', model: 'm', vendor: 'v', topology: { sockets: 1, cores: 1, threads: 1 }, features: [] },
  hostIp: '127.0.0.1', inventory: { VCPU: { total: 4, reserved: 0, minUnit: 1, maxUnit: 4, stepSize: 1, allocationRatio: null } }, traits: [],
};

/** A driver recording every call (name and argument count), implementing `max` and the given groups. */
function recorded(max: '1.0' | '1.1', groups?: string[], over: Partial<VirtDriver> = {}): { driver: VirtDriver; calls: Array<[string, number]> } {
  const calls: Array<[string, number]> = [];
  const base: Record<string, unknown> = {
    version: () => info('1.0', max, groups),
    capabilities: () => ({
      pause: false, suspend: false, reboot: true, powerControl: true, rebuild: false, snapshot: true, consoleOutput: false,
      multiNode: false, imageFormats: ['raw'], hypervisorType: 'stub',
    }),
    init: async () => {}, shutdown: async () => {}, listNodes: async () => [NODE], listInstances: async () => [],
    getInstance: async () => running, spawn: async () => running, destroy: async () => {}, reboot: async () => {},
    powerOff: async () => {}, powerOn: async () => {}, pause: async () => {}, unpause: async () => {}, suspend: async () => {},
    resume: async () => {}, rebuild: async () => running, getConsoleOutput: async () => '', snapshot: async () => {},
    onEvent: () => () => {},
  };
  if (max === '1.1') {
    base.onNodeEvent = () => () => {};
    base.status = async () => ({ reachable: true, latencyMs: 1, message: 'ok' });
  }
  if (groups?.includes('nodeLookup')) base.getNode = async () => NODE;
  Object.assign(base, over);
  const driver = new Proxy(base, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv);
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...args: unknown[]) => (calls.push([prop, args.length]), (v as (...a: unknown[]) => unknown)(...args));
    },
  }) as unknown as VirtDriver;
  return { driver, calls };
}

const rejection = (p: Promise<unknown>) => p.then(() => assert.fail('expected a rejection'), (e: unknown) => e);

describe('contract method table', () => {
  it('names every method once, with the version that added it', () => {
    const all = Object.values(METHODS_ADDED).flat();
    assert.equal(new Set(all).size, all.length);
    assert.deepEqual([...DRIVER_METHODS], all);
    assert.equal(METHOD_SINCE.spawn, '1.0');
    assert.equal(METHOD_SINCE.status, '1.1');
    assert.equal(METHOD_SINCE.getNode, '1.1');
    assert.ok(!CONTRACT_METHODS['1.0']!.includes('status'));
    assert.ok(CONTRACT_METHODS['1.1']!.includes('spawn') && CONTRACT_METHODS['1.1']!.includes('onNodeEvent'));
    assert.equal(METHOD_SINCE.liveMigration, '1.2');
    assert.ok(!CONTRACT_METHODS['1.1']!.includes('finishMigration'));
    assert.equal(SUPPORTED_CONTRACT.max, '1.2');
  });

  it('requires of a driver only what its agreed version and groups have', () => {
    assert.deepEqual(requiredMethods({ version: '1.0', groups: [] }), METHODS_ADDED['1.0']);
    const v11 = requiredMethods({ version: '1.1', groups: [] });
    assert.ok(v11.includes('status') && v11.includes('onNodeEvent') && !v11.includes('getNode'));
    assert.ok(requiredMethods({ version: '1.1', groups: ['nodeLookup'] }).includes('getNode'));
    assert.equal(inContract({ version: '1.0', groups: ['nodeLookup'] }, 'getNode'), false);
  });
});

describe('agreeContract', () => {
  it('agrees the highest common version and the groups that exist at it', () => {
    assert.deepEqual(agreeContract(info('1.0', '1.0')), { version: '1.0', groups: [] });
    assert.deepEqual(agreeContract(info('1.0', '1.7', ['nodeLookup'])), { version: '1.2', groups: ['nodeLookup'] });
    assert.deepEqual(agreeContract(info('1.0', '1.1', ['nodeLookup'])), { version: '1.1', groups: ['nodeLookup'] });
    // Groups of a version not agreed, and groups this package does not know, do not count.
    assert.deepEqual(agreeContract(info('1.0', '1.1', ['nodeLookup', 'teleport']), { min: '1.0', max: '1.0' }), { version: '1.0', groups: [] });
    assert.deepEqual(agreeContract(info('1.1', '1.1', ['teleport', 'nodeLookup', 'nodeLookup'])).groups, ['nodeLookup']);
  });

  it('refuses disjoint ranges and malformed group lists', () => {
    assert.throws(() => agreeContract(info('1.3', '1.4')), { code: 'IncompatibleContract', message: /speaks 1\.0–1\.2/ });
    assert.throws(() => agreeContract({ ...info('1.0', '1.1'), groups: 'nodeLookup' as unknown as string[] }), /groups that are not a list/);
  });
});

describe('prepareDriver (the loader)', () => {
  it('accepts a 1.0 driver without any 1.1 method and hands it the agreed version', async () => {
    let seen: DriverContext | undefined;
    const { driver } = recorded('1.0', undefined, { init: async (ctx: DriverContext) => void (seen = ctx) });
    const g = prepareDriver(driver);
    assert.deepEqual(g.contract, { version: '1.0', groups: [] });
    const { ctx, cleanup } = await createTestContext();
    await g.init(ctx);
    await cleanup();
    assert.equal(seen?.contractVersion, '1.0');
  });

  it('demands the methods of the agreed version and of the declared groups', () => {
    const noStatus = recorded('1.1', undefined, { status: undefined }).driver;
    assert.throws(() => prepareDriver(noStatus), { code: 'DriverLoadFailed', message: /lacks contract methods: status \(agreed contract 1\.1\)/ });
    const noLookup = recorded('1.1', ['nodeLookup'], { getNode: undefined }).driver;
    assert.throws(() => prepareDriver(noLookup), /lacks contract methods: getNode \(agreed contract 1\.1 with nodeLookup\)/);
    // The same driver pinned to 1.0 by the service needs neither.
    assert.equal(prepareDriver(noStatus, { speaks: { min: '1.0', max: '1.0' } }).contract.version, '1.0');
  });
});

describe('the guard holds a driver to the agreement', () => {
  it('refuses 1.1 calls to a 1.0 driver with NotInContract, never reaching it', async () => {
    // The driver even has the methods: agreement, not presence, decides.
    const { driver, calls } = recorded('1.0', undefined, {
      status: async () => ({ reachable: true, latencyMs: 0, message: '' }), onNodeEvent: () => () => {}, getNode: async () => NODE,
    });
    const g = guardDriver(driver);
    assert.equal(g.supports('status'), false);
    assert.equal(g.supports('spawn'), true);
    const err = await rejection(g.status());
    assert.ok(isDriverError(err, 'NotInContract'));
    assert.match((err as Error).message, /status is not in the contract agreed with driver d: the agreed contract is 1\.0/);
    assert.throws(() => g.onNodeEvent(() => {}), { code: 'NotInContract' });
    assert.ok(isDriverError(await rejection(g.getNode('n1')), 'NotInContract'));
    assert.deepEqual(calls.filter(([m]) => m !== 'version'), []);
  });

  it('refuses a group method the driver did not declare', async () => {
    const { driver, calls } = recorded('1.1', undefined, { getNode: async () => NODE });
    const g = guardDriver(driver);
    assert.equal(g.supports('status'), true);
    assert.equal(g.supports('getNode'), false);
    const err = await rejection(g.getNode('n1'));
    assert.ok(isDriverError(err, 'NotInContract'));
    assert.match((err as Error).message, /did not declare the optional group nodeLookup/);
    assert.ok(!calls.some(([m]) => m === 'getNode'));
    const declared = guardDriver(recorded('1.1', ['nodeLookup']).driver);
    assert.equal((await declared.getNode('n1')).name, 'n1');
  });

  it('checks what status() answers, and drops malformed node events', async () => {
    const events: NodeEvent[] = [];
    let emit: (e: NodeEvent) => void = () => {};
    const g = guardDriver(recorded('1.1', undefined, {
      status: async () => ({ reachable: 'yes' }) as never,
      onNodeEvent: (l: (e: NodeEvent) => void) => ((emit = l), () => {}),
    }).driver);
    assert.ok(isDriverError(await rejection(g.status()), 'DriverFault'));
    g.onNodeEvent((e) => events.push(e));
    emit({ kind: 'exploded', node: 'n1' } as never);
    emit({ kind: 'removed', node: 'n1', uuid: NODE.uuid, at: 1 });
    assert.deepEqual(events.map((e) => e.kind), ['removed']);
  });

  it('hands long calls a signal under 1.1, and nothing under 1.0', async () => {
    const old = recorded('1.0');
    const spec = sampleInstanceSpec(NODE, old.driver.capabilities());
    const ac = new AbortController();
    await guardDriver(old.driver).spawn(spec, { signal: ac.signal });
    await guardDriver(old.driver).destroy({ uuid: 'u1', node: 'n1' }, { signal: ac.signal });
    assert.deepEqual(old.calls.filter(([m]) => m === 'spawn' || m === 'destroy'), [['spawn', 1], ['destroy', 1]]);
    let got: AbortSignal | undefined;
    const cur = recorded('1.1', undefined, { spawn: async (_s: unknown, o?: { signal?: AbortSignal }) => ((got = o?.signal), running) });
    await guardDriver(cur.driver).spawn(spec, { signal: ac.signal });
    assert.ok(got instanceof AbortSignal);
  });

  it('aborts the driver’s signal when the caller aborts or the deadline passes', async () => {
    const signals: AbortSignal[] = [];
    const hang = (_s: unknown, o?: { signal?: AbortSignal }) => new Promise<never>((_, reject) => {
      signals.push(o!.signal!);
      o!.signal!.addEventListener('abort', () => reject(new Aborted('stopped by the signal')));
    });
    const g = guardDriver(recorded('1.1', undefined, { spawn: hang, snapshot: hang }).driver, { timeoutMs: { snapshot: 20 } });
    const spec = sampleInstanceSpec(NODE, g.capabilities());
    const ac = new AbortController();
    const pending = rejection(g.spawn(spec, { signal: ac.signal }));
    await new Promise((r) => setImmediate(r));
    ac.abort(new Aborted('compute service stopping'));
    const err = await pending;
    assert.ok(isDriverError(err, 'Aborted'));
    assert.equal((err as Error).message, 'compute service stopping');
    assert.equal(signals[0]!.aborted, true);
    const t = await rejection(g.snapshot({ instance: { uuid: 'u1', node: 'n1' }, imageId: 'i', diskFormat: 'raw' }));
    assert.ok(isDriverError(t, 'Timeout'));
    assert.ok(isDriverError(signals[1]!.reason, 'Timeout'), 'the deadline aborts the driver’s signal with the Timeout');
    // Already aborted: the driver is not called at all.
    const before = signals.length;
    assert.ok(isDriverError(await rejection(g.spawn(spec, { signal: AbortSignal.abort('bye') })), 'Aborted'));
    assert.equal(signals.length, before);
  });
});

describe('nodeChanges', () => {
  it('reports removed, added, inventory and trait changes, matched by name', () => {
    const b = { ...NODE, name: 'n2', uuid: '00000000-0000-4000-8000-000000000002' };
    const grown = { ...NODE, inventory: { VCPU: { ...NODE.inventory.VCPU!, total: 8, maxUnit: 8 } }, traits: ['CUSTOM_X'] };
    const replaced = { ...b, uuid: '00000000-0000-4000-8000-000000000003' };
    const ev = nodeChanges([NODE, b], [grown, replaced], 5);
    assert.deepEqual(ev.map((e) => [e.kind, e.node, e.uuid.slice(-1)]), [
      ['removed', 'n2', '2'], ['added', 'n2', '3'], ['inventoryChanged', 'n1', '1'], ['traitsChanged', 'n1', '1'],
    ]);
    assert.ok(ev.every((e) => e.at === 5));
    assert.deepEqual(nodeChanges([NODE], [{ ...NODE, traits: [] }]), []);
  });
});
