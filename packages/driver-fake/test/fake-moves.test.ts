// The fake driver's moves (contract 1.2) behind the guard, as the compute service calls them:
// two hosts over one image service, a fault armed on every step, progress over the configured
// duration, a migration that converges only when forced, and move records across a restart.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  capabilityTraits, guardDriver, PowerState,
  type DriverErrorCode, type DriverMethod, type GuardedVirtDriver, type InstanceSpec, type LifecycleEvent, type MoveProgress, type MoveRef,
} from '@orrery/virt-api';
import { createTestContext, MemoryImageService, sampleInstanceSpec } from '@orrery/virt-api/conformance';
import { code } from './outcome.js';
import { createDriver, fakeBackendPath, openFakeBackend, type FakeBackend } from '@orrery/driver-fake';

interface Host {
  driver: GuardedVirtDriver;
  backend: FakeBackend;
  node: string;
  /** A bootable spec on its node. */
  spec(): InstanceSpec;
  events: LifecycleEvent[];
  restart(): Promise<void>;
  done(): Promise<void>;
}

async function host(name: string, images: MemoryImageService, config: Record<string, string> = {}): Promise<Host> {
  const { ctx, cleanup } = await createTestContext({ host: name, images, config: { watch_interval_ms: '0', live_migration_ms: '50', ...config } });
  const events: LifecycleEvent[] = [];
  const start = async () => {
    const d = guardDriver(createDriver());
    await d.init(ctx);
    d.onEvent((e) => events.push(e));
    return d;
  };
  let driver = await start();
  const backend = openFakeBackend(config['cluster_state_file'] ?? fakeBackendPath(ctx.stateDir, name));
  const first = (await driver.listNodes())[0]!;
  return {
    get driver() {
      return driver;
    },
    backend, node: first.name, events,
    spec: () => sampleInstanceSpec(first, driver.capabilities()),
    async restart() {
      await driver.shutdown();
      driver = await start();
    },
    async done() {
      await driver.shutdown();
      backend.close();
      await cleanup();
    },
  };
}

async function pair(config: Record<string, string> = {}) {
  const images = new MemoryImageService();
  const a = await host('a', images, config);
  const b = await host('b', images, config);
  return { a, b, images, spec: () => a.spec(), done: async () => (await a.done(), await b.done()) };
}

const moveOf = (s: InstanceSpec, node: string, migrationId: string): MoveRef => ({ instance: { uuid: s.uuid, node }, migrationId });

/** Arms a fault on `op` of `b`, checks the step fails with it, then that running it again succeeds. */
async function failsOnceThenWorks<T>(b: FakeBackend, op: DriverMethod, want: DriverErrorCode, step: () => Promise<T>): Promise<T> {
  b.injectFault({ op, code: want });
  assert.equal(await code(step()), want, `${op} with a fault armed`);
  return step();
}

