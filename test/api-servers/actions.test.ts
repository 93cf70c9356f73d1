import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getImageRow } from '../../src/db/images.js';
import {
  activeServer, call, castInstance, createServer, instanceRow, placeOnNode, startHarness, waitForCast, type Harness,
} from './harness.js';

const act = (h: Harness, who: Parameters<typeof call>[1], id: string, body: unknown, mv?: string) =>
  call(h, who, 'POST', `/v2.1/servers/${id}/action`, body, mv);

describe('POST /servers/{id}/action', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ quota: { instances: '100', cores: '200', ram: '1000000' } });
  });
  after(async () => h.close());

  const simple: Array<{ body: Record<string, unknown>; from: string; task: string; rpc: string; action: string; wrong: string }> = [
    { body: { 'os-stop': null }, from: 'active', task: 'powering-off', rpc: 'stop_instance', action: 'stop', wrong: 'stopped' },
    { body: { 'os-start': null }, from: 'stopped', task: 'powering-on', rpc: 'start_instance', action: 'start', wrong: 'active' },
    { body: { pause: null }, from: 'active', task: 'pausing', rpc: 'pause_instance', action: 'pause', wrong: 'paused' },
    { body: { unpause: null }, from: 'paused', task: 'unpausing', rpc: 'unpause_instance', action: 'unpause', wrong: 'active' },
    { body: { suspend: null }, from: 'active', task: 'suspending', rpc: 'suspend_instance', action: 'suspend', wrong: 'suspended' },
    { body: { resume: null }, from: 'suspended', task: 'resuming', rpc: 'resume_instance', action: 'resume', wrong: 'active' },
  ];
  for (const a of simple) {
    it(`${a.action}: from ${a.from} sets task_state ${a.task}, records the action and casts ${a.rpc}; 409 in vm_state ${a.wrong}`, async () => {
      const id = await createServer(h, h.member);
      await placeOnNode(h, id, { vm_state: a.from });
      const res = await act(h, h.member, id, a.body);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal(res.body, null);
      assert.equal((await instanceRow(h, id)).task_state, a.task);
      const cast = await waitForCast(h, (c) => c.method === a.rpc && castInstance(c).uuid === id);
      assert.equal(cast.topic, `compute.${h.node.name}`);
      assert.equal(castInstance(cast).taskState, a.task);
      const actions = (await call(h, h.member, 'GET', `/v2.1/servers/${id}/os-instance-actions`)).body.instanceActions;
      assert.equal(actions[0].action, a.action);
      assert.equal(actions[0].request_id, res.headers.get('x-openstack-request-id'));

      // a second request while the task runs: 409 naming the task state
      const busy = await act(h, h.member, id, a.body);
      assert.equal(busy.status, 409);
      assert.equal(busy.body.conflictingRequest.message, `Cannot '${a.action}' instance ${id} while it is in task_state ${a.task}`);

      const other = await createServer(h, h.member);
      await placeOnNode(h, other, { vm_state: a.wrong });
      const wrong = await act(h, h.member, other, a.body);
      assert.equal(wrong.status, 409);
      assert.equal(wrong.body.conflictingRequest.message, `Cannot '${a.action}' instance ${other} while it is in vm_state ${a.wrong}`);
    });
  }

  it('stop works from ERROR; actions on a server without a node are 409 "not ready"', async () => {
    const id = await activeServer(h, h.member);
    await h.db.updateTable('instances').set({ vm_state: 'error' }).where('uuid', '=', id).execute();
    assert.equal((await act(h, h.member, id, { 'os-stop': null })).status, 202);
    const building = await createServer(h, h.member);
    const res = await act(h, h.member, building, { 'os-stop': null });
    assert.equal(res.status, 409);
    assert.equal(res.body.conflictingRequest.message, `Instance ${building} is not ready`);
    assert.equal((await act(h, h.member, building, { pause: null })).body.conflictingRequest.message, `Cannot 'pause' instance ${building} while it is in vm_state building`);
  });

  it('of two concurrent actions on one server exactly one wins', async () => {
    const id = await activeServer(h, h.member);
    const results = await Promise.all([act(h, h.member, id, { 'os-stop': null }), act(h, h.member, id, { pause: null }), act(h, h.member, id, { suspend: null })]);
    assert.deepEqual(results.map((r) => r.status).sort(), [202, 409, 409]);
  });

  it('reboots SOFT from ACTIVE only and HARD from the other states, with Nova\'s task-state rules', async () => {
    const id = await activeServer(h, h.member);
    const soft = await act(h, h.member, id, { reboot: { type: 'SOFT' } });
    assert.equal(soft.status, 202);
    assert.equal((await instanceRow(h, id)).task_state, 'reboot_pending');
    const cast = await waitForCast(h, (c) => c.method === 'reboot_instance' && castInstance(c).uuid === id);
    assert.equal(cast.args.reboot_type, 'SOFT');
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers/${id}`)).body.server.status, 'REBOOT');
    // a soft reboot needs no task; a hard one may override a pending reboot
    assert.equal((await act(h, h.member, id, { reboot: { type: 'soft' } })).status, 409);
    assert.equal((await act(h, h.member, id, { reboot: { type: 'hard' } })).status, 202);
    assert.equal((await instanceRow(h, id)).task_state, 'reboot_pending_hard');
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers/${id}`)).body.server.status, 'HARD_REBOOT');

    const stopped = await createServer(h, h.member);
    await placeOnNode(h, stopped, { vm_state: 'stopped', power_state: 4 });
    const softStopped = await act(h, h.member, stopped, { reboot: { type: 'SOFT' } });
    assert.equal(softStopped.body.conflictingRequest.message, `Cannot 'reboot' instance ${stopped} while it is in vm_state stopped`);
    assert.equal((await act(h, h.member, stopped, { reboot: { type: 'HARD' } })).status, 202);

    for (const body of [{ reboot: {} }, { reboot: { type: 'WARM' } }, { reboot: null }]) {
      assert.equal((await act(h, h.member, id, body)).status, 400, JSON.stringify(body));
    }
  });

  it('answers 400 for unknown actions and malformed bodies; 404 for another project\'s server', async () => {
    const id = await activeServer(h, h.member);
    const unknown = await act(h, h.member, id, { fly: null });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.badRequest.message, 'There is no such action: fly');
    assert.equal((await act(h, h.member, id, { pause: null, unpause: null })).status, 400);
    assert.equal((await act(h, h.member, id, {})).status, 400);
    assert.equal((await act(h, h.member, id, '[]')).status, 400);
    assert.equal((await act(h, h.other, id, { pause: null })).status, 404);
    assert.equal((await act(h, h.member, crypto.randomUUID(), { pause: null })).status, 404);
  });

  it('locks: the owner\'s lock stops the owner\'s changes (409) but not an admin\'s; unlocking an admin\'s lock needs an admin', async () => {
    const id = await activeServer(h, h.member);
    assert.equal((await act(h, h.member, id, { lock: null })).status, 202);
    let row = await instanceRow(h, id);
    assert.equal(row.locked, 1);
    assert.equal(row.locked_by, 'owner');
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers/${id}`, undefined, '2.9')).body.server.locked, true);
    for (const body of [{ 'os-stop': null }, { pause: null }, { reboot: { type: 'HARD' } }, { rebuild: { imageRef: h.images.active } }]) {
      const res = await act(h, h.member, id, body);
      assert.equal(res.status, 409, JSON.stringify(body));
      assert.equal(res.body.conflictingRequest.message, `Instance ${id} is locked`);
    }
    assert.equal((await act(h, h.peer, id, { pause: null })).status, 409, 'the lock holds for the whole project');
    assert.equal((await act(h, h.admin, id, { pause: null })).status, 202, 'admins pass locks');
    await h.db.updateTable('instances').set({ vm_state: 'active', task_state: null }).where('uuid', '=', id).execute();

    // an admin's lock: the owner cannot lift it
    assert.equal((await act(h, h.admin, id, { lock: null })).status, 202);
    row = await instanceRow(h, id);
    assert.equal(row.locked_by, 'admin');
    const denied = await act(h, h.member, id, { unlock: null });
    assert.equal(denied.status, 403);
    assert.match(denied.body.forbidden.message, /unlock:unlock_override/);
    assert.equal((await act(h, h.admin, id, { unlock: null })).status, 202);
    row = await instanceRow(h, id);
    assert.equal(row.locked, 0);
    assert.equal(row.locked_by, null);
    assert.equal((await act(h, h.member, id, { pause: null })).status, 202);

    // lock and unlock are recorded with their api_ events, shown to admins
    const actions = (await call(h, h.admin, 'GET', `/v2.1/servers/${id}/os-instance-actions`)).body.instanceActions;
    const unlock = actions.find((a: { action: string }) => a.action === 'unlock');
    const detail = (await call(h, h.admin, 'GET', `/v2.1/servers/${id}/os-instance-actions/${unlock.request_id}`)).body.instanceAction;
    assert.equal(detail.events[0].event, 'api_unlock');
    assert.equal(detail.events[0].result, 'Success');
  });

  it('refuses an operation the node\'s driver did not declare: 409 for actions, 501 for console output', async () => {
    const id = await activeServer(h, h.member);
    await h.db.deleteFrom('node_traits').where('node_uuid', '=', h.node.uuid).where('trait', 'in', ['COMPUTE_PAUSE', 'COMPUTE_CONSOLE_OUTPUT', 'COMPUTE_SNAPSHOT']).execute();
    try {
      const pause = await act(h, h.member, id, { pause: null });
      assert.equal(pause.status, 409);
      assert.equal(pause.body.conflictingRequest.message, "Cannot 'pause' instance: the hypervisor of its node does not support it");
      assert.equal((await instanceRow(h, id)).task_state, null, 'nothing changed');
      assert.equal((await act(h, h.member, id, { createImage: { name: 'snap' } })).status, 409);
      const console = await act(h, h.member, id, { 'os-getConsoleOutput': {} });
      assert.equal(console.status, 501);
      assert.deepEqual(console.body, { notImplemented: { code: 501, message: 'The requested functionality is not supported.' } });
      assert.equal((await act(h, h.member, id, { suspend: null })).status, 202, 'declared operations still work');
    } finally {
      await h.db.insertInto('node_traits').values(['COMPUTE_PAUSE', 'COMPUTE_CONSOLE_OUTPUT', 'COMPUTE_SNAPSHOT'].map((trait) => ({ node_uuid: h.node.uuid, trait }))).execute();
    }
  });

  it('returns console output through a synchronous call, tail length included', async () => {
    const id = await activeServer(h, h.member);
    h.consoleOutput = 'boot\x07 ok\nlogin: ';
    const res = await act(h, h.member, id, { 'os-getConsoleOutput': { length: 50 } });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { output: 'boot ok\nlogin: ' });
    const cast = await waitForCast(h, (c) => c.method === 'get_console_output' && castInstance(c).uuid === id);
    assert.equal(cast.args.length, 50);
    assert.equal((await act(h, h.member, id, { 'os-getConsoleOutput': { length: '-1' } })).status, 200);
    assert.equal((await act(h, h.member, id, { 'os-getConsoleOutput': { length: -2 } })).status, 400);
    assert.equal((await act(h, h.member, id, { 'os-getConsoleOutput': { length: 'ten' } })).status, 400);
  });

  it('rebuilds with a new image, name, metadata and (2.19) description; answers the server with adminPass', async () => {
    const id = await activeServer(h, h.member, { metadata: { old: '1' } });
    const res = await act(h, h.member, id, { rebuild: { imageRef: h.images.active, name: 'reborn', metadata: { fresh: 'yes' }, adminPass: 's3cret', description: 'new' } }, '2.19');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.headers.get('location'), `${h.url}/v2.1/servers/${id}`);
    const s = res.body.server;
    assert.equal(s.status, 'REBUILD');
    assert.equal(s.name, 'reborn');
    assert.equal(s.description, 'new');
    assert.equal(s.adminPass, 's3cret');
    assert.deepEqual(s.metadata, { fresh: 'yes' });
    assert.ok(!('OS-EXT-STS:task_state' in s), 'the reduced view');
    assert.equal((await instanceRow(h, id)).task_state, 'rebuilding');
    const cast = await waitForCast(h, (c) => c.method === 'rebuild_instance' && castInstance(c).uuid === id);
    assert.ok(cast.args.image);

    const stopped = await createServer(h, h.member);
    await placeOnNode(h, stopped, { vm_state: 'paused' });
    assert.equal((await act(h, h.member, stopped, { rebuild: { imageRef: h.images.active } })).body.conflictingRequest.message,
      `Cannot 'rebuild' instance ${stopped} while it is in vm_state paused`);
    const other = await activeServer(h, h.member);
    assert.equal((await act(h, h.member, other, { rebuild: { imageRef: h.images.queued } })).status, 400);
    assert.equal((await act(h, h.member, other, { rebuild: { imageRef: 'nope' } })).status, 400);
    assert.equal((await act(h, h.member, other, { rebuild: { imageRef: h.images.active, description: 'x' } })).status, 400, 'description needs 2.19');
    assert.equal((await act(h, h.member, other, { rebuild: { imageRef: h.images.big } })).status, 400, 'flavor too small');
    assert.equal((await instanceRow(h, other)).task_state, null, 'refused rebuilds change nothing');
  });

  it('creates a snapshot: a queued image owned by the caller, task_state image_snapshot, a Location to the image', async () => {
    const id = await activeServer(h, h.member);
    const res = await act(h, h.member, id, { createImage: { name: 'snap-1', metadata: { purpose: 'backup' } } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body, null);
    const imageId = res.headers.get('location')!.split('/').pop()!;
    const image = await getImageRow(h.db, imageId);
    assert.ok(image);
    assert.equal(image.status, 'queued');
    assert.equal(image.owner, h.member.projectId);
    assert.equal(image.name, 'snap-1');
    const props = JSON.parse(image.properties);
    assert.equal(props.instance_uuid, id);
    assert.equal(props.image_type, 'snapshot');
    assert.equal(props.purpose, 'backup');
    assert.equal((await instanceRow(h, id)).task_state, 'image_snapshot');
    const cast = await waitForCast(h, (c) => c.method === 'snapshot_instance' && castInstance(c).uuid === id);
    assert.equal(cast.args.image_id, imageId);

    // a snapshot ignores the lock, as in Nova, but not the state
    const busy = await act(h, h.member, id, { createImage: { name: 'snap-2' } });
    assert.equal(busy.status, 409);
    for (const body of [{ createImage: {} }, { createImage: { name: '' } }, { createImage: { name: 'x', metadata: { 'a/b': 'c' } } }]) {
      assert.equal((await act(h, h.member, id, body)).status, 400, JSON.stringify(body));
    }
  });
});
