// Contracts 1.1 and 1.2: the per-version method table, the handshake's agreement, and the guard
// holding a driver to what was agreed (version, optional groups, the move capabilities) and to
// the options of long calls (signal; onProgress from 1.2).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  agreeContract, CONTRACT_METHODS, DRIVER_METHODS, guardDriver, inContract, isDriverError, METHOD_SINCE, METHODS_ADDED,
  nodeChanges, PowerState, prepareDriver, requiredMethods, SUPPORTED_CONTRACT, Aborted, capabilityProblems, capabilityTraits,
  CAPABILITY_METHODS, MigrationFailed,
  type CallOptions, type Capabilities, type DriverContext, type DriverVersionInfo, type InstanceInfo, type MoveProgress, type MoveRef,
  type NodeEvent, type NodeInfo, type VirtDriver,
} from '@orrery/virt-api';
import { createTestContext, sampleInstanceSpec } from '@orrery/virt-api/conformance';

const info = (min: string, max: string, groups?: string[]): DriverVersionInfo => ({ name: 'd', driverVersion: '0', contract: { min, max }, ...(groups ? { groups } : {}) });
const running: InstanceInfo = { uuid: 'u1', node: 'n1', powerState: PowerState.RUNNING };
const NODE: NodeInfo = {
  name: 'n1', uuid: '00000000-0000-4000-8000-000000000001', hypervisorType: 'stub', hypervisorVersion: 1,
  cpuInfo: { arch: 'x86_64', model: 'm', vendor: 'v', topology: { sockets: 1, cores: 1, threads: 1 }, features: [] },
  hostIp: '127.0.0.1', inventory: { VCPU: { total: 4, reserved: 0, minUnit: 1, maxUnit: 4, stepSize: 1, allocationRatio: null } }, traits: [],
};

