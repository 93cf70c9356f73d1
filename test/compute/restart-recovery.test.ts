import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PowerState, type ImageService } from '@orrery/virt-api';
import { Config } from '../../src/common/config.js';
import { newRequestId, newUuid } from '../../src/common/ids.js';
import { createLogger } from '../../src/common/logging.js';
import { ComputeService } from '../../src/compute/manager.js';
import { ConductorService } from '../../src/conductor/conductor.js';
import { claimedNode, claimResources } from '../../src/db/allocations.js';
import { migrate, openDatabase, type Db } from '../../src/db/connection.js';
import { getInstance, getInstanceRow, insertInstance } from '../../src/db/instances.js';
import type { Flavor, ImageMeta, RequestSpec } from '../../src/objects/compute.js';
import { ComputeRpcApi } from '../../src/rpc/compute-api.js';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';
import { MemoryDriver } from '../drivers/memory-driver.js';
import { waitFor } from '../support/cloud.js';

/** A memory driver whose guests outlive the compute service (as a hypervisor's do), seeded by the test. */
class LastingDriver extends MemoryDriver {
  seed(uuid: string, powerState: PowerState): void {
    this.instances.set(uuid, { uuid, node: 'mem-a', powerState });
  }
  power(uuid: string): PowerState | undefined {
    return this.instances.get(uuid)?.powerState;
  }
}

const flavor = { flavorid: '1', name: 'm1.tiny', vcpus: 1, memoryMb: 64, rootGb: 1, ephemeralGb: 0, swap: 0, rxtxFactor: 1, isPublic: true, disabled: false, description: null, extraSpecs: {} } as Flavor;
const image: ImageMeta = { id: 'img', name: 'img', status: 'active', diskFormat: 'raw', containerFormat: 'bare', size: 1, checksum: null, minDisk: 0, minRam: 0, properties: {} };

/**
 * A compute service restarted after its previous run was killed mid-task (Nova's
 * _init_instance): builds it had taken up end ERROR with a fault and their claim released,
 * builds still queued for it are left to their message, and every other task is finished or
 * cleared — none stays in a transitional state.
 */
