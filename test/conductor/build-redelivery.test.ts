import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Config } from '../../src/common/config.js';
import { newRequestId, newUuid } from '../../src/common/ids.js';
import { createLogger } from '../../src/common/logging.js';
import { upsertComputeNodes } from '../../src/db/compute-nodes.js';
import { ConductorService } from '../../src/conductor/conductor.js';
import { claimedNode } from '../../src/db/allocations.js';
import { getInstance, getInstanceRow, insertInstance, markInstanceDeleted, updateInstanceRow } from '../../src/db/instances.js';
import { reportService } from '../../src/db/service-heartbeat.js';
import type { Flavor, ImageMeta, Instance, RequestSpec } from '../../src/objects/compute.js';
import type { RpcContext, RpcMessage } from '../../src/rpc/bus.js';
import { computeTopic } from '../../src/rpc/compute-api.js';
import { ConductorRpcApi } from '../../src/rpc/conductor-api.js';
import { systemContext } from '../../src/rpc/dispatch.js';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';
import { SchedulerService } from '../../src/scheduler/scheduler.js';
import { BACKENDS, type TestDatabase } from '../db/databases.js';

const HOST = 'cr1';
const flavor = { flavorid: '1', name: 'm1.tiny', vcpus: 1, memoryMb: 512, rootGb: 1, ephemeralGb: 0, swap: 0, rxtxFactor: 1, isPublic: true, disabled: false, description: null, extraSpecs: {} } as Flavor;
const image: ImageMeta = { id: 'img', name: 'img', status: 'active', diskFormat: 'raw', containerFormat: 'bare', size: 1, checksum: null, minDisk: 0, minRam: 0, properties: {} };

/**
 * Build messages delivered more than once — a conductor killed before it acked one, a compute's
 * report of a failed build redelivered — change nothing the second time: no instance deleted,
 * no second build, no claim made or released twice. And a restarted compute's aborted builds
 * (conductor RPC 1.2) end ERROR with their claim released, once.
 */