/** A driver recording every call (name and argument count), implementing `max` and the given groups (1.2: every move call, undeclared). */
function recorded(max: '1.0' | '1.1' | '1.2', groups?: string[], over: Partial<VirtDriver> = {}, caps: Partial<Capabilities> = {}): { driver: VirtDriver; calls: Array<[string, number]> } {
  const calls: Array<[string, number]> = [];
  const base: Record<string, unknown> = {
    version: () => info('1.0', max, groups),
    capabilities: () => ({
      pause: false, suspend: false, reboot: true, powerControl: true, rebuild: false, snapshot: true, consoleOutput: false,
      multiNode: false, imageFormats: ['raw'], hypervisorType: 'stub', ...caps,
    }),
    init: async () => {}, shutdown: async () => {}, listNodes: async () => [NODE], listInstances: async () => [],
    getInstance: async () => running, spawn: async () => running, destroy: async () => {}, reboot: async () => {},
    powerOff: async () => {}, powerOn: async () => {}, pause: async () => {}, unpause: async () => {}, suspend: async () => {},
    resume: async () => {}, rebuild: async () => running, getConsoleOutput: async () => '', snapshot: async () => {},
    onEvent: () => () => {},
  };
  if (max !== '1.0') {
    base.onNodeEvent = () => () => {};
    base.status = async () => ({ reachable: true, latencyMs: 1, message: 'ok' });
  }
  if (max === '1.2') for (const m of [...CAPABILITY_METHODS.coldMigration, ...CAPABILITY_METHODS.liveMigration]) base[m] = async () => running;
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
    assert.equal(SUPPORTED_CONTRACT.max, '1.4');
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
    assert.deepEqual(agreeContract(info('1.0', '1.7', ['nodeLookup'])), { version: '1.4', groups: ['nodeLookup'] });
    assert.deepEqual(agreeContract(info('1.0', '1.1', ['nodeLookup'])), { version: '1.1', groups: ['nodeLookup'] });
    // Groups of a version not agreed, and groups this package does not know, do not count.
    assert.deepEqual(agreeContract(info('1.0', '1.1', ['nodeLookup', 'teleport']), { min: '1.0', max: '1.0' }), { version: '1.0', groups: [] });
    assert.deepEqual(agreeContract(info('1.1', '1.1', ['teleport', 'nodeLookup', 'nodeLookup'])).groups, ['nodeLookup']);
  });

  it('refuses disjoint ranges and malformed group lists', () => {
    assert.throws(() => agreeContract(info('1.5', '1.6')), { code: 'IncompatibleContract', message: /speaks 1\.0–1\.4/ });
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

const MOVE: MoveRef = { instance: { uuid: 'u1', node: 'n1' }, migrationId: 'm1' };
const PROGRESS: MoveProgress = { memoryTotal: 8, memoryProcessed: 4, memoryRemaining: 4, diskTotal: 0, diskProcessed: 0, diskRemaining: 0 };
const BOTH = { coldMigration: true, liveMigration: true };

async function inited<T extends VirtDriver>(g: T): Promise<T> {
  const { ctx, cleanup } = await createTestContext();
  await g.init(ctx);
  await cleanup();
  return g;
}

describe('contract 1.2: the move calls', () => {
  it('adds the move calls in 1.2, required only of a driver declaring their capability', () => {
    assert.deepEqual([...METHODS_ADDED['1.2']!], [...CAPABILITY_METHODS.coldMigration, ...CAPABILITY_METHODS.liveMigration]);
    assert.ok(!requiredMethods({ version: '1.2', groups: [] }).includes('finishMigration'));
    const cold = requiredMethods({ version: '1.2', groups: [] }, { ...recorded('1.2').driver.capabilities(), coldMigration: true });
    assert.ok(cold.includes('finishMigration') && !cold.includes('liveMigration'));
    // Under 1.1 a declared capability requires nothing: the calls are not in that contract.
    assert.ok(!requiredMethods({ version: '1.1', groups: [] }, { ...recorded('1.1').driver.capabilities(), ...BOTH }).includes('finishMigration'));
  });

  it('accepts the move capabilities absent, refuses them non-boolean, and makes them traits', () => {
    const caps = recorded('1.2').driver.capabilities();
    assert.deepEqual(capabilityProblems(caps), []);
    assert.deepEqual(capabilityProblems({ ...caps, coldMigration: 'yes' as unknown as boolean }), ['capability coldMigration must be a boolean (or absent)']);
    assert.ok(!capabilityTraits(caps).some((t) => t.includes('MIGRATION')));
    assert.deepEqual(capabilityTraits({ ...caps, ...BOTH }).filter((t) => t.includes('MIGRATION')), ['COMPUTE_COLD_MIGRATION', 'COMPUTE_LIVE_MIGRATION']);
  });

  it('refuses the move calls to a 1.1 driver (NotInContract), and drops its move capabilities', async () => {
    // The driver has the calls and says it can: agreement, not presence, decides.
    const { driver, calls } = recorded('1.1', undefined, { finishRevertMigration: async () => running, liveMigration: async () => {} }, BOTH);
    const g = await inited(guardDriver(driver));
    assert.equal(g.contract.version, '1.1');
    assert.equal(g.capabilities().coldMigration, undefined, 'a 1.1 agreement drops coldMigration');
    assert.ok(!capabilityTraits(g.capabilities()).includes('COMPUTE_LIVE_MIGRATION'));
    assert.equal(g.supports('liveMigration'), false);
    const err = await rejection(g.finishRevertMigration(MOVE, true));
    assert.ok(isDriverError(err, 'NotInContract'));
    assert.match((err as Error).message, /the agreed contract is 1\.1/);
    assert.ok(isDriverError(await rejection(g.liveMigration({ move: MOVE, target: { node: 'n2', data: {} }, blockMigration: false })), 'NotInContract'));
    assert.ok(!calls.some(([m]) => m === 'finishRevertMigration' || m === 'liveMigration'));
  });

  it('refuses a move call whose capability a 1.2 driver did not declare (NotSupported)', async () => {
    const { driver, calls } = recorded('1.2', undefined, {}, { coldMigration: true });
    const g = await inited(guardDriver(driver));
    assert.equal(g.supports('confirmMigration'), true);
    assert.equal(g.supports('preLiveMigration'), false);
    await g.confirmMigration(MOVE);
    const err = await rejection(g.postLiveMigrationAtSource(MOVE));
    assert.ok(isDriverError(err, 'NotSupported'));
    assert.match((err as Error).message, /capability liveMigration not declared/);
    assert.deepEqual(calls.filter(([m]) => m.includes('Migration')).map(([m]) => m), ['confirmMigration']);
  });

  it('passes MigrationFailed from a move call, and wraps what the call may not raise', async () => {
    const g = await inited(guardDriver(recorded('1.2', undefined, {
      liveMigration: async () => { throw new MigrationFailed('the destination refused'); },
      confirmMigration: async () => { throw new MigrationFailed('cleanups never fail so'); },
      revertMigration: async () => { throw new TypeError('bug'); },
    }, BOTH).driver));
    assert.ok(isDriverError(await rejection(g.liveMigration({ move: MOVE, target: { node: 'n2', data: {} }, blockMigration: false })), 'MigrationFailed'));
    const c = await rejection(g.confirmMigration(MOVE));
    assert.ok(isDriverError(c, 'DriverFault'));
    assert.equal((c as { originalCode?: string }).originalCode, 'MigrationFailed');
    assert.ok(isDriverError(await rejection(g.revertMigration(MOVE)), 'DriverFault'));
  });

  it('hands onProgress to a 1.2 driver only, checked, and silenced once the call settled', async () => {
    let seen: CallOptions | undefined;
    let late: ((p: MoveProgress) => void) | undefined;
    const listenerErrors: unknown[] = [];
    const g = await inited(guardDriver(recorded('1.2', undefined, {
      liveMigration: async (_r: unknown, o?: CallOptions) => {
        seen = o;
        o!.onProgress!(PROGRESS);
        o!.onProgress!({ ...PROGRESS, memoryRemaining: -1 }); // malformed: dropped
        late = o!.onProgress;
      },
    }, BOTH).driver, { onListenerError: (err) => listenerErrors.push(err) }));
    const got: MoveProgress[] = [];
    const req = { move: MOVE, target: { node: 'n2', data: {} }, blockMigration: false };
    await g.liveMigration(req, { onProgress: (p) => (got.push(p), assert.fail('listener bug')) });
    assert.ok(seen?.signal instanceof AbortSignal);
    assert.deepEqual(got, [PROGRESS]);
    assert.equal(listenerErrors.length, 1, 'a throwing progress listener is reported, not raised');
    late!(PROGRESS);
    assert.equal(got.length, 1, 'no progress after the call settled');
    // A 1.1 driver's long calls get their signal, never onProgress.
    let old: CallOptions | undefined;
    const g11 = await inited(guardDriver(recorded('1.1', undefined, { spawn: async (_s: unknown, o?: CallOptions) => ((old = o), running) }).driver));
    await g11.spawn(sampleInstanceSpec(NODE, g11.capabilities()), { onProgress: () => {} });
    assert.deepEqual(Object.keys(old ?? {}), ['signal']);
  });

  it('demands the calls of a declared move capability, at load and again at init', async () => {
    const lacking = recorded('1.2', undefined, { finishMigration: undefined }, { coldMigration: true }).driver;
    assert.throws(() => prepareDriver(lacking), { code: 'DriverLoadFailed', message: /lacks contract methods: finishMigration \(agreed contract 1\.2 with capability coldMigration\)/ });
    // Pinned to 1.1, the same driver needs none of them, and is no cold-migration host.
    const pinned = prepareDriver(lacking, { speaks: { min: '1.0', max: '1.1' } });
    assert.equal((await inited(pinned)).capabilities().coldMigration, undefined);
    // A capability first declared at init is checked there.
    let ready = false;
    const late = recorded('1.2', undefined, {
      liveMigration: undefined, init: async () => void (ready = true),
      capabilities: () => ({ ...recorded('1.2').driver.capabilities(), liveMigration: ready }),
    }).driver;
    const g = prepareDriver(late);
    const { ctx, cleanup } = await createTestContext();
    await assert.rejects(g.init(ctx), { code: 'DriverFault', message: /declares capabilities whose calls it lacks: liveMigration \(agreed contract 1\.2\)/ });
    await cleanup();
  });
});
