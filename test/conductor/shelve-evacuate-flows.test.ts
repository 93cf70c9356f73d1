import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Config } from '../../src/common/config.js';
import { Conflict } from '../../src/common/errors.js';
import { newRequestId, newUuid } from '../../src/common/ids.js';
import { createLogger } from '../../src/common/logging.js';
import { upsertComputeNodes } from '../../src/db/compute-nodes.js';
import { claimResources } from '../../src/db/allocations.js';
import type { Db } from '../../src/db/connection.js';
import { getInstanceRow, insertInstance, markInstanceDeleted, updateInstanceRow } from '../../src/db/instances.js';
import { completeEvacuation, getMigration } from '../../src/db/move-records.js';
import { reportService } from '../../src/db/service-heartbeat.js';
import { startInstanceFlow } from '../../src/db/shelve.js';
import { getFlow } from '../../src/db/task-flows.js';
import { EVACUATE_FLOW } from '../../src/conductor/flows/evacuate.js';
import { SHELVE_FLOWS } from '../../src/conductor/flows/shelve.js';
import { offloadShelved } from '../../src/conductor/shelve-offload.js';
import { TaskEngine, type StepEnv } from '../../src/conductor/task-engine.js';
import type { Flavor, ImageMeta } from '../../src/objects/compute.js';
import { COMPUTE_API, ComputeRpcApi, computeTopic, type ComputeHandlers } from '../../src/rpc/compute-api.js';
import { dispatcher, systemContext } from '../../src/rpc/dispatch.js';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';
import { SchedulerRpcApi } from '../../src/rpc/scheduler-api.js';
import { SchedulerService } from '../../src/scheduler/scheduler.js';
import { BACKENDS, type TestDatabase } from '../db/databases.js';

const flavor: Flavor = { flavorid: '1', name: 'm1.tiny', vcpus: 1, memoryMb: 512, rootGb: 1, ephemeralGb: 0, swap: 0, rxtxFactor: 1, isPublic: true, disabled: false, description: null, extraSpecs: {} };
const big: Flavor = { ...flavor, flavorid: 'big', name: 'big', vcpus: 8, memoryMb: 8192 };
const image: ImageMeta = { id: 'img-1', name: 'img', status: 'active', diskFormat: 'qcow2', containerFormat: 'bare', size: 1, checksum: null, minDisk: 0, minRam: 0, properties: {} };
const NODES = { h1: newUuid(), h2: newUuid() };

/** One compute call a stand-in node received. */
interface Received { node: string; method: string; args: Record<string, unknown> }

/**
 * The shelve, shelve-offload, unshelve and evacuation flows driven by a task engine over a real
 * database, the real scheduler (claims in the real placement tables) and the in-process bus,
 * with a stand-in compute on each of two nodes that answers the move steps as a compute does
 * (H-compute's real handlers come with the branch `int`; the cloud tests run them). Checked:
 * the instance, its allocations, the migration record, the action events and faults each flow
 * leaves, on success and on failure, and that a step run again changes nothing.
 */