for (const backend of BACKENDS) {
  describe(`build messages delivered twice (${backend.kind})`, { skip: backend.skip }, () => {
    let t: TestDatabase;
    let conductor: ConductorService;
    let scheduler: SchedulerService;
    let bus: InProcessBus;
    /** What the conductor sent to the compute of HOST. */
    const casts: RpcMessage[] = [];

    before(async () => {
      t = await backend.create();
      const config = new Config(undefined, {});
      const log = createLogger('test', 'silent');
      bus = new InProcessBus();
      scheduler = new SchedulerService(t.db, config, log, 'sched');
      await scheduler.start(bus);
      conductor = new ConductorService(t.db, config, log, 'cond');
      await conductor.start(bus);
      await reportService(t.db, { host: HOST, binary: 'nova-compute', topic: 'compute', version: '1.1' });
      const inv = (total: number) => ({ total, reserved: 0, minUnit: 1, maxUnit: total, stepSize: 1, allocationRatio: 1 });
      await upsertComputeNodes(t.db, HOST, [{
        uuid: newUuid(), host: HOST, node: HOST, hypervisorType: 'fake', hypervisorVersion: 1, hostIp: '127.0.0.1', cpuInfo: {},
        inventory: { VCPU: inv(64), MEMORY_MB: inv(65536), DISK_GB: inv(1000) }, traits: ['COMPUTE_IMAGE_TYPE_RAW'],
      }]);
      await bus.serve(computeTopic(HOST), async (msg) => {
        casts.push(msg);
      });
    });
    after(async () => {
      await conductor?.stop();
      await scheduler?.stop();
      await t?.close();
    });
    beforeEach(() => {
      casts.length = 0;
    });

    async function newInstance(): Promise<string> {
      const uuid = newUuid();
      const ts = new Date().toISOString();
      await insertInstance(t.db, {
        uuid, display_name: 'vm', display_description: null, project_id: 'p1', user_id: 'u1', image_ref: 'img',
        flavor: JSON.stringify(flavor), flavor_id: '1', vcpus: 1, memory_mb: 512, root_gb: 1, ephemeral_gb: 0,
        vm_state: 'building', task_state: 'scheduling', power_state: 0, host: null, node: null, node_uuid: null,
        availability_zone: null, key_name: null, key_data: null, user_data: null, hostname: 'vm', reservation_id: 'r-1',
        launch_index: 0, locked: 0, locked_by: null, config_drive: '', access_ip_v4: null, access_ip_v6: null, progress: 0,
        image_meta: JSON.stringify(image), tags: '[]', launched_at: null, terminated_at: null, created_at: ts, updated_at: ts,
        deleted_at: null, deleted: 0,
      }, {});
      return uuid;
    }
    const spec = (uuid: string): RequestSpec => ({
      instanceUuids: [uuid], projectId: 'p1', userId: 'u1', flavor, image, availabilityZone: null, ignoreHosts: [],
      forceHost: null, forceNode: null, attempt: 0,
    });
    const ctx = (): RpcContext => ({ requestId: newRequestId(), userId: 'u1', projectId: 'p1', roles: ['member'], isAdmin: false });
    /** The instance as the API sent it, per uuid: a redelivery carries the same message. */
    const sent = new Map<string, Instance>();
    /** Delivers a build message for `uuid`, as the broker would (the same message each time). */
    async function deliverBuild(uuid: string, c = ctx()): Promise<void> {
      if (!sent.has(uuid)) sent.set(uuid, (await getInstance(t.db, uuid))!);
      await conductor.buildInstances(c, [sent.get(uuid)!], spec(uuid));
      // The in-process bus delivers a cast on a later turn of the event loop.
      await new Promise((r) => setTimeout(r, 20));
    }
    const faults = async (uuid: string) => t.db.selectFrom('instance_faults').selectAll().where('instance_uuid', '=', uuid).execute();

    it('a redelivery after the build moved on (spawning, ACTIVE, ERROR, deleting) is a no-op: nothing deleted, built or claimed', async () => {
      for (const moved of [
        { task_state: 'spawning', vm_state: 'building' }, { task_state: null, vm_state: 'active' },
        { task_state: null, vm_state: 'error' }, { task_state: 'deleting', vm_state: 'active' },
      ]) {
        const uuid = await newInstance();
        const c = ctx();
        await deliverBuild(uuid, c);
        assert.equal(casts.length, 1);
        const placed = (await getInstanceRow(t.db, uuid))!;
        assert.equal(placed.host, HOST);
        const claim = await claimedNode(t.db, uuid);
        assert.ok(claim);
        await updateInstanceRow(t.db, uuid, moved);
        await deliverBuild(uuid, c);
        const after = await getInstanceRow(t.db, uuid);
        assert.ok(after, `${JSON.stringify(moved)}: the instance was deleted`);
        assert.equal(after.task_state, moved.task_state);
        assert.equal(after.vm_state, moved.vm_state);
        assert.equal(casts.length, 1, `${JSON.stringify(moved)}: built again`);
        assert.deepEqual(await claimedNode(t.db, uuid), claim, 'its claim is untouched');
        casts.length = 0;
      }
    });

    it('a redelivery that finds the instance placed but not taken up (its conductor died before casting) builds it, on the same claim', async () => {
      const uuid = await newInstance();
      await deliverBuild(uuid);
      const claim = await claimedNode(t.db, uuid);
      await deliverBuild(uuid);
      assert.equal(casts.length, 2, 'cast again: the compute takes one up, the other finds it taken');
      assert.deepEqual(await claimedNode(t.db, uuid), claim);
      const rows = await t.db.selectFrom('allocations').selectAll().where('consumer_uuid', '=', uuid).execute();
      assert.equal(rows.length, 3, 'one claim (VCPU, MEMORY_MB, DISK_GB), not two');
    });

    it('a redelivery for an instance deleted meanwhile gives back the claim the first delivery made', async () => {
      const uuid = await newInstance();
      await deliverBuild(uuid);
      assert.ok(await claimedNode(t.db, uuid));
      // Deleted through the API while its node was still unknown to the API (no compute to tell).
      await markInstanceDeleted(t.db, uuid);
      await deliverBuild(uuid);
      assert.equal(await claimedNode(t.db, uuid), null);
      assert.equal(casts.length, 1);
    });

    it('a build failure reported twice fails the build once: ERROR, one fault, the claim released', async () => {
      const uuid = await newInstance();
      await deliverBuild(uuid);
      await updateInstanceRow(t.db, uuid, { task_state: 'spawning' });
      for (let i = 0; i < 2; i++) await conductor.buildFailed(ctx(), spec(uuid), uuid, HOST, 'spawn failed', false);
      const row = (await getInstanceRow(t.db, uuid))!;
      assert.equal(row.vm_state, 'error');
      assert.equal((await faults(uuid)).length, 1);
      assert.equal(await claimedNode(t.db, uuid), null);
    });

    it('a retryable build failure reported twice reschedules once', async () => {
      const uuid = await newInstance();
      await deliverBuild(uuid);
      await updateInstanceRow(t.db, uuid, { task_state: 'spawning' });
      casts.length = 0;
      await conductor.buildFailed(ctx(), spec(uuid), uuid, HOST, 'try elsewhere', true);
      // HOST is the only node and is now ignored: no valid host, so ERROR, once.
      await conductor.buildFailed(ctx(), spec(uuid), uuid, HOST, 'try elsewhere', true);
      const row = (await getInstanceRow(t.db, uuid))!;
      assert.equal(row.vm_state, 'error');
      assert.equal((await faults(uuid)).length, 1);
      assert.match((await faults(uuid))[0]!.message, /No valid host/);
      assert.equal(await claimedNode(t.db, uuid), null);
      assert.equal(casts.length, 0);
    });

    it('instance_build_aborted (1.2): a build spawning on the host ends ERROR with the fault and no claim, once however often asked; another host\'s is left alone', async () => {
      const api = new ConductorRpcApi(bus, 5000);
      const uuid = await newInstance();
      await deliverBuild(uuid);
      await updateInstanceRow(t.db, uuid, { task_state: 'spawning' });
      assert.equal(await api.instanceBuildAborted(systemContext(), uuid, 'another-host', 'no'), false);
      assert.ok(await claimedNode(t.db, uuid));
      assert.equal(await api.instanceBuildAborted(systemContext(), uuid, HOST, 'restarted mid-build'), true);
      // Asked again (the first answer lost): still given up, nothing done twice.
      assert.equal(await api.instanceBuildAborted(systemContext(), uuid, HOST, 'restarted mid-build'), true);
      const row = (await getInstanceRow(t.db, uuid))!;
      assert.equal(row.vm_state, 'error');
      assert.equal(row.task_state, null);
      assert.deepEqual((await faults(uuid)).map((f) => f.message), ['restarted mid-build']);
      assert.equal(await claimedNode(t.db, uuid), null);

      const pinned = new ConductorRpcApi(bus, 5000, async () => '1.1');
      await assert.rejects(pinned.instanceBuildAborted(systemContext(), uuid, HOST, 'x'), /needs RPC 1\.2/);
    });
  });
}
