import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Config } from '../../src/common/config.js';
import { newUuid } from '../../src/common/ids.js';
import { createLogger } from '../../src/common/logging.js';
import { ConductorService } from '../../src/conductor/conductor.js';
import { migrate, openDatabase, type Db } from '../../src/db/connection.js';
import { getInstanceRow, insertInstance } from '../../src/db/instances.js';
import { unwrap, type Envelope } from '../../src/objects/envelope.js';
import type { Instance } from '../../src/objects/compute.js';
import type { Bus, RpcMessage } from '../../src/rpc/bus.js';
import { CONDUCTOR_RPC_VERSION, CONDUCTOR_TOPIC, ConductorRpcApi } from '../../src/rpc/conductor-api.js';
import { systemContext } from '../../src/rpc/dispatch.js';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';

/**
 * instance_update across conductor RPC versions: callers of 1.0 (the previous release's
 * compute) still get the instance back; 1.1 callers may ask for nothing, and a caller pinned
 * to 1.0 never sends the 1.1 argument.
 */
describe('conductor RPC instance_update compatibility', () => {
  let db: Db;
  let bus: InProcessBus;
  let conductor: ConductorService;
  const sent: RpcMessage[] = [];
  /** The real bus, with the messages clients send through it recorded. */
  let recording: Bus;

  before(async () => {
    db = openDatabase('sqlite://');
    await migrate(db);
    bus = new InProcessBus();
    conductor = new ConductorService(db, new Config(undefined, {}), createLogger('test', 'silent'), 'conductor-test');
    await conductor.start(bus);
    recording = {
      call: (topic, msg, timeoutMs) => {
        sent.push(msg);
        return bus.call(topic, msg, timeoutMs);
      },
      cast: (topic, msg) => bus.cast(topic, msg),
      fanout: (topic, msg) => bus.fanout(topic, msg),
      serve: (topic, handler, opts) => bus.serve(topic, handler, opts),
    } as Bus;
  });
  after(async () => {
    await conductor.stop();
    await db.destroy();
  });

  async function newInstance(): Promise<string> {
    const uuid = newUuid();
    const ts = new Date().toISOString();
    await insertInstance(db, {
      uuid, display_name: 'vm', display_description: null, project_id: 'p1', user_id: 'u1', image_ref: 'img',
      flavor: JSON.stringify({ flavorid: '1', vcpus: 1 }), flavor_id: '1', vcpus: 1, memory_mb: 64, root_gb: 1, ephemeral_gb: 0,
      vm_state: 'building', task_state: 'scheduling', power_state: 0, host: 'c1', node: 'n1', node_uuid: null,
      availability_zone: null, key_name: null, key_data: null, user_data: null, hostname: 'vm', reservation_id: 'r-1',
      launch_index: 0, locked: 0, locked_by: null, config_drive: '', access_ip_v4: null, access_ip_v6: null, progress: 0,
      image_meta: JSON.stringify({ id: 'img' }), tags: '[]', launched_at: null, terminated_at: null, created_at: ts, updated_at: ts,
      deleted_at: null, deleted: 0,
    }, { role: 'web' });
    return uuid;
  }

  it('is at 1.7', () => {
    assert.equal(CONDUCTOR_RPC_VERSION, '1.7');
  });

  it('answers a 1.0 caller the updated instance, with its metadata, exactly as 1.0 did', async () => {
    const uuid = await newInstance();
    // What the previous release's compute sends: a 1.0 message with no return_instance.
    const env = await bus.call(CONDUCTOR_TOPIC, {
      method: 'instance_update', version: '1.0', msgId: newUuid(), context: systemContext(),
      args: { uuid, updates: { taskState: 'spawning' }, expected_task_state: ['scheduling'] },
    }, 5000) as Envelope;
    const inst = unwrap<Instance>(env, 'Instance');
    assert.equal(inst.uuid, uuid);
    assert.equal(inst.taskState, 'spawning');
    assert.deepEqual(inst.metadata, { role: 'web' });
    assert.equal(inst.updatedAt, (await getInstanceRow(db, uuid))!.updated_at);
    // And its refusals are the same: a task state that moved on is a conflict.
    await assert.rejects(bus.call(CONDUCTOR_TOPIC, {
      method: 'instance_update', version: '1.0', msgId: newUuid(), context: systemContext(),
      args: { uuid, updates: { taskState: null }, expected_task_state: ['scheduling'] },
    }, 5000), /task_state is spawning/);
  });

  it('answers nothing to a 1.1 caller that asks for nothing, and still applies the update', async () => {
    const uuid = await newInstance();
    const api = new ConductorRpcApi(recording, 5000);
    sent.length = 0;
    const answer = await api.instanceUpdate(systemContext(), uuid, { taskState: 'spawning' }, ['scheduling'], { returnInstance: false });
    assert.equal(answer, undefined);
    assert.equal((await getInstanceRow(db, uuid))!.task_state, 'spawning');
    assert.equal(sent[0]!.version, CONDUCTOR_RPC_VERSION);
    assert.equal(sent[0]!.args.return_instance, false);
    await assert.rejects(
      api.instanceUpdate(systemContext(), uuid, { taskState: null }, ['scheduling'], { returnInstance: false }), /task_state is spawning/);
    await assert.rejects(api.instanceUpdate(systemContext(), newUuid(), { taskState: null }, undefined, { returnInstance: false }), /could not be found/);

    // By default a 1.1 caller gets the instance, as from 1.0.
    const inst = await api.instanceUpdate(systemContext(), uuid, { taskState: null, vmState: 'active' }, ['spawning']);
    assert.equal(inst.vmState, 'active');
    assert.deepEqual(inst.metadata, { role: 'web' });
  });

  it('a caller pinned to 1.0 sends the 1.0 form, without return_instance', async () => {
    const uuid = await newInstance();
    const api = new ConductorRpcApi(recording, 5000, async () => '1.0');
    sent.length = 0;
    const answer = await api.instanceUpdate(systemContext(), uuid, { taskState: 'spawning' }, ['scheduling'], { returnInstance: false });
    assert.equal(answer, undefined, 'the instance a 1.0 conductor answers is dropped');
    assert.equal(sent[0]!.version, '1.0');
    assert.ok(!('return_instance' in sent[0]!.args));
    assert.equal((await getInstanceRow(db, uuid))!.task_state, 'spawning');
  });
});