describe('a compute service restarted after it was killed mid-task', () => {
  const host = 'rr1';
  let stateDir: string;
  let db: Db;
  let bus: InProcessBus;
  let conductor: ConductorService;
  let compute: ComputeService;
  let config: Config;
  const driver = new LastingDriver();
  const log = createLogger('test', 'silent');
  /** Instances left by "the previous run", by the task it was doing. */
  const left = new Map<string, string>();

  async function instance(vmState: string, taskState: string | null, powerState: number): Promise<string> {
    const uuid = newUuid();
    const ts = new Date().toISOString();
    await insertInstance(db, {
      uuid, display_name: `vm-${taskState}`, display_description: null, project_id: 'p1', user_id: 'u1', image_ref: 'img',
      flavor: JSON.stringify(flavor), flavor_id: '1', vcpus: 1, memory_mb: 64, root_gb: 1, ephemeral_gb: 0,
      vm_state: vmState, task_state: taskState, power_state: powerState, host, node: 'mem-a', node_uuid: null,
      availability_zone: null, key_name: null, key_data: null, user_data: null, hostname: 'vm', reservation_id: 'r-1',
      launch_index: 0, locked: 0, locked_by: null, config_drive: '', access_ip_v4: null, access_ip_v6: null, progress: 0,
      image_meta: JSON.stringify(image), tags: '[]', launched_at: null, terminated_at: null, created_at: ts, updated_at: ts,
      deleted_at: null, deleted: 0,
    }, {});
    return uuid;
  }

  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'orrery-restart-'));
    config = new Config(undefined, {}).with({
      DEFAULT: { state_path: stateDir, report_interval: '0', sync_power_state_interval: '0' },
      compute: { stopped_event_delay: '0' },
    });
    db = openDatabase('sqlite://');
    await migrate(db);
    bus = new InProcessBus();
    conductor = new ConductorService(db, config, log, 'conductor-test');
    await conductor.start(bus);
    // The first run registers the host's nodes, then "dies" with work in progress.
    const first = new ComputeService(bus, { config, host, log, driver, images: {} as ImageService });
    await first.start();
    await first.stop();
    const node = (await db.selectFrom('compute_nodes').select('uuid').where('hypervisor_hostname', '=', 'mem-a').executeTakeFirstOrThrow()).uuid;
    const seeded = async (task: string, vmState: string, power: PowerState, guest: PowerState | null = power): Promise<void> => {
      const uuid = await instance(vmState, task, power);
      if (guest !== null) driver.seed(uuid, guest);
      assert.ok(await claimResources(db, uuid, node, { VCPU: 1, MEMORY_MB: 64, DISK_GB: 1 }));
      left.set(task, uuid);
    };
    await seeded('spawning', 'building', PowerState.NOSTATE);
    await seeded('scheduling', 'building', PowerState.NOSTATE, null);
    await seeded('powering-off', 'active', PowerState.RUNNING);
    await seeded('powering-on', 'stopped', PowerState.SHUTDOWN);
    await seeded('reboot_pending_hard', 'active', PowerState.RUNNING);
    await seeded('rebooting', 'active', PowerState.RUNNING);
    await seeded('image_uploading', 'active', PowerState.RUNNING);
    await seeded('pausing', 'active', PowerState.RUNNING, PowerState.PAUSED);
    await seeded('rebuilding', 'active', PowerState.RUNNING);
    await seeded('deleting', 'active', PowerState.RUNNING);
    compute = new ComputeService(bus, { config, host, log, driver, images: {} as ImageService });
    await compute.start();
  });
  after(async () => {
    await compute?.stop();
    await conductor?.stop();
    await db?.destroy();
    rmSync(stateDir, { recursive: true, force: true });
  });

  const row = async (task: string) => (await getInstanceRow(db, left.get(task)!))!;
  const faults = async (task: string) => (await db.selectFrom('instance_faults').select('message').where('instance_uuid', '=', left.get(task)!).execute()).map((f) => f.message);

  it('a build it had taken up ends ERROR with a fault, its claim released and its half-built guest gone', async () => {
    const r = await row('spawning');
    assert.equal(r.vm_state, 'error');
    assert.equal(r.task_state, null);
    assert.match((await faults('spawning'))[0] ?? '', /was building on rr1 when its compute service restarted/);
    assert.equal(await claimedNode(db, r.uuid), null);
    assert.equal(driver.power(r.uuid), undefined);
  });

  it('its build message, delivered again, builds nothing', async () => {
    const uuid = left.get('spawning')!;
    const spec: RequestSpec = {
      instanceUuids: [uuid], projectId: 'p1', userId: 'u1', flavor, image, availabilityZone: null, ignoreHosts: [], forceHost: null, forceNode: null, attempt: 0,
    };
    const inst = (await getInstance(db, uuid))!;
    await new ComputeRpcApi(bus, 5000).buildAndRunInstance({ requestId: newRequestId(), userId: 'u1', projectId: 'p1', roles: [], isAdmin: false }, { ...inst, taskState: 'scheduling' }, 'mem-a', spec);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await row('spawning')).vm_state, 'error');
    assert.equal(driver.power(uuid), undefined);
  });

  it('a build still waiting for its message is left to it', async () => {
    const r = await row('scheduling');
    assert.equal(r.vm_state, 'building');
    assert.equal(r.task_state, 'scheduling');
    assert.ok(await claimedNode(db, r.uuid));
  });

  it('a stop, start or reboot is done again; a reboot that had run is over', async () => {
    const off = await row('powering-off');
    assert.deepEqual([off.vm_state, off.task_state, driver.power(off.uuid)], ['stopped', null, PowerState.SHUTDOWN]);
    const on = await row('powering-on');
    assert.deepEqual([on.vm_state, on.task_state, driver.power(on.uuid)], ['active', null, PowerState.RUNNING]);
    for (const task of ['reboot_pending_hard', 'rebooting']) {
      const r = await row(task);
      assert.deepEqual([r.vm_state, r.task_state], ['active', null], task);
    }
  });

  it('a snapshot or pause is cleared to what the hypervisor says; a rebuild fails with a fault; a delete is finished', async () => {
    const snap = await row('image_uploading');
    assert.deepEqual([snap.vm_state, snap.task_state], ['active', null]);
    const paused = await row('pausing');
    assert.deepEqual([paused.vm_state, paused.task_state, paused.power_state], ['paused', null, PowerState.PAUSED]);
    const rebuilt = await row('rebuilding');
    assert.deepEqual([rebuilt.vm_state, rebuilt.task_state], ['error', null]);
    assert.match((await faults('rebuilding'))[0] ?? '', /was rebuilding/);
    await waitFor('the delete to finish', async () => ((await getInstanceRow(db, left.get('deleting')!)) === null ? true : undefined));
    assert.equal(await claimedNode(db, left.get('deleting')!), null);
  });

  it('leaves no instance of the host in a transitional task state but the one waiting for its build message', async () => {
    const busy = await db.selectFrom('instances').select(['display_name', 'task_state']).where('host', '=', host)
      .where('deleted', '=', 0).where('task_state', 'is not', null).execute();
    assert.deepEqual(busy.map((b) => b.task_state), ['scheduling']);
  });
});
