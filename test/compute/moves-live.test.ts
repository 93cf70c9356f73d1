// The live migration steps of compute RPC 1.3 over the bus, on two fake hosts: a migration with
// its progress reaching the conductor's migration record, the steps run twice and twice at once,
// the API's abort and force complete of a migration under way, and the progress throttle.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PowerState, type MoveProgress } from '@orrery/virt-api';
import type { CallOptions, GuardedVirtDriver } from '@orrery/virt-api';
import type { Logger } from '../../src/common/logging.js';
import { InFlightCalls } from '../../src/compute/in-flight.js';
import { LiveMigrations, throttled } from '../../src/compute/live-migrations.js';
import type { ConductorRpcApi } from '../../src/rpc/conductor-api.js';
import { SameCalls } from '../../src/compute/coalesce.js';
import type { Instance } from '../../src/objects/compute.js';
import { waitFor } from '../support/cloud.js';
import { ctx, MoveRig, type Host } from './support/move-rig.js';

const MiB = 1024 * 1024;

describe('live migration steps on the compute service', () => {
  const rig = new MoveRig();
  let a: Host;
  let b: Host;
  before(async () => {
    await rig.start();
    // Ten progress reports over 2.5 s: long enough to abort or force one mid-copy.
    a = await rig.host('live-a', { live_migration_ms: '2500' });
    b = await rig.host('live-b');
  });
  after(() => rig.close());

  const step = rig.rpc.moveStep.bind(rig.rpc);
  const at = (i: Instance, node: string): Instance => ({ ...i, host: node, node });
  const progressOf = (uuid: string) => rig.db.selectFrom('migrations')
    .select(['memory_total', 'memory_processed', 'memory_remaining', 'disk_total']).where('uuid', '=', uuid).executeTakeFirstOrThrow();

  /** A running guest on live-a, its migration record (running, as the flow sets it) and the destination prepared. */
  async function prepared() {
    const inst = await rig.instance('live-a');
    await rig.guest(inst);
    const migrationId = await rig.migration(inst, 'live-migration', 'running', 'live-b');
    const pre = () => step(ctx(), 'pre_live_migration', { instance: at(inst, 'live-b'), migrationId, blockMigration: false });
    const [t1, t2] = await Promise.all([pre(), pre()]);
    const target = await pre();
    assert.deepEqual(t1, target);
    assert.deepEqual(t2, target);
    assert.equal(target.node, 'live-b');
    return { inst, migrationId, target };
  }

  it('moves the running guest, its progress in the migration record; every step answers the same run twice', async () => {
    const { inst, migrationId, target } = await prepared();
    const migrate = () => step(ctx(), 'live_migration', { instance: inst, migrationId, target, blockMigration: false });
    // Counts the progress casts to the conductor (the throttle: at most one a second, and the last).
    const casts: number[] = [];
    const cast = rig.bus.cast.bind(rig.bus);
    rig.bus.cast = async (topic, msg) => {
      if (msg.method === 'migration_progress') casts.push(Date.now());
      return cast(topic, msg);
    };
    const t0 = Date.now();
    // Twice at once: the second joins the first (one copy), then once more: the driver's record says done.
    await Promise.all([migrate(), migrate()]);
    const took = Date.now() - t0;
    assert.ok(took >= 2000 && took < 6000, `the migration took ${took} ms`);
    rig.bus.cast = cast;
    // Ten reports of the driver over 2.5 s: the first, one a second after, and the last.
    assert.ok(casts.length >= 3 && casts.length <= 4, `${casts.length} progress reports sent`);
    for (let i = 1; i < casts.length - 1; i++) assert.ok(casts[i]! - casts[i - 1]! >= 950, `progress reports ${casts[i]! - casts[i - 1]!} ms apart`);
    await migrate();
    assert.equal(a.backend.getInstance(inst.uuid), undefined, 'the source still lists the migrated guest');
    // The last report always arrives (a cast, sent before the step answers): everything copied.
    const p = await waitFor('the last progress report', async () => {
      const r = await progressOf(migrationId);
      return r.memory_remaining === 0 ? r : undefined;
    }, 5000);
    assert.deepEqual(p, { memory_total: 128 * MiB, memory_processed: 128 * MiB, memory_remaining: 0, disk_total: 0 });

    const post = () => step(ctx(), 'post_live_migration_at_destination', { instance: at(inst, 'live-b'), migrationId });
    assert.deepEqual(await post(), { powerState: PowerState.RUNNING });
    assert.deepEqual(await post(), { powerState: PowerState.RUNNING });
    assert.equal(b.backend.getInstance(inst.uuid)?.node, 'live-b');
    await step(ctx(), 'post_live_migration_at_source', { instance: inst, migrationId });
    await step(ctx(), 'post_live_migration_at_source', { instance: inst, migrationId });
    assert.equal(a.backend.moves.get(migrationId, 'live-source'), undefined, 'post at source left the source record');
    assert.equal(a.compute['moves'].live.size, 0, 'a finished migration is still held in memory');
  });

  it('the API\'s abort stops a migration under way: the guest stays running on the source; rollback cleans the destination', async () => {
    const { inst, migrationId, target } = await prepared();
    const t0 = Date.now();
    const running = step(ctx(), 'live_migration', { instance: inst, migrationId, target, blockMigration: false });
    const failed = running.then(() => null, (e: Error) => e);
    // Mid-copy: its first progress has reached the conductor.
    await waitFor('progress of the migration', async () => ((await progressOf(migrationId)).memory_total ? true : undefined), 5000);
    await step(ctx(), 'live_migration_abort', { instance: inst, migrationId });
    const err = await failed;
    assert.equal(err?.name, 'Aborted', String(err));
    assert.match(err?.message ?? '', /was aborted/);
    assert.ok(Date.now() - t0 < 2000, `the abort took until ${Date.now() - t0} ms`);
    assert.equal(a.backend.getInstance(inst.uuid)?.powerState, PowerState.RUNNING);
    assert.ok((await progressOf(migrationId)).memory_remaining! > 0, 'an aborted migration reported everything copied');

    await step(ctx(), 'rollback_live_migration_at_destination', { instance: at(inst, 'live-b'), migrationId });
    await step(ctx(), 'rollback_live_migration_at_destination', { instance: at(inst, 'live-b'), migrationId });
    assert.equal(b.backend.moves.get(migrationId, 'live-dest'), undefined, 'rollback left what pre_live_migration made');
    assert.equal(b.backend.getInstance(inst.uuid), undefined);
    // An abort with nothing under way is a no-op (a cast: nobody to tell).
    await step(ctx(), 'live_migration_abort', { instance: inst, migrationId });
  });

  it('force complete makes a migration under way finish at its next round', async () => {
    const { inst, migrationId, target } = await prepared();
    const t0 = Date.now();
    const running = step(ctx(), 'live_migration', { instance: inst, migrationId, target, blockMigration: false });
    await waitFor('progress of the migration', async () => ((await progressOf(migrationId)).memory_total ? true : undefined), 5000);
    await step(ctx(), 'live_migration_force_complete', { instance: inst, migrationId });
    await running;
    const took = Date.now() - t0;
    assert.ok(took < 1800, `a forced migration still took ${took} ms of 2500`);
    assert.equal(a.backend.getInstance(inst.uuid), undefined);
    assert.equal(b.backend.getInstance(inst.uuid)?.powerState, PowerState.RUNNING);
  });

  it('a stopping compute service aborts the migration it sends; the guest stays on the source', async () => {
    const { inst, migrationId, target } = await prepared();
    const failed = step(ctx(), 'live_migration', { instance: inst, migrationId, target, blockMigration: false }).then(() => null, (e: Error) => e);
    await waitFor('progress of the migration', async () => ((await progressOf(migrationId)).memory_total ? true : undefined), 5000);
    const t0 = Date.now();
    await a.compute.stop();
    assert.ok(Date.now() - t0 < 2000, `stop took ${Date.now() - t0} ms`);
    const err = await failed;
    assert.equal(err?.name, 'Aborted', String(err));
    assert.match(err?.message ?? '', /is stopping/);
    assert.equal(a.backend.getInstance(inst.uuid)?.powerState, PowerState.RUNNING);
  });
});

