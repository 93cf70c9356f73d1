import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newUuid } from '../../src/common/ids.js';
import { addAggregateHost, createAggregate } from '../../src/db/aggregates.js';
import { createFlow, liveFlowOf } from '../../src/db/task-flows.js';
import { activeServer, call, instanceRow, placeOnNode, startHarness, waitForCast, type Harness } from './harness.js';

/**
 * The shelve, shelveOffload, unshelve and evacuate actions as the API takes them (the harness:
 * the real API and image API, a stand-in conductor that records run_flow): Nova's schemas per
 * microversion, states, policies and refusals, and what a request accepted writes — the task
 * state, the instance action and its first event, the flow with its payload and migration
 * record, the shelve's snapshot image — or, refused, does not leave behind.
 */
describe('shelve and evacuate actions (API)', () => {
  let h: Harness;
  const other = { host: 'compute2', uuid: newUuid() };

  before(async () => {
    h = await startHarness({ quota: { instances: '100', cores: '200', ram: '1000000' } });
    const ts = new Date().toISOString();
    await h.db.insertInto('services').values({
      uuid: newUuid(), host: other.host, binary: 'nova-compute', topic: 'compute', disabled: 0, disabled_reason: null, forced_down: 0,
      last_seen_up: ts, report_count: 1, version: '1.3', created_at: ts, updated_at: ts, deleted: 0,
    }).execute();
  });
  after(async () => h?.close());

  const act = (id: string, body: unknown, mv = '2.91', who = h.admin) => call(h, who, 'POST', `/v2.1/servers/${id}/action`, body, mv);
  const flowOf = async (id: string) => liveFlowOf(h.db, id);
  const actionsOf = async (id: string) => (await h.db.selectFrom('instance_actions').select(['action', 'request_id']).where('instance_uuid', '=', id).where('action', '<>', 'create').execute());
  const openEvents = async (id: string) => (await h.db.selectFrom('instance_action_events as e').innerJoin('instance_actions as a', 'a.id', 'e.action_id')
    .select('e.event').where('a.instance_uuid', '=', id).where('e.finish_time', 'is', null).execute()).map((e) => e.event);
  const snapshots = async (id: string) => (await h.db.selectFrom('images').select(['id', 'name', 'properties']).execute())
    .filter((i) => (JSON.parse(i.properties) as Record<string, unknown>).instance_uuid === id);
  const ranFlow = (flowUuid: string) => waitForCast(h, (c) => c.method === 'run_flow' && c.args.flow_uuid === flowUuid);

  it('shelve: 202; SHELVING, the action, its event open, a snapshot image "<name>-shelved", the flow (offload at once: time 0), run_flow', async () => {
    const id = await activeServer(h, h.member, { name: 'keep' });
    const r = await act(id, { shelve: null }, '2.1', h.member);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal((await instanceRow(h, id)).task_state, 'shelving');
    const flow = (await flowOf(id))!;
    const [image] = await snapshots(id);
    assert.equal(image?.name, 'keep-shelved');
    assert.deepEqual([flow.kind, flow.step, flow.payload], ['shelve', 'snapshot', { imageId: image!.id, offload: true }]);
    assert.deepEqual((await actionsOf(id)).map((a) => a.action), ['shelve']);
    assert.deepEqual(await openEvents(id), ['compute_shelve_instance']);
    await ranFlow(flow.uuid);
  });

  it('shelve refused leaves nothing: wrong state 409 (no image); a flow already under way 409 and its image deleted', async () => {
    const id = await activeServer(h, h.member, { name: 'busy' });
    await placeOnNode(h, id, { vm_state: 'shelved' });
    const wrong = await act(id, { shelve: null });
    assert.equal(wrong.status, 409);
    assert.equal(wrong.body.conflictingRequest.message, `Cannot 'shelve' instance ${id} while it is in vm_state shelved`);
    assert.deepEqual(await snapshots(id), []);
    // A flow of the instance the database holds (another conductor's, say) while its row shows no task.
    await placeOnNode(h, id);
    await createFlow(h.db, { kind: 'resize', instanceUuid: id, step: 'schedule', payload: {}, requestId: 'req-x', userId: null, projectId: null });
    const twice = await act(id, { shelve: null });
    assert.equal(twice.status, 409, JSON.stringify(twice.body));
    assert.deepEqual(await snapshots(id), [], 'the image made for it is deleted');
    assert.equal((await instanceRow(h, id)).task_state, null);
    assert.deepEqual(await actionsOf(id), []);
  });

  it('shelveOffload: admin only (403 for a member), from SHELVED only (409), then SHELVING_OFFLOADING and its flow', async () => {
    const id = await activeServer(h, h.member);
    const active = await act(id, { shelveOffload: null });
    assert.equal(active.status, 409);
    assert.equal(active.body.conflictingRequest.message, `Cannot 'shelveOffload' instance ${id} while it is in vm_state active`);
    await placeOnNode(h, id, { vm_state: 'shelved', power_state: 4 });
    const member = await act(id, { shelveOffload: null }, '2.91', h.member);
    assert.equal(member.status, 403);
    assert.equal(member.body.forbidden.message, "Policy doesn't allow os_compute_api:os-shelve:shelve_offload to be performed.");
    assert.equal((await act(id, { shelveOffload: null })).status, 202);
    const flow = (await flowOf(id))!;
    assert.deepEqual([flow.kind, flow.step, (await instanceRow(h, id)).task_state], ['shelve-offload', 'offload', 'shelving_offloading']);
    assert.deepEqual(await openEvents(id), ['compute_shelve_offload_instance']);
    assert.equal((await call(h, h.other, 'POST', `/v2.1/servers/${id}/action`, { shelveOffload: null })).status, 404, "another project's server");
  });

  async function offloaded(): Promise<string> {
    const id = await activeServer(h, h.member);
    await h.db.updateTable('instances').set({ vm_state: 'shelved_offloaded', host: null, node: null, node_uuid: null, shelved_image_id: newUuid() })
      .where('uuid', '=', id).execute();
    return id;
  }

  it('unshelve schemas: 2.77 a zone (required in an object, a known one); 2.91 a host (admin) and a null zone; unknown keys 400', async () => {
    const id = await offloaded();
    for (const [body, mv] of [[{}, '2.77'], [{ availability_zone: null }, '2.77'], [{ host: 'compute2' }, '2.90'], [{ bogus: 1 }, '2.91'], [{ host: 5 }, '2.91']] as const) {
      assert.equal((await act(id, { unshelve: body }, mv)).status, 400, `${JSON.stringify(body)} at ${mv}`);
    }
    const unknownZone = await act(id, { unshelve: { availability_zone: 'atlantis' } }, '2.77');
    assert.equal(unknownZone.status, 400);
    assert.equal(unknownZone.body.badRequest.message, 'The requested availability zone is not available');
    const memberHost = await act(id, { unshelve: { host: 'compute2' } }, '2.91', h.member);
    assert.equal(memberHost.status, 403);
    assert.equal(memberHost.body.forbidden.message, "Policy doesn't allow os_compute_api:os-shelve:unshelve_to_host to be performed.");
    const noHost = await act(id, { unshelve: { host: 'nowhere' } });
    assert.equal(noHost.status, 400);
    assert.equal(noHost.body.badRequest.message, 'Compute host nowhere could not be found.');
    // compute2 in its own zone: named with another zone, Nova's UnshelveHostNotInAZ (409).
    const agg = await createAggregate(h.db, 'az2-agg', 'az2');
    await addAggregateHost(h.db, agg.id, other.host);
    const notIn = await act(id, { unshelve: { availability_zone: 'nova', host: 'compute2' } });
    assert.equal(notIn.status, 409);
    assert.equal(notIn.body.conflictingRequest.message, 'Host "compute2" is not in the availability zone "nova".');
    assert.equal((await instanceRow(h, id)).task_state, null, 'nothing written by the refusals');
    assert.deepEqual(await actionsOf(id), []);

    // Accepted: a member with a zone at 2.77; the flow schedules (offloaded) with what was asked.
    const r = await act(id, { unshelve: { availability_zone: 'az2' } }, '2.77', h.member);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const flow = (await flowOf(id))!;
    assert.deepEqual([flow.kind, flow.step, flow.payload], ['unshelve', 'schedule', { availabilityZone: 'az2', host: null }]);
    assert.deepEqual([(await instanceRow(h, id)).task_state, ...(await openEvents(id))], ['unshelving', 'schedule_instances']);

    // 2.91: host with the zone unpinned (null).
    const id2 = await offloaded();
    assert.equal((await act(id2, { unshelve: { availability_zone: null, host: 'compute2' } })).status, 202);
    assert.deepEqual((await flowOf(id2))!.payload, { availabilityZone: null, host: 'compute2' });
  });

  it('unshelve of a SHELVED server: powered on in place (step power_on); a zone for it 409; from ACTIVE 409', async () => {
    const id = await activeServer(h, h.member);
    assert.equal((await act(id, { unshelve: null })).body.conflictingRequest.message, `Cannot 'unshelve' instance ${id} while it is in vm_state active`);
    await placeOnNode(h, id, { vm_state: 'shelved', power_state: 4 });
    const zone = await act(id, { unshelve: { availability_zone: 'nova' } });
    assert.equal(zone.status, 409);
    assert.equal(zone.body.conflictingRequest.message,
      `Specifying an availability zone when unshelving server ${id} with status "shelved" is not supported. The server status must be SHELVED_OFFLOADED.`);
    // Below 2.77 the body is not read at all.
    assert.equal((await act(id, { unshelve: { availability_zone: 'nova' } }, '2.76', h.member)).status, 202);
    const flow = (await flowOf(id))!;
    assert.deepEqual([flow.kind, flow.step], ['unshelve', 'power_on']);
    assert.deepEqual(await openEvents(id), ['compute_unshelve_instance']);
  });

  it('evacuate: 200 with the password below 2.14, empty from 2.14; the flow and its migration record (accepted, the source)', async () => {
    const id = await activeServer(h, h.member);
    const down = () => h.db.updateTable('services').set({ forced_down: 1 }).where('host', '=', h.node.host).execute();
    await down();
    try {
      const shared = await act(id, { evacuate: { onSharedStorage: true, adminPass: 'x' } }, '2.13');
      assert.equal(shared.status, 400);
      assert.equal(shared.body.badRequest.message, "admin password can't be changed on existing disk");
      assert.equal((await act(id, { evacuate: { host: h.node.host } }, '2.29')).body.badRequest.message, "The target host can't be the same one.");
      const old = await act(id, { evacuate: { onSharedStorage: false, adminPass: 'pa55' } }, '2.13');
      assert.equal(old.status, 200, JSON.stringify(old.body));
      assert.deepEqual(old.body, { adminPass: 'pa55' });
      const flow = (await flowOf(id))!;
      assert.deepEqual([flow.kind, flow.step, flow.payload], ['evacuation', 'schedule', { host: null }]);
      assert.equal(JSON.stringify(flow.payload).includes('pa55'), false, 'the password is never stored');
      const m = await h.db.selectFrom('migrations').selectAll().where('uuid', '=', flow.migrationUuid!).executeTakeFirstOrThrow();
      assert.deepEqual([m.migration_type, m.status, m.source_compute, m.source_node, m.source_node_uuid, m.dest_compute],
        ['evacuation', 'accepted', h.node.host, h.node.name, h.node.uuid, null]);
      assert.deepEqual([(await instanceRow(h, id)).task_state, ...(await actionsOf(id)).map((a) => a.action)], ['rebuilding', 'evacuate']);
      assert.deepEqual(await openEvents(id), ['conductor_rebuild_instance']);
      await ranFlow(flow.uuid);
      // Under way: a second evacuate is refused (task state).
      assert.equal((await act(id, { evacuate: {} }, '2.68')).status, 409);

      const id2 = await activeServer(h, h.member);
      const forced = await act(id2, { evacuate: { host: other.host, force: true } }, '2.29');
      assert.equal(forced.status, 200);
      assert.equal(forced.body, null);
      assert.deepEqual((await flowOf(id2))!.payload, { host: other.host });
    } finally {
      await h.db.updateTable('services').set({ forced_down: 0 }).where('host', '=', h.node.host).execute();
    }
  });
});
