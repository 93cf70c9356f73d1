// A compute service that comes back after its instances were evacuated: the guest of a finished
// evacuation is destroyed (never started) and the conductor told, one under way is left to its
// flow; start-up recovery and power sync leave every instance a move owns alone.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PowerState } from '@orrery/virt-api';
import { getInstanceRow } from '../../src/db/instances.js';
import type { Instance } from '../../src/objects/compute.js';
import { MoveRig, type Host } from './support/move-rig.js';

describe('a compute service back after evacuations and with moves under way', () => {
  const rig = new MoveRig();
  let h: Host;
  const left = new Map<string, { inst: Instance; migration?: string }>();
  before(async () => {
    await rig.start();
    h = await rig.host('evac-a');
    await rig.host('evac-b');
    // Evacuated while evac-a was down: rebuilt on evac-b (its row moved there, the evacuation done).
    const gone = await rig.instance('evac-a');
    await rig.guest(gone);
    const done = await rig.migration(gone, 'evacuation', 'done', 'evac-b');
    await rig.db.updateTable('instances').set({ host: 'evac-b', node: 'evac-b' }).where('uuid', '=', gone.uuid).execute();
    left.set('done', { inst: gone, migration: done });
    // Being evacuated: the flow has not spawned it elsewhere yet (task state rebuilding, still on evac-a).
    const going = await rig.instance('evac-a', { taskState: 'rebuilding' });
    await rig.guest(going);
    left.set('under way', { inst: going, migration: await rig.migration(going, 'evacuation', 'pre-migrating', 'evac-b') });
    // A cold move that has powered the source guest off on purpose (the flow's task state).
    const resizing = await rig.instance('evac-a', { taskState: 'resize_migrating', powerState: PowerState.RUNNING });
    await rig.guest(resizing, false);
    left.set('resize_migrating', { inst: resizing });
    // A resize waiting for its confirm; a live migration under way; a shelve half-way.
    for (const [key, vmState, taskState] of [['resized', 'resized', null], ['migrating', 'active', 'migrating'], ['shelving', 'active', 'shelving']] as const) {
      const inst = await rig.instance('evac-a', { vmState, taskState, powerState: PowerState.RUNNING });
      await rig.guest(inst, false);
      left.set(key, { inst });
    }
    // A local rebuild (no evacuation) a previous run left: recovery still fails it, as before.
    const rebuilding = await rig.instance('evac-a', { taskState: 'rebuilding' });
    await rig.guest(rebuilding);
    left.set('local rebuild', { inst: rebuilding });
    await h.restart();
  });
  after(() => rig.close());

  const row = async (key: string) => (await getInstanceRow(rig.db, left.get(key)!.inst.uuid))!;
  const migrationStatus = async (key: string) => (await rig.db.selectFrom('migrations').select('status')
    .where('uuid', '=', left.get(key)!.migration!).executeTakeFirstOrThrow()).status;

  it('destroys the guest of a finished evacuation at start, and the conductor completes it', async () => {
    assert.equal(h.backend.getInstance(left.get('done')!.inst.uuid), undefined, 'the evacuated guest is still on its old host');
    assert.equal(await migrationStatus('done'), 'completed');
    // The instance itself, on its new host, is untouched.
    const r = await row('done');
    assert.deepEqual([r.host, r.vm_state, r.task_state], ['evac-b', 'active', null]);
  });

  it('leaves an evacuation under way to its flow: guest, task state and migration as they were', async () => {
    const r = await row('under way');
    assert.deepEqual([r.vm_state, r.task_state], ['active', 'rebuilding']);
    assert.equal(h.backend.getInstance(r.uuid)?.powerState, PowerState.RUNNING);
    assert.equal(await migrationStatus('under way'), 'pre-migrating');
  });

  it('recovery and power sync leave instances in a move alone (task state and power state as the flow wrote them)', async () => {
    await h.compute.syncPowerStates();
    for (const key of ['resize_migrating', 'resized', 'migrating', 'shelving']) {
      const r = await row(key);
      const { inst } = left.get(key)!;
      assert.deepEqual([r.vm_state, r.task_state, r.power_state], [inst.vmState, inst.taskState, PowerState.RUNNING], key);
      assert.equal(h.backend.getInstance(r.uuid)?.powerState, PowerState.SHUTDOWN, `${key}: the guest was touched`);
    }
    // Not a move: the local rebuild the previous run left fails as it always did.
    const rebuilt = await row('local rebuild');
    assert.deepEqual([rebuilt.vm_state, rebuilt.task_state], ['error', null]);
  });

  it('a power sync pass cleans up an evacuation that finished meanwhile', async () => {
    const { inst, migration } = left.get('under way')!;
    await rig.db.updateTable('migrations').set({ status: 'done' }).where('uuid', '=', migration!).execute();
    await rig.db.updateTable('instances').set({ host: 'evac-b', node: 'evac-b', task_state: null }).where('uuid', '=', inst.uuid).execute();
    await h.compute.syncPowerStates();
    assert.equal(h.backend.getInstance(inst.uuid), undefined);
    assert.equal(await migrationStatus('under way'), 'completed');
  });
});