for (const backend of BACKENDS) {
  describe(`shelve and evacuate flows (${backend.kind})`, { skip: backend.skip }, () => {
    let t: TestDatabase;
    let db: Db;
    let bus: InProcessBus;
    let scheduler: SchedulerService;
    let engine: TaskEngine;
    let env: StepEnv;
    const received: Received[] = [];
    /** Methods the stand-ins fail (once each). */
    const failing = new Set<string>();
    /** What a stand-in does when it receives a method (before it answers), once. */
    const onCall = new Map<string, () => Promise<void>>();

    before(async () => {
      t = await backend.create();
      db = t.db;
      const config = new Config(undefined, {}).with({ DEFAULT: { shelved_offload_time: '1' } });
      const log = createLogger('test', 'silent');
      bus = new InProcessBus();
      scheduler = new SchedulerService(db, config, log, 'sched');
      await scheduler.start(bus);
      const inv = (total: number) => ({ total, reserved: 0, minUnit: 1, maxUnit: total, stepSize: 1, allocationRatio: 1 });
      for (const [host, uuid] of Object.entries(NODES)) {
        await reportService(db, { host, binary: 'nova-compute', topic: 'compute', version: '1.3' });
        // h2 is small: a big instance fits only on h1.
        const size = host === 'h1' ? { VCPU: inv(64), MEMORY_MB: inv(65536), DISK_GB: inv(1000) } : { VCPU: inv(4), MEMORY_MB: inv(4096), DISK_GB: inv(100) };
        await upsertComputeNodes(db, host, [{ uuid, host, node: host, hypervisorType: 'fake', hypervisorVersion: 1, hostIp: '127.0.0.1', cpuInfo: {}, inventory: size, traits: ['COMPUTE_IMAGE_TYPE_QCOW2'] }]);
        await bus.serve(computeTopic(host), dispatcher(COMPUTE_API, standIn(host)));
      }
      env = {
        db, config, log, compute: new ComputeRpcApi(bus, 5000), scheduler: new SchedulerRpcApi(bus, 5000), images: null, stepTimeoutMs: 5000,
      };
      engine = new TaskEngine(env, 'test-conductor', [...SHELVE_FLOWS, EVACUATE_FLOW]);
    });
    after(async () => {
      engine?.stop();
      await scheduler?.stop();
      await bus?.close();
      await t?.close();
    });
    beforeEach(() => {
      received.length = 0;
      failing.clear();
      onCall.clear();
    });

    /** A compute that answers every move step as the fake driver would; anything else is not for these flows. */
    function standIn(node: string): ComputeHandlers {
      const handlers: Record<string, (args: Record<string, unknown>) => Promise<unknown>> = {};
      for (const method of Object.keys(COMPUTE_API.methods)) {
        handlers[method] = async (args) => {
          received.push({ node, method, args });
          const hook = onCall.get(method);
          onCall.delete(method);
          await hook?.();
          if (failing.delete(method)) throw new Conflict(`${method} failed on ${node}`);
          if (method === 'spawn_moved_instance') return { powerState: args.powerOn ? 1 : 4 };
          if (method === 'unshelve_on_host') return { powerState: 1 };
          return undefined;
        };
      }
      return handlers as unknown as ComputeHandlers;
    }

    async function instanceOn(host: 'h1' | 'h2' | null, f: Flavor = flavor, state: { vm_state?: string; shelved_at?: string } = {}): Promise<string> {
      const uuid = newUuid();
      const ts = new Date().toISOString();
      await insertInstance(db, {
        uuid, display_name: 'vm', display_description: null, project_id: 'p1', user_id: 'u1', image_ref: image.id,
        flavor: JSON.stringify(f), flavor_id: f.flavorid, vcpus: f.vcpus, memory_mb: f.memoryMb, root_gb: f.rootGb, ephemeral_gb: 0,
        vm_state: state.vm_state ?? 'active', task_state: null, power_state: 1, host, node: host, node_uuid: host ? NODES[host] : null,
        availability_zone: 'nova', key_name: null, key_data: null, user_data: null, hostname: 'vm', reservation_id: 'r-1',
        launch_index: 0, locked: 0, locked_by: null, config_drive: '', access_ip_v4: null, access_ip_v6: null, progress: 0,
        image_meta: JSON.stringify(image), tags: '[]', launched_at: ts, terminated_at: null, created_at: ts, updated_at: ts,
        deleted_at: null, deleted: 0, shelved_image_id: state.shelved_at ? 'snap-1' : null, shelved_at: state.shelved_at ?? null,
      }, {});
      if (host) assert.ok(await claimResources(db, uuid, NODES[host], { VCPU: f.vcpus, MEMORY_MB: f.memoryMb, DISK_GB: f.rootGb }));
      return uuid;
    }

    /** Starts a flow as the API does and drives it to its end. */
    async function run(uuid: string, o: {
      kind: string; step: string; taskState: string; vmStates: string[]; payload?: Record<string, unknown>; event: string; evacuate?: boolean;
    }): Promise<{ flowUuid: string; migrationUuid: string | null; requestId: string }> {
      const row = (await getInstanceRow(db, uuid))!;
      const requestId = newRequestId();
      const started = await startInstanceFlow(db, {
        taskState: o.taskState, vmStates: o.vmStates, taskStates: [null], action: { name: o.kind, projectId: 'p1', userId: 'u1' }, firstEvent: o.event,
        flow: {
          kind: o.kind, instanceUuid: uuid, step: o.step, payload: o.payload ?? {}, requestId, userId: 'u1', projectId: 'p1',
          migration: o.evacuate ? {
            migration_type: 'evacuation', status: 'accepted', source_compute: row.host, source_node: row.node, source_node_uuid: row.node_uuid,
            dest_compute: null, dest_node: null, dest_node_uuid: null, dest_host: null, old_flavor: row.flavor, new_flavor: row.flavor, user_id: 'u1', project_id: 'p1',
          } : undefined,
        },
      });
      assert.ok(started, 'the flow should start');
      await engine.drive(started.flowUuid);
      assert.equal((await getFlow(db, started.flowUuid))?.status, 'done');
      return { ...started, requestId };
    }

    const allocations = async (consumer: string) => (await db.selectFrom('allocations').select(['node_uuid', 'resource_class', 'used'])
      .where('consumer_uuid', '=', consumer).orderBy('resource_class').execute()).map((a) => `${a.node_uuid === NODES.h1 ? 'h1' : a.node_uuid === NODES.h2 ? 'h2' : a.node_uuid}:${a.resource_class}=${a.used}`);
    const tiny = (host: string) => [`${host}:DISK_GB=1`, `${host}:MEMORY_MB=512`, `${host}:VCPU=1`];
    const events = async (uuid: string, requestId: string) => (await db.selectFrom('instance_action_events as e')
      .innerJoin('instance_actions as a', 'a.id', 'e.action_id').select(['e.event', 'e.result', 'e.finish_time'])
      .where('a.instance_uuid', '=', uuid).where('a.request_id', '=', requestId).orderBy('e.id').execute())
      .map((e) => `${e.event}:${e.finish_time ? e.result : 'open'}`);
    const faults = async (uuid: string) => (await db.selectFrom('instance_faults').select('message').where('instance_uuid', '=', uuid).execute()).map((f) => f.message);

    const SHELVE = { kind: 'shelve', step: 'snapshot', taskState: 'shelving', vmStates: ['active', 'stopped', 'paused', 'suspended'], event: 'compute_shelve_instance' };

    it('shelve: powered off and snapshotted on its host; SHELVED with the image, the claim kept', async () => {
      const uuid = await instanceOn('h1');
      const { requestId } = await run(uuid, { ...SHELVE, payload: { imageId: 'snap-a', offload: false } });
      const row = (await getInstanceRow(db, uuid))!;
      assert.deepEqual([row.vm_state, row.task_state, row.power_state, row.host, row.shelved_image_id], ['shelved', null, 4, 'h1', 'snap-a']);
      assert.ok(row.shelved_at);
      assert.deepEqual(received.map((r) => `${r.node}:${r.method}:${String(r.args.imageId)}`), ['h1:shelve_instance:snap-a']);
      assert.deepEqual(await allocations(uuid), tiny('h1'));
      assert.deepEqual(await events(uuid, requestId), ['compute_shelve_instance:Success']);
    });

    it('shelve with shelved_offload_time 0: shelved then offloaded in one flow; no host, no claim', async () => {
      const uuid = await instanceOn('h1');
      const { requestId } = await run(uuid, { ...SHELVE, payload: { imageId: 'snap-b', offload: true } });
      const row = (await getInstanceRow(db, uuid))!;
      assert.deepEqual([row.vm_state, row.task_state, row.host, row.node, row.node_uuid, row.shelved_image_id], ['shelved_offloaded', null, null, null, null, 'snap-b']);
      assert.deepEqual(received.map((r) => `${r.node}:${r.method}`), ['h1:shelve_instance', 'h1:shelve_offload_instance']);
      assert.deepEqual(await allocations(uuid), []);
      assert.deepEqual(await events(uuid, requestId), ['compute_shelve_instance:Success']);
    });

    it('shelve that fails on the compute: back as it was (ACTIVE, no task), a fault, the event Error, the claim kept', async () => {
      const uuid = await instanceOn('h1');
      failing.add('shelve_instance');
      const { requestId } = await run(uuid, { ...SHELVE, payload: { imageId: 'snap-c', offload: true } });
      const row = (await getInstanceRow(db, uuid))!;
      assert.deepEqual([row.vm_state, row.task_state, row.host, row.shelved_image_id], ['active', null, 'h1', null]);
      assert.deepEqual(await faults(uuid), ['shelve_instance failed on h1']);
      assert.deepEqual(await events(uuid, requestId), ['compute_shelve_instance:Error']);
      assert.deepEqual(await allocations(uuid), tiny('h1'));
    });

    it('periodic offload: a server shelved longer than shelved_offload_time is offloaded once; a fresh one is not', async () => {
      const old = await instanceOn('h1', flavor, { vm_state: 'shelved', shelved_at: new Date(Date.now() - 60_000).toISOString() });
      const fresh = await instanceOn('h1', flavor, { vm_state: 'shelved', shelved_at: new Date(Date.now() + 60_000).toISOString() });
      const kicked: string[] = [];
      const flows = await offloadShelved(db, env.config, env.log, (f) => kicked.push(f));
      assert.equal(flows.length, 1);
      assert.deepEqual(kicked, flows);
      assert.deepEqual(await offloadShelved(db, env.config, env.log, () => undefined), [], 'taken once');
      assert.equal((await getInstanceRow(db, old))!.task_state, 'shelving_offloading');
      await engine.drive(flows[0]!);
      const row = (await getInstanceRow(db, old))!;
      assert.deepEqual([row.vm_state, row.task_state, row.host], ['shelved_offloaded', null, null]);
      assert.deepEqual(await allocations(old), []);
      const actions = await db.selectFrom('instance_actions').select('action').where('instance_uuid', '=', old).execute();
      assert.deepEqual(actions.map((a) => a.action), ['shelveOffload']);
      assert.equal((await getInstanceRow(db, fresh))!.task_state, null);
    });

    const UNSHELVE = { kind: 'unshelve', taskState: 'unshelving', vmStates: ['shelved', 'shelved_offloaded'] };

    it('unshelve of a SHELVED server: powered on where it is; ACTIVE, the shelve columns cleared', async () => {
      const uuid = await instanceOn('h1', flavor, { vm_state: 'shelved', shelved_at: new Date().toISOString() });
      const { requestId } = await run(uuid, { ...UNSHELVE, step: 'power_on', event: 'compute_unshelve_instance' });
      const row = (await getInstanceRow(db, uuid))!;
      assert.deepEqual([row.vm_state, row.task_state, row.power_state, row.host, row.shelved_image_id, row.shelved_at], ['active', null, 1, 'h1', null, null]);
      assert.deepEqual(received.map((r) => `${r.node}:${r.method}`), ['h1:unshelve_on_host']);
      assert.deepEqual(await events(uuid, requestId), ['compute_unshelve_instance:Success']);
      assert.deepEqual(await allocations(uuid), tiny('h1'));
    });

    it('unshelve of an offloaded server to a named host: scheduled there, spawned from the snapshot, claimed exactly once', async () => {
      const uuid = await instanceOn(null, flavor, { vm_state: 'shelved_offloaded', shelved_at: new Date().toISOString() });
      const { requestId } = await run(uuid, { ...UNSHELVE, step: 'schedule', event: 'schedule_instances', payload: { host: 'h2', availabilityZone: null } });
      const row = (await getInstanceRow(db, uuid))!;
      assert.deepEqual([row.vm_state, row.task_state, row.power_state, row.host, row.node_uuid, row.shelved_image_id], ['active', null, 1, 'h2', NODES.h2, null]);
      assert.deepEqual(received.map((r) => `${r.node}:${r.method}`), ['h2:spawn_moved_instance']);
      const spawned = received[0]!.args as { image: ImageMeta; instance: { node: string }; powerOn: boolean };
      assert.deepEqual([spawned.image.id, spawned.instance.node, spawned.powerOn], ['snap-1', 'h2', true]);
      assert.deepEqual(await allocations(uuid), tiny('h2'));
      assert.deepEqual(await events(uuid, requestId), ['schedule_instances:Success', 'compute_unshelve_instance:Success']);
    });

    it('unshelve whose spawn fails: SHELVED_OFFLOADED again with a fault, the claim released', async () => {
      const uuid = await instanceOn(null, flavor, { vm_state: 'shelved_offloaded', shelved_at: new Date().toISOString() });
      failing.add('spawn_moved_instance');
      const { requestId } = await run(uuid, { ...UNSHELVE, step: 'schedule', event: 'schedule_instances', payload: { host: null, availabilityZone: null } });
      const row = (await getInstanceRow(db, uuid))!;
      assert.deepEqual([row.vm_state, row.task_state, row.host, row.shelved_image_id], ['shelved_offloaded', null, null, 'snap-1']);
      assert.equal((await faults(uuid)).length, 1);
      assert.deepEqual(await allocations(uuid), []);
      assert.deepEqual(await events(uuid, requestId), ['schedule_instances:Success', 'compute_unshelve_instance:Error']);
    });

    it('unshelve of an offloaded server deleted while it spawns: the new guest destroyed, the claim released', async () => {
      const uuid = await instanceOn(null, flavor, { vm_state: 'shelved_offloaded', shelved_at: new Date().toISOString() });
      onCall.set('spawn_moved_instance', async () => {
        assert.ok(await markInstanceDeleted(db, uuid, { unscheduled: true }));
      });
      await run(uuid, { ...UNSHELVE, step: 'schedule', event: 'schedule_instances', payload: { host: 'h2', availabilityZone: null } });
      assert.deepEqual(received.map((r) => `${r.node}:${r.method}`), ['h2:spawn_moved_instance', 'h2:shelve_offload_instance']);
      assert.deepEqual(await allocations(uuid), []);
    });

    it('unshelve with no host that fits: SHELVED_OFFLOADED with the scheduler\'s fault, nothing claimed', async () => {
      const uuid = await instanceOn(null, big, { vm_state: 'shelved_offloaded', shelved_at: new Date().toISOString() });
      const { requestId } = await run(uuid, { ...UNSHELVE, step: 'schedule', event: 'schedule_instances', payload: { host: 'h2', availabilityZone: null } });
      const row = (await getInstanceRow(db, uuid))!;
      assert.deepEqual([row.vm_state, row.task_state, row.host], ['shelved_offloaded', null, null]);
      assert.match((await faults(uuid))[0] ?? '', /^No valid host was found\./);
      assert.deepEqual(await allocations(uuid), []);
      assert.deepEqual(await events(uuid, requestId), ['schedule_instances:Error']);
      assert.deepEqual(received, []);
    });

    const EVACUATE = { kind: 'evacuation', step: 'schedule', taskState: 'rebuilding', vmStates: ['active', 'stopped', 'error'], event: 'conductor_rebuild_instance', evacuate: true };

    it('evacuate: rebuilt on the other host; the source claim held by the migration until the source cleans up', async () => {
      const uuid = await instanceOn('h1');
      await updateInstanceRow(db, uuid, { vm_state: 'stopped', power_state: 4 });
      const { migrationUuid, requestId } = await run(uuid, { ...EVACUATE, payload: { host: null } });
      const row = (await getInstanceRow(db, uuid))!;
      // A stopped server stays stopped: spawned powered off.
      assert.deepEqual([row.vm_state, row.task_state, row.power_state, row.host, row.node_uuid], ['stopped', null, 4, 'h2', NODES.h2]);
      assert.deepEqual(received.map((r) => `${r.node}:${r.method}:${String(r.args.powerOn)}`), ['h2:spawn_moved_instance:false']);
      const m = (await getMigration(db, migrationUuid!))!;
      assert.deepEqual([m.status, m.source_compute, m.dest_compute, m.dest_node, m.dest_node_uuid], ['done', 'h1', 'h2', 'h2', NODES.h2]);
      assert.deepEqual(await allocations(uuid), tiny('h2'));
      assert.deepEqual(await allocations(migrationUuid!), tiny('h1'));
      assert.deepEqual(await events(uuid, requestId), ['conductor_rebuild_instance:Success', 'compute_rebuild_instance:Success']);
      // The source back: evacuation_cleaned releases its claim and completes the migration.
      await completeEvacuation(db, migrationUuid!);
      assert.equal((await getMigration(db, migrationUuid!))!.status, 'completed');
      assert.deepEqual(await allocations(migrationUuid!), []);
      assert.deepEqual(await allocations(uuid), tiny('h2'));
    });

    it('evacuate with no other host that fits: ERROR on its source with a fault, migration error, the claim back with the instance', async () => {
      const uuid = await instanceOn('h1', big);
      const { migrationUuid, requestId } = await run(uuid, { ...EVACUATE, payload: { host: null } });
      const row = (await getInstanceRow(db, uuid))!;
      assert.deepEqual([row.vm_state, row.task_state, row.host], ['error', null, 'h1']);
      assert.equal((await getMigration(db, migrationUuid!))!.status, 'error');
      assert.match((await faults(uuid))[0] ?? '', /^No valid host was found\./);
      assert.deepEqual(await allocations(migrationUuid!), []);
      assert.deepEqual(await allocations(uuid), ['h1:DISK_GB=1', 'h1:MEMORY_MB=8192', 'h1:VCPU=8']);
      assert.deepEqual(await events(uuid, requestId), ['conductor_rebuild_instance:Error']);
    });

    it('evacuate whose rebuild fails: ERROR with a fault, migration failed, the destination claim released', async () => {
      const uuid = await instanceOn('h1');
      failing.add('spawn_moved_instance');
      const { migrationUuid, requestId } = await run(uuid, { ...EVACUATE, payload: { host: 'h2' } });
      const row = (await getInstanceRow(db, uuid))!;
      assert.deepEqual([row.vm_state, row.task_state, row.host], ['error', null, 'h1']);
      assert.equal((await getMigration(db, migrationUuid!))!.status, 'failed');
      assert.deepEqual(await allocations(migrationUuid!), []);
      assert.deepEqual(await allocations(uuid), tiny('h1'));
      assert.deepEqual(await events(uuid, requestId), ['conductor_rebuild_instance:Success', 'compute_rebuild_instance:Error']);
    });

    it('a step run again (a conductor that took the flow over) answers the same and claims nothing twice', async () => {
      const uuid = await instanceOn('h1');
      const row = (await getInstanceRow(db, uuid))!;
      const started = await startInstanceFlow(db, {
        taskState: 'rebuilding', vmStates: ['active'], taskStates: [null], action: { name: 'evacuate', projectId: 'p1', userId: 'u1' }, firstEvent: null,
        flow: {
          kind: 'evacuation', instanceUuid: uuid, step: 'schedule', payload: { host: null }, requestId: newRequestId(), userId: 'u1', projectId: 'p1',
          migration: {
            migration_type: 'evacuation', status: 'accepted', source_compute: 'h1', source_node: 'h1', source_node_uuid: NODES.h1,
            dest_compute: null, dest_node: null, dest_node_uuid: null, dest_host: null, old_flavor: row.flavor, new_flavor: row.flavor, user_id: 'u1', project_id: 'p1',
          },
        },
      });
      const flow = (await getFlow(db, started!.flowUuid))!;
      const stepRun = { flow, ctx: systemContext(flow.requestId), env };
      const first = await EVACUATE_FLOW.steps.schedule!(stepRun);
      const again = await EVACUATE_FLOW.steps.schedule!(stepRun);
      assert.deepEqual(again.payload, first.payload);
      assert.deepEqual(await allocations(uuid), tiny('h2'));
      assert.deepEqual(await allocations(started!.migrationUuid!), tiny('h1'));
      const spawnRun = { ...stepRun, flow: { ...flow, step: 'rebuild', payload: { ...flow.payload, ...first.payload } } };
      const a = await EVACUATE_FLOW.steps.rebuild!(spawnRun);
      const b = await EVACUATE_FLOW.steps.rebuild!(spawnRun);
      assert.deepEqual([a.next, b.next], ['done', 'done']);
      assert.deepEqual(received.map((r) => `${r.node}:${r.method}`), ['h2:spawn_moved_instance', 'h2:spawn_moved_instance']);
    });
  });
}
