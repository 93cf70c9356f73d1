// The cold move steps of compute RPC 1.3 over the bus, on two fake hosts: each step's answer,
// the same step run twice (one after the other, and twice at once: a conductor that took the
// flow over), confirm and revert, shelve and unshelve, and a driver without the capability.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PowerState } from '@orrery/virt-api';
import type { Instance } from '../../src/objects/compute.js';
import { ctx, flavor, image, MoveRig, type Host } from './support/move-rig.js';

describe('cold move steps on the compute service', () => {
  const rig = new MoveRig();
  let a: Host;
  let b: Host;
  before(async () => {
    await rig.start();
    a = await rig.host('cold-a');
    b = await rig.host('cold-b');
  });
  after(() => rig.close());

  const step = rig.rpc.moveStep.bind(rig.rpc);
  const at = (i: Instance, node: string, f = i.flavor): Instance => ({ ...i, host: node, node, flavor: f });
  const transferOf = (id: string) => ({ ...image, id, name: `transfer ${id}` });

  it('spawn_moved_instance makes the guest once: run again, or twice at once, it answers the same', async () => {
    const inst = await rig.instance('cold-a');
    const both = await Promise.all([rig.guest(inst), rig.guest(inst)]);
    assert.deepEqual(both, [PowerState.RUNNING, PowerState.RUNNING]);
    assert.equal(await rig.guest(inst), PowerState.RUNNING);
    assert.equal(a.backend.listInstances().filter((g) => g.uuid === inst.uuid).length, 1);
    // powerOn false (a stopped server evacuated): spawned, then powered off; again: the same.
    const off = await rig.instance('cold-a');
    assert.equal(await rig.guest(off, false), PowerState.SHUTDOWN);
    assert.equal(await rig.guest(off, false), PowerState.SHUTDOWN);
  });

  it('resize to another host: disk out, finish with the new flavor, confirm; each step idempotent', async () => {
    const inst = await rig.instance('cold-a');
    await rig.guest(inst);
    const migrationId = await rig.migration(inst, 'resize', 'pre-migrating', 'cold-b');
    const transfer = { imageId: `xfer-${migrationId}`, diskFormat: 'raw' };
    await Promise.all([
      step(ctx(), 'migrate_disk_and_power_off', { instance: inst, migrationId, transfer }),
      step(ctx(), 'migrate_disk_and_power_off', { instance: inst, migrationId, transfer }),
    ]);
    await step(ctx(), 'migrate_disk_and_power_off', { instance: inst, migrationId, transfer });
    assert.ok(rig.images.images.has(transfer.imageId), 'the root disk was not uploaded into the transfer image');
    assert.equal(a.backend.getInstance(inst.uuid), undefined, 'the source still lists the guest it keeps for a revert');

    const dest = at(inst, 'cold-b', flavor(2, 'm1.bigger'));
    const finish = () => step(ctx(), 'finish_migration', { instance: dest, migrationId, transferImage: transferOf(transfer.imageId), sourceNode: 'cold-a', powerOn: true });
    assert.deepEqual(await Promise.all([finish(), finish()]), [{ powerState: PowerState.RUNNING }, { powerState: PowerState.RUNNING }]);
    assert.deepEqual(await finish(), { powerState: PowerState.RUNNING });
    const moved = b.backend.getInstance(inst.uuid);
    assert.deepEqual([moved?.node, moved?.rootGb, moved?.powerState], ['cold-b', 2, PowerState.RUNNING]);

    await step(ctx(), 'confirm_migration', { instance: inst, migrationId });
    await step(ctx(), 'confirm_migration', { instance: inst, migrationId });
    assert.equal(a.backend.moves.get(migrationId, 'source'), undefined, 'confirm left the kept guest on the source');
    // Nothing kept: a revert now has nothing to bring back.
    await assert.rejects(step(ctx(), 'finish_revert_migration', { instance: inst, migrationId, powerOn: true }), (e: Error) => e.name === 'InstanceNotFound');
  });

  it('revert: the copy on the destination removed, the kept guest back on the source, each step twice', async () => {
    const inst = await rig.instance('cold-a');
    await rig.guest(inst);
    const migrationId = await rig.migration(inst, 'migration', 'pre-migrating', 'cold-b');
    const transfer = { imageId: `xfer-${migrationId}`, diskFormat: 'raw' };
    await step(ctx(), 'migrate_disk_and_power_off', { instance: inst, migrationId, transfer });
    const dest = at(inst, 'cold-b');
    await step(ctx(), 'finish_migration', { instance: dest, migrationId, transferImage: transferOf(transfer.imageId), sourceNode: 'cold-a', powerOn: false });
    assert.equal(b.backend.getInstance(inst.uuid)?.powerState, PowerState.SHUTDOWN, 'powerOn false must leave the moved guest off');

    await Promise.all([step(ctx(), 'revert_migration', { instance: dest, migrationId }), step(ctx(), 'revert_migration', { instance: dest, migrationId })]);
    await step(ctx(), 'revert_migration', { instance: dest, migrationId });
    assert.equal(b.backend.getInstance(inst.uuid), undefined);
    const back = () => step(ctx(), 'finish_revert_migration', { instance: inst, migrationId, powerOn: true });
    assert.deepEqual(await back(), { powerState: PowerState.RUNNING });
    assert.deepEqual(await back(), { powerState: PowerState.RUNNING });
    assert.equal(a.backend.getInstance(inst.uuid)?.powerState, PowerState.RUNNING);
  });

  it('a resize on the same host sets the disk aside (transfer null) and finishes from it', async () => {
    const inst = await rig.instance('cold-a');
    await rig.guest(inst);
    const migrationId = await rig.migration(inst, 'resize', 'pre-migrating', 'cold-a');
    await step(ctx(), 'migrate_disk_and_power_off', { instance: inst, migrationId, transfer: null });
    assert.equal(a.backend.getInstance(inst.uuid)?.powerState, PowerState.SHUTDOWN);
    const bigger = at(inst, 'cold-a', flavor(3, 'm1.big'));
    const finish = () => step(ctx(), 'finish_migration', { instance: bigger, migrationId, transferImage: null, sourceNode: 'cold-a', powerOn: true });
    assert.deepEqual([await finish(), await finish()], [{ powerState: PowerState.RUNNING }, { powerState: PowerState.RUNNING }]);
    assert.equal(a.backend.getInstance(inst.uuid)?.rootGb, 3);
    // Shrinking is refused, as the contract says, with its NotSupported reaching the caller.
    const other = await rig.instance('cold-a');
    await rig.guest(other);
    const m2 = await rig.migration(other, 'resize', 'pre-migrating', 'cold-a');
    await step(ctx(), 'migrate_disk_and_power_off', { instance: { ...other, flavor: flavor(2) }, migrationId: m2, transfer: null });
    await assert.rejects(step(ctx(), 'finish_migration', { instance: at(other, 'cold-a', flavor(0, 'm1.zero')), migrationId: m2, transferImage: null, sourceNode: 'cold-a', powerOn: true }),
      (e: Error) => e.name === 'NotSupported' && /cannot shrink/.test(e.message));
  });

  it('shelve powers off and snapshots; offload destroys (twice: still success); unshelve on the host powers on', async () => {
    const inst = await rig.instance('cold-a');
    await rig.guest(inst);
    const imageId = `shelved-${inst.uuid}`;
    await Promise.all([
      step(ctx(), 'shelve_instance', { instance: inst, imageId, diskFormat: 'raw' }),
      step(ctx(), 'shelve_instance', { instance: inst, imageId, diskFormat: 'raw' }),
    ]);
    assert.equal(a.backend.getInstance(inst.uuid)?.powerState, PowerState.SHUTDOWN);
    assert.ok(rig.images.images.has(imageId), 'shelve uploaded no snapshot');
    // Already uploaded (the flow says so with image_id null): only the power off, again.
    await step(ctx(), 'shelve_instance', { instance: inst, imageId: null, diskFormat: 'raw' });

    assert.deepEqual(await step(ctx(), 'unshelve_on_host', { instance: inst }), { powerState: PowerState.RUNNING });
    assert.deepEqual(await step(ctx(), 'unshelve_on_host', { instance: inst }), { powerState: PowerState.RUNNING });

    await step(ctx(), 'shelve_offload_instance', { instance: inst });
    await step(ctx(), 'shelve_offload_instance', { instance: inst });
    assert.equal(a.backend.getInstance(inst.uuid), undefined);
  });

  it('two runs of a step at once make one driver call: a fault that strikes one call fails both, and the next run works', async () => {
    const inst = await rig.instance('cold-a');
    await rig.guest(inst);
    const migrationId = await rig.migration(inst, 'migration', 'pre-migrating', 'cold-b');
    const transfer = { imageId: `xfer-${migrationId}`, diskFormat: 'raw' };
    a.backend.injectFault({ op: 'migrateDiskAndPowerOff', code: 'BackendUnavailable', message: 'one call only', uuid: inst.uuid, times: 1 });
    const run = () => step(ctx(), 'migrate_disk_and_power_off', { instance: inst, migrationId, transfer }).then(() => 'ok', (e: Error) => e.name);
    // Apart, the second would find the fault spent and succeed: joined, it shares the first's failure.
    assert.deepEqual(await Promise.all([run(), run()]), ['BackendUnavailable', 'BackendUnavailable']);
    assert.equal(await run(), 'ok');
    assert.equal(a.backend.getInstance(inst.uuid), undefined);
  });

  it('a driver without the moves refuses them with NotSupported, and nothing happens to the guest', async () => {
    await rig.host('cold-c', { unsupported: 'coldMigration,liveMigration' });
    const inst = await rig.instance('cold-c');
    await rig.guest(inst);
    const migrationId = await rig.migration(inst, 'resize', 'pre-migrating', 'cold-b');
    await assert.rejects(step(ctx(), 'migrate_disk_and_power_off', { instance: inst, migrationId, transfer: null }),
      (e: Error) => e.name === 'NotSupported');
    await assert.rejects(step(ctx(), 'pre_live_migration', { instance: inst, migrationId, blockMigration: false }),
      (e: Error) => e.name === 'NotSupported');
    assert.equal(rig.hosts.get('cold-c')!.backend.getInstance(inst.uuid)?.powerState, PowerState.RUNNING);
  });
});