describe('progress throttle', () => {
  it('sends at most one report per interval, in order, and the last one always', async () => {
    const sent: Array<{ at: number; p: MoveProgress }> = [];
    const t = throttled(100, async (p) => void sent.push({ at: Date.now(), p }));
    const report = (n: number): MoveProgress => ({ memoryTotal: 100, memoryProcessed: n, memoryRemaining: 100 - n, diskTotal: 0, diskProcessed: 0, diskRemaining: 0 });
    for (let n = 1; n <= 50; n++) {
      t.report(report(n));
      await new Promise((r) => setTimeout(r, 10));
    }
    await t.flush();
    const got = sent.map((s) => s.p.memoryProcessed);
    assert.equal(got[0], 1, 'the first report waits for nothing');
    assert.equal(got.at(-1), 50, 'the last report was not sent');
    assert.ok(got.length >= 3 && got.length <= 8, `${got.length} reports sent of 50 over ~500 ms`);
    assert.deepEqual([...got].sort((x, y) => x - y), got, 'reports out of order');
    for (let i = 1; i < sent.length - 1; i++) assert.ok(sent[i]!.at - sent[i - 1]!.at >= 95, `reports ${i - 1} and ${i} came ${sent[i]!.at - sent[i - 1]!.at} ms apart`);
  });

  it('a conductor refusing the reports never fails the migration: each failure is logged', async () => {
    const warned: string[] = [];
    const log = { warn: (_f: unknown, msg: string) => void warned.push(msg), info: () => undefined } as unknown as Logger;
    const report = { memoryTotal: 1, memoryProcessed: 1, memoryRemaining: 0, diskTotal: 0, diskProcessed: 0, diskRemaining: 0 };
    // Only the two seams LiveMigrations uses: a driver that reports twice, a conductor that refuses.
    const driver = { liveMigration: async (_r: unknown, o: CallOptions) => (o.onProgress!(report), o.onProgress!(report)) } as unknown as GuardedVirtDriver;
    const conductor = { migrationProgress: async () => Promise.reject(new Error('conductor down')) } as unknown as ConductorRpcApi;
    const live = new LiveMigrations({ driver, conductor, inFlight: new InFlightCalls(), log, progressIntervalMs: 0 });
    await live.run(ctx(), { move: { instance: { uuid: 'u', node: 'n' }, migrationId: 'm' }, target: { node: 'n2', data: {} }, blockMigration: false });
    assert.deepEqual(warned, ['could not report live migration progress', 'could not report live migration progress']);
  });
});

describe('SameCalls', () => {
  it('joins a call to the same one under way, runs distinct ones apart, and forgets settled ones', async () => {
    const same = new SameCalls();
    let runs = 0;
    const slow = () => new Promise<number>((r) => setTimeout(() => r(++runs), 20));
    const [x, y, z] = await Promise.all([same.run('m', 'id-1', slow), same.run('m', 'id-1', slow), same.run('m', 'id-2', slow)]);
    assert.deepEqual([x, y, runs], [x, x, 2]);
    assert.notEqual(z, x);
    assert.equal(same.size, 0);
    assert.equal(await same.run('m', 'id-1', slow), 3, 'a settled call was not run again');
    // A failure is shared by the joined call, and forgotten too.
    const boom = () => new Promise<never>((_, rej) => setTimeout(() => rej(new Error('boom')), 10));
    const errs = await Promise.all([same.run('m', 'x', boom).catch((e: Error) => e.message), same.run('m', 'x', boom).catch((e: Error) => e.message)]);
    assert.deepEqual(errs, ['boom', 'boom']);
    assert.equal(same.size, 0);
    // Keys are data: a migration id named like an object's property is just a key.
    assert.equal(await same.run('constructor', '__proto__', async () => 'ok'), 'ok');
  });
});
