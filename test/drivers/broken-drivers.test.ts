// The conformance kit catches faults: each deliberately broken driver fails exactly the named
// checks that describe its bug, while a correct in-memory driver and the fake driver pass them all.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { guardDriver, importDriverFactory, isDriverError, PowerState, type VirtDriver } from '@orrery/virt-api';
import {
  CHECK_NAMES, createTestContext, runChecks, sampleInstanceSpec, type CheckResult, type ConformanceFixture,
} from '@orrery/virt-api/conformance';
import { MemoryDriver, memoryFixture } from './memory-driver.js';
import { DeafToAbortDriver } from './broken/deaf-to-abort.js';
import { FutureContractDriver } from './broken/future-contract.js';
import { LeakyFailedSpawnDriver } from './broken/leaky-failed-spawn.js';
import { NonIdempotentDestroyDriver } from './broken/non-idempotent-destroy.js';
import { NonIdempotentPowerOffDriver } from './broken/non-idempotent-power-off.js';
import { RacySpawnDriver } from './broken/racy-spawn.js';
import { RawErrorDriver } from './broken/raw-error.js';
import { SilentEventsDriver } from './broken/silent-events.js';
import { UndeclaredPauseDriver } from './broken/undeclared-pause.js';
import { UnstableNodeUuidsDriver } from './broken/unstable-node-uuids.js';

const failures = (results: CheckResult[]) => results.filter((r) => !r.ok).map((r) => r.name);
const explain = (results: CheckResult[]) =>
  results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.error?.message}`).join('\n');

/** Each broken driver, the check that names its bug, and any others its bug also trips. */
const BROKEN: Array<{ bug: string; make: () => VirtDriver; fails: string; alsoFails?: string[] }> = [
  { bug: 'leaks a guest on a failed spawn', make: () => new LeakyFailedSpawnDriver(), fails: 'failed spawn leaves nothing behind' },
  {
    bug: 'raises InstanceNotFound when destroying a missing instance',
    make: () => new NonIdempotentDestroyDriver(),
    fails: 'destroy is idempotent',
    alsoFails: ['errors belong to the taxonomy'], // destroy may not raise InstanceNotFound at all
  },
  {
    bug: 'lets a raw Error escape',
    make: () => new RawErrorDriver(),
    fails: 'errors belong to the taxonomy',
    // every check that expects InstanceNotFound sees the raw Error instead
    alsoFails: [
      'spawn, inspect and destroy an instance',
      'operations on a missing instance raise InstanceNotFound',
      'failed spawn leaves nothing behind',
    ],
  },
  { bug: 'emits no events', make: () => new SilentEventsDriver(), fails: 'spawn and power-off emit lifecycle events' },
  {
    bug: 'performs an operation it did not declare',
    make: () => new UndeclaredPauseDriver(),
    fails: 'undeclared operations raise NotSupported',
  },
  { bug: 'implements an incompatible contract', make: () => new FutureContractDriver(), fails: 'version handshake is compatible' },
  {
    bug: 'refuses a second power-off',
    make: () => new NonIdempotentPowerOffDriver(),
    fails: 'power off is idempotent; power on restarts',
  },
  { bug: 'loses instances under parallel spawns', make: () => new RacySpawnDriver(), fails: 'parallel spawns succeed and are all listed' },
  { bug: 'reports new node UUIDs on every call', make: () => new UnstableNodeUuidsDriver(), fails: 'nodes are well-formed and stable' },
  { bug: 'declares 1.1 but ignores an aborted signal', make: () => new DeafToAbortDriver(), fails: '1.1: a spawn whose signal is already aborted creates nothing' },
];

/** The fake driver, loaded the way the compute service loads it (by its bundled name). */
async function fakeFixture(): Promise<ConformanceFixture> {
  const createDriver = await importDriverFactory('fake', { bundled: { fake: '@orrery/driver-fake' } });
  return {
    name: 'fake',
    async create() {
      const { ctx, cleanup } = await createTestContext({ config: { nodes: '2' } });
      const driver = await createDriver();
      return {
        driver,
        ctx,
        cleanup,
        reopen: createDriver,
        async failSpawn(node) {
          const spec = sampleInstanceSpec(node, driver.capabilities());
          return { ...spec, flavor: { ...spec.flavor, name: 'kit.huge', vcpus: 100_000 } };
        },
      };
    },
  };
}

describe('the conformance kit', () => {
  it('passes a correct in-memory driver on every check', async () => {
    const results = await runChecks(memoryFixture('memory', () => new MemoryDriver()));
    assert.deepEqual(results.map((r) => r.name), [...CHECK_NAMES]);
    assert.deepEqual(failures(results), [], explain(results));
  });

  it('passes the fake driver on every check, none skipped', async () => {
    const results = await runChecks(await fakeFixture());
    assert.deepEqual(failures(results), [], explain(results));
    assert.deepEqual(results.filter((r) => r.skipped).map((r) => r.name), []);
  });

  for (const { bug, make, fails, alsoFails = [] } of BROKEN) {
    it(`catches a driver that ${bug}: "${fails}" fails`, async () => {
      const results = await runChecks(memoryFixture(bug, make));
      assert.ok(failures(results).includes(fails), `"${fails}" passed; failures:\n${explain(results)}`);
      assert.deepEqual(failures(results).sort(), [fails, ...alsoFails].sort(), explain(results));
    });
  }
});

describe('the guard at the seam', () => {
  it('turns the raw Error the kit caught into DriverFault, keeping its message', async () => {
    const { ctx, cleanup } = await createTestContext();
    const driver = guardDriver(new RawErrorDriver());
    await driver.init(ctx);
    const err = await driver.getInstance({ uuid: 'gone', node: 'mem-a' }).catch((e: unknown) => e);
    assert.ok(isDriverError(err, 'DriverFault'));
    assert.match(err.message, /virDomainLookupByUUID: no domain with matching uuid 'gone'/);
    await cleanup();
  });

  it('refuses the operation the kit caught being undeclared, without calling the driver', async () => {
    const { ctx, cleanup } = await createTestContext();
    const raw = new UndeclaredPauseDriver();
    const driver = guardDriver(raw);
    await driver.init(ctx);
    const [node] = await driver.listNodes();
    const spec = sampleInstanceSpec(node!, driver.capabilities());
    await driver.spawn(spec);
    const err = await driver.pause({ uuid: spec.uuid, node: spec.node }).catch((e: unknown) => e);
    assert.ok(isDriverError(err, 'NotSupported'));
    assert.equal((await raw.getInstance(spec)).powerState, PowerState.RUNNING);
    await cleanup();
  });
});