describe('fake driver: moves (contract 1.2)', () => {
  it('agrees 1.2 or later and declares both move capabilities; each can be switched off', async () => {
    const p = await pair();
    assert.equal(p.a.driver.contract.version, '1.4');
    assert.ok(capabilityTraits(p.a.driver.capabilities()).includes('COMPUTE_COLD_MIGRATION'));
    assert.ok(capabilityTraits(p.a.driver.capabilities()).includes('COMPUTE_LIVE_MIGRATION'));
    await p.done();
    const off = await host('c', new MemoryImageService(), { unsupported: 'liveMigration' });
    assert.equal(off.driver.supports('liveMigration'), false);
    assert.equal(off.driver.supports('finishMigration'), true);
    const s = off.spec();
    assert.equal(await code(off.driver.preLiveMigration({ move: moveOf(s, off.node, 'm'), instance: s, blockMigration: false })), 'NotSupported');
    await off.done();
  });

  it('fails each step of a cold migration once through an armed fault, and the step run again goes on', async () => {
    const p = await pair();
    const s = p.spec();
    await p.a.driver.spawn(s);
    const id = randomUUID();
    const imageId = `transfer-${id}`;
    await failsOnceThenWorks(p.a.backend, 'migrateDiskAndPowerOff', 'BackendUnavailable', () =>
      p.a.driver.migrateDiskAndPowerOff({ move: moveOf(s, s.node, id), transfer: { imageId, diskFormat: 'raw' } }));
    assert.deepEqual(p.a.events.filter((e) => e.uuid === s.uuid).map((e) => e.transition), ['started', 'stopped']);
    const transfer = { ...s.image, id: imageId, name: imageId };
    const info = await failsOnceThenWorks(p.b.backend, 'finishMigration', 'MigrationFailed', () =>
      p.b.driver.finishMigration({ move: moveOf(s, p.b.node, id), instance: { ...s, node: p.b.node }, transfer, sourceNode: s.node, powerOn: true }));
    assert.deepEqual([info.node, info.powerState], [p.b.node, PowerState.RUNNING]);
    assert.deepEqual(p.b.events.map((e) => [e.uuid, e.transition]), [[s.uuid, 'started']]);
    await failsOnceThenWorks(p.b.backend, 'revertMigration', 'Timeout', () => p.b.driver.revertMigration(moveOf(s, p.b.node, id)));
    const back = await failsOnceThenWorks(p.a.backend, 'finishRevertMigration', 'BackendUnavailable', () =>
      p.a.driver.finishRevertMigration(moveOf(s, s.node, id), true));
    assert.deepEqual([back.node, back.powerState], [s.node, PowerState.RUNNING]);
    assert.deepEqual([p.a.backend.moves.list(), p.b.backend.listInstances()], [[], []]);
    // A fault on confirm leaves the kept guest for the confirm run again.
    const id2 = randomUUID();
    await p.a.driver.migrateDiskAndPowerOff({ move: moveOf(s, s.node, id2), transfer: { imageId: `t-${id2}`, diskFormat: 'raw' } });
    await p.b.driver.finishMigration({ move: moveOf(s, p.b.node, id2), instance: { ...s, node: p.b.node }, transfer: { ...transfer, id: `t-${id2}` }, sourceNode: s.node, powerOn: true });
    await failsOnceThenWorks(p.a.backend, 'confirmMigration', 'BackendUnavailable', () => p.a.driver.confirmMigration(moveOf(s, s.node, id2)));
    assert.deepEqual([p.a.backend.moves.list(), p.a.backend.listInstances()], [[], []]);
    await p.done();
  });

  it('fails each step of a live migration once, the guest still on the source, and reports progress over the configured time', async () => {
    const p = await pair({ live_migration_ms: '200' });
    const s = p.spec();
    await p.a.driver.spawn(s);
    const id = randomUUID();
    const target = await failsOnceThenWorks(p.b.backend, 'preLiveMigration', 'CapacityExceeded', () =>
      p.b.driver.preLiveMigration({ move: moveOf(s, p.b.node, id), instance: { ...s, node: p.b.node }, blockMigration: true }));
    const progress: MoveProgress[] = [];
    const req = { move: moveOf(s, s.node, id), target, blockMigration: true };
    // A live migration's fault strikes mid-copy: after a first report, the guest still running here.
    p.a.backend.injectFault({ op: 'liveMigration', code: 'MigrationFailed' });
    assert.equal(await code(p.a.driver.liveMigration(req, { onProgress: (x) => progress.push(x) })), 'MigrationFailed');
    assert.equal(progress.length, 1);
    assert.equal((await p.a.driver.getInstance({ uuid: s.uuid, node: s.node })).powerState, PowerState.RUNNING);
    progress.length = 0;
    const t0 = performance.now();
    await p.a.driver.liveMigration(req, { onProgress: (x) => progress.push(x) });
    assert.ok(performance.now() - t0 >= 150, `took ${performance.now() - t0} ms`);
    assert.equal(progress.length, 10);
    assert.deepEqual(progress.at(-1), {
      memoryTotal: 64 * 1024 ** 2, memoryProcessed: 64 * 1024 ** 2, memoryRemaining: 0, diskTotal: 1024 ** 3, diskProcessed: 1024 ** 3, diskRemaining: 0,
    });
    assert.ok(progress.every((x, i) => i === 0 || x.memoryRemaining <= progress[i - 1]!.memoryRemaining), 'remaining memory only falls');
    const info = await failsOnceThenWorks(p.b.backend, 'postLiveMigrationAtDestination', 'BackendUnavailable', () =>
      p.b.driver.postLiveMigrationAtDestination(moveOf(s, p.b.node, id)));
    assert.deepEqual([info.node, info.powerState], [p.b.node, PowerState.RUNNING]);
    await failsOnceThenWorks(p.a.backend, 'postLiveMigrationAtSource', 'Timeout', () => p.a.driver.postLiveMigrationAtSource(moveOf(s, s.node, id)));
    assert.deepEqual([p.a.backend.listInstances(), p.a.backend.moves.list(), p.b.backend.moves.list()], [[], [], []]);
    // No lifecycle event on either side: the guest never stopped.
    assert.deepEqual(p.a.events.map((e) => e.transition), ['started']);
    assert.deepEqual(p.b.events, []);
    await p.done();
  });

  it('keeps a migration that does not converge going until it is forced to complete', async () => {
    const p = await pair({ live_migration_ms: '50', live_migration_converges: 'false' });
    const s = p.spec();
    await p.a.driver.spawn(s);
    const id = randomUUID();
    const target = await p.b.driver.preLiveMigration({ move: moveOf(s, p.b.node, id), instance: { ...s, node: p.b.node }, blockMigration: false });
    const progress: MoveProgress[] = [];
    let done = false;
    const migrating = p.a.driver.liveMigration({ move: moveOf(s, s.node, id), target, blockMigration: false }, { onProgress: (x) => progress.push(x) })
      .then(() => void (done = true));
    await new Promise((r) => setTimeout(r, 150)); // three times the configured duration
    assert.equal(done, false);
    assert.ok(progress.length > 10 && progress.every((x) => x.memoryRemaining > 0), 'still copying dirtied memory');
    p.a.backend.injectFault({ op: 'liveMigrationForceComplete', code: 'BackendUnavailable' });
    assert.equal(await code(p.a.driver.liveMigrationForceComplete(moveOf(s, s.node, id))), 'BackendUnavailable');
    await p.a.driver.liveMigrationForceComplete(moveOf(s, s.node, id));
    await migrating;
    assert.equal(progress.at(-1)!.memoryRemaining, 0);
    assert.equal(p.b.backend.getInstance(s.uuid)?.node, p.b.node);
    await p.done();
  });

  it('keeps what a step kept across a driver restart; a rollback of an abort leaves the destination clean', async () => {
    const p = await pair({ live_migration_ms: '1000' });
    const s = p.spec();
    await p.a.driver.spawn(s);
    const id = randomUUID();
    await p.a.driver.migrateDiskAndPowerOff({ move: moveOf(s, s.node, id), transfer: null });
    await p.a.driver.finishMigration({
      move: moveOf(s, s.node, id), instance: { ...s, flavor: { ...s.flavor, rootGb: 5, memoryMb: 128 } }, transfer: null, sourceNode: s.node, powerOn: true,
    });
    assert.deepEqual([p.a.backend.getInstance(s.uuid)?.rootGb, p.a.backend.getInstance(s.uuid)?.memoryMb], [5, 128]);
    await p.a.restart();
    await p.a.driver.revertMigration(moveOf(s, s.node, id));
    const back = await p.a.driver.finishRevertMigration(moveOf(s, s.node, id), true);
    assert.equal(back.powerState, PowerState.RUNNING);
    assert.deepEqual([p.a.backend.getInstance(s.uuid)?.rootGb, p.a.backend.getInstance(s.uuid)?.memoryMb], [1, 64]);
    // Abort: the caller's signal ends the copy at once, whatever its configured duration.
    const id2 = randomUUID();
    const target = await p.b.driver.preLiveMigration({ move: moveOf(s, p.b.node, id2), instance: { ...s, node: p.b.node }, blockMigration: false });
    const ac = new AbortController();
    const t0 = performance.now();
    const pending = code(p.a.driver.liveMigration({ move: moveOf(s, s.node, id2), target, blockMigration: false }, { signal: ac.signal }));
    setTimeout(() => ac.abort(), 20);
    assert.equal(await pending, 'Aborted');
    assert.ok(performance.now() - t0 < 500);
    await p.b.driver.rollbackLiveMigrationAtDestination(moveOf(s, p.b.node, id2));
    assert.deepEqual([p.b.backend.listInstances(), p.b.backend.moves.list()], [[], []]);
    assert.equal((await p.a.driver.getInstance({ uuid: s.uuid, node: s.node })).powerState, PowerState.RUNNING);
    await p.done();
  });

  it('moves a guest between two nodes of a shared back-end (cluster mode), live and cold', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'orrery-fake-moves-'));
    const cluster = { cluster: 'pool', cluster_state_file: join(dir, 'pool.sqlite'), node_names: 'p1,p2' };
    const images = new MemoryImageService();
    const a = await host('a', images, cluster);
    const b = await host('b', images, cluster);
    const s = { ...a.spec(), node: 'p1' };
    await a.driver.spawn(s);
    const id = randomUUID();
    const target = await b.driver.preLiveMigration({ move: moveOf(s, 'p2', id), instance: { ...s, node: 'p2' }, blockMigration: false });
    await a.driver.liveMigration({ move: moveOf(s, 'p1', id), target, blockMigration: false });
    await b.driver.postLiveMigrationAtDestination(moveOf(s, 'p2', id));
    await a.driver.postLiveMigrationAtSource(moveOf(s, 'p1', id));
    assert.deepEqual((await a.driver.listInstances()).map((i) => [i.uuid, i.node]), [[s.uuid, 'p2']]);
    const id2 = randomUUID();
    await b.driver.migrateDiskAndPowerOff({ move: moveOf(s, 'p2', id2), transfer: { imageId: `t-${id2}`, diskFormat: 'raw' } });
    const transfer = { ...s.image, id: `t-${id2}`, name: `t-${id2}` };
    await a.driver.finishMigration({ move: moveOf(s, 'p1', id2), instance: s, transfer, sourceNode: 'p2', powerOn: true });
    await b.driver.confirmMigration(moveOf(s, 'p2', id2));
    assert.deepEqual((await b.driver.listInstances()).map((i) => [i.uuid, i.node, i.powerState]), [[s.uuid, 'p1', PowerState.RUNNING]]);
    assert.deepEqual(a.backend.moves.list(), []);
    await a.done();
    await b.done();
    await rm(dir, { recursive: true, force: true });
  });
});
