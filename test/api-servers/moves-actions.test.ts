import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newUuid } from '../../src/common/ids.js';
import { createFlavor } from '../../src/db/flavors.js';
import { setProjectLimits } from '../../src/db/quotas.js';
import { activeServer, call, createServer, instanceRow, placeOnNode, startHarness, waitForCast, type Harness } from './harness.js';

/**
 * resize, confirmResize, revertResize, migrate and os-migrateLive through the real compute API:
 * Nova's request validation per microversion, states, policies and errors, and what a request
 * that is taken writes — in one transaction — for the conductor: the task state, the instance
 * action, the task flow (kind, first step, payload) and its migration record; then run_flow.
 * (The flows themselves are the conductor's; their tests are the conductor's.)
 */
describe('server moves: the API side', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ quota: { instances: '100', cores: '200', ram: '1000000' } });
    // The harness node can do everything but move; a second compute host to move to.
    await h.db.insertInto('node_traits').values(['COMPUTE_COLD_MIGRATION', 'COMPUTE_LIVE_MIGRATION'].map((trait) => ({ node_uuid: h.node.uuid, trait }))).execute();
    const ts = new Date().toISOString();
    await h.db.insertInto('services').values({
      uuid: newUuid(), host: 'compute2', binary: 'nova-compute', topic: 'compute', disabled: 0, disabled_reason: null, forced_down: 0,
      last_seen_up: ts, report_count: 1, version: '1.0', created_at: ts, updated_at: ts, deleted: 0,
    }).execute();
    await createFlavor(h.db, { flavorid: 'zero', name: 'zero-disk', vcpus: 1, memory_mb: 512, root_gb: 0, ephemeral_gb: 0, swap: 0, rxtx_factor: 1, is_public: 1, disabled: 0, description: null });
  });
  after(async () => h?.close());

  const act = (id: string, body: unknown, mv = '2.1', who = h.admin) => call(h, who, 'POST', `/v2.1/servers/${id}/action`, body, mv);
  const flowOf = (id: string) => h.db.selectFrom('task_flows').selectAll().where('instance_uuid', '=', id).executeTakeFirst();
  const migrationOf = (uuid: string) => h.db.selectFrom('migrations').selectAll().where('uuid', '=', uuid).executeTakeFirstOrThrow();
  const actionsOf = (id: string) => h.db.selectFrom('instance_actions').selectAll().where('instance_uuid', '=', id).orderBy('id').execute();
  const runFlowCast = (flowUuid: string) => waitForCast(h, (c) => c.method === 'run_flow' && c.args.flow_uuid === flowUuid);

  /** What the lead's flow leaves when a resize has finished: VERIFY_RESIZE, waiting at 'verify'. */
  async function finishedResize(who = h.member): Promise<{ id: string; flowUuid: string; migrationUuid: string }> {
    const id = await activeServer(h, who);
    const res = await act(id, { resize: { flavorRef: '2' } }, '2.1', who);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const flow = (await flowOf(id))!;
    await h.db.updateTable('task_flows').set({ status: 'waiting', step: 'verify', owner: null }).where('uuid', '=', flow.uuid).execute();
    await h.db.updateTable('migrations').set({ status: 'finished', dest_compute: 'compute2' }).where('uuid', '=', flow.migration_uuid!).execute();
    await h.db.updateTable('instances').set({ vm_state: 'resized', task_state: null }).where('uuid', '=', id).execute();
    return { id, flowUuid: flow.uuid, migrationUuid: flow.migration_uuid! };
  }

  it('resize: Nova\'s body schema, flavor and disk checks (400), nothing written', async () => {
    const id = await activeServer(h, h.member);
    const before = await instanceRow(h, id);
    const bad: Array<[unknown, RegExp]> = [
      [{}, /flavorRef/], [{ flavorRef: '' }, /flavorRef/], [{ flavorRef: '2', extra: 1 }, /extra/],
      [{ flavorRef: '2', 'OS-DCF:diskConfig': 'SOMETIMES' }, /diskConfig/],
    ];
    for (const [body, msg] of bad) {
      const res = await act(id, { resize: body }, '2.1', h.member);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(res.body.badRequest.message, msg);
    }
    const msg = async (flavorRef: string, who = h.member) => (await act(id, { resize: { flavorRef } }, '2.1', who)).body.badRequest?.message;
    assert.equal(await msg('nope'), 'Unable to locate requested flavor.');
    assert.equal(await msg('private'), 'Unable to locate requested flavor.', 'a flavor the project may not use');
    assert.equal(await msg('1'), 'Resize requires a flavor change.');
    assert.equal(await msg('http://compute/v2.1/flavors/1'), 'Resize requires a flavor change.', 'a flavor named by its URL');
    assert.equal(await msg('zero'), 'Server disk was unable to be resized because: Resize to zero disk flavor is not allowed.');
    const big = await activeServer(h, h.member, { flavorRef: '2' });
    assert.equal((await act(big, { resize: { flavorRef: '1' } }, '2.1', h.member)).body.badRequest.message,
      'Server disk was unable to be resized because: Unable to resize disk down.');
    assert.deepEqual(await instanceRow(h, id), before);
    assert.equal(await flowOf(id), undefined);
    assert.deepEqual((await actionsOf(id)).map((a) => a.action), ['create']);
  });

  it('resize: 202, RESIZE, and the flow, its migration record and the action in one go', async () => {
    const id = await activeServer(h, h.member);
    const res = await act(id, { resize: { flavorRef: '2', 'OS-DCF:diskConfig': 'MANUAL' } }, '2.1', h.member);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const row = await instanceRow(h, id);
    assert.equal(row.task_state, 'resize_prep');
    assert.equal(row.vm_state, 'active');
    assert.equal(row.auto_disk_config, 0);
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers/${id}`)).body.server.status, 'RESIZE');
    const flow = (await flowOf(id))!;
    assert.equal(flow.kind, 'resize');
    assert.equal(flow.step, 'schedule');
    assert.equal(flow.status, 'running');
    assert.equal(flow.owner, null);
    const payload = JSON.parse(flow.payload);
    assert.equal(payload.newFlavor.flavorid, '2');
    assert.equal(payload.newFlavor.vcpus, 2);
    const actions = await actionsOf(id);
    assert.deepEqual(actions.map((a) => a.action), ['create', 'resize']);
    assert.equal(flow.request_id, actions[1]!.request_id, 'the flow runs under the request of its action');
    assert.equal(flow.user_id, h.member.userId);
    const m = await migrationOf(flow.migration_uuid!);
    assert.deepEqual(
      { type: m.migration_type, status: m.status, source: m.source_compute, node: m.source_node, nodeUuid: m.source_node_uuid, dest: m.dest_compute, user: m.user_id, project: m.project_id },
      { type: 'resize', status: 'pre-migrating', source: h.node.host, node: h.node.name, nodeUuid: h.node.uuid, dest: null, user: h.member.userId, project: h.member.projectId },
    );
    assert.equal(JSON.parse(m.old_flavor!).flavorid, '1');
    assert.equal(JSON.parse(m.new_flavor!).flavorid, '2');
    await runFlowCast(flow.uuid);
    // A second move while this one runs: Nova's 409 on the task state, and still one flow.
    const again = await act(id, { resize: { flavorRef: '2' } }, '2.1', h.member);
    assert.equal(again.status, 409);
    assert.equal(again.body.conflictingRequest.message, `Cannot 'resize' instance ${id} while it is in task_state resize_prep`);
    assert.equal((await h.db.selectFrom('task_flows').select('uuid').where('instance_uuid', '=', id).execute()).length, 1);
  });

  it('resize: a STOPPED server may, a locked one or one of another project may not; quota for the growth (403)', async () => {
    const stopped = await createServer(h, h.member);
    await placeOnNode(h, stopped, { vm_state: 'stopped', power_state: 4 });
    assert.equal((await act(stopped, { resize: { flavorRef: '2' } }, '2.1', h.member)).status, 202);

    const locked = await activeServer(h, h.member);
    await h.db.updateTable('instances').set({ locked: 1 }).where('uuid', '=', locked).execute();
    const refused = await act(locked, { resize: { flavorRef: '2' } }, '2.1', h.member);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.conflictingRequest.message, `Instance ${locked} is locked`);

    const mine = await activeServer(h, h.member);
    assert.equal((await act(mine, { resize: { flavorRef: '2' } }, '2.1', h.other)).status, 404);

    // Used: every live instance of the project; the growth is 1 core and 1536 MB.
    const usage = await h.db.selectFrom('instances').select((eb) => [eb.fn.sum<number>('vcpus').as('cores')])
      .where('project_id', '=', h.member.projectId).where('deleted', '=', 0).executeTakeFirstOrThrow();
    const used = Number(usage.cores);
    await setProjectLimits(h.db, h.member.projectId, { cores: used });
    try {
      const over = await act(mine, { resize: { flavorRef: '2' } }, '2.1', h.member);
      assert.equal(over.status, 403, JSON.stringify(over.body));
      assert.equal(over.body.forbidden.message, `Quota exceeded for cores: Requested 1, but already used ${used} of ${used} cores`);
      assert.equal((await instanceRow(h, mine)).task_state, null, 'nothing half-done');
      assert.equal(await flowOf(mine), undefined);
    } finally {
      await setProjectLimits(h.db, h.member.projectId, { cores: 200 });
    }
  });

  it('resize: of five concurrent requests one is taken; the others are 409 and leave nothing', async () => {
    const id = await activeServer(h, h.member);
    const results = await Promise.all(Array.from({ length: 5 }, () => act(id, { resize: { flavorRef: '2' } }, '2.1', h.member)));
    assert.deepEqual(results.map((r) => r.status).sort(), [202, 409, 409, 409, 409]);
    assert.equal((await h.db.selectFrom('task_flows').select('uuid').where('instance_uuid', '=', id).execute()).length, 1);
    assert.equal((await h.db.selectFrom('migrations').select('uuid').where('instance_uuid', '=', id).execute()).length, 1);
    assert.deepEqual((await actionsOf(id)).map((a) => a.action), ['create', 'resize']);
  });

  it('revertResize of a resize down needs quota for growing back (403), and then changes nothing', async () => {
    await createFlavor(h.db, { flavorid: 'fewer-cpus', name: 'fewer-cpus', vcpus: 1, memory_mb: 2048, root_gb: 20, ephemeral_gb: 0, swap: 0, rxtx_factor: 1, is_public: 1, disabled: 0, description: null });
    const id = await activeServer(h, h.member, { flavorRef: '2' });
    assert.equal((await act(id, { resize: { flavorRef: 'fewer-cpus' } }, '2.1', h.member)).status, 202);
    const flow = (await flowOf(id))!;
    // As the flow leaves a finished resize: the instance on its new flavor, waiting at 'verify'.
    const fewer = JSON.parse(flow.payload).newFlavor;
    await h.db.updateTable('task_flows').set({ status: 'waiting', step: 'verify' }).where('uuid', '=', flow.uuid).execute();
    await h.db.updateTable('migrations').set({ status: 'finished' }).where('uuid', '=', flow.migration_uuid!).execute();
    await h.db.updateTable('instances').set({ vm_state: 'resized', task_state: null, flavor: JSON.stringify(fewer), flavor_id: 'fewer-cpus', vcpus: 1 }).where('uuid', '=', id).execute();
    const usage = await h.db.selectFrom('instances').select((eb) => [eb.fn.sum<number>('vcpus').as('cores')])
      .where('project_id', '=', h.member.projectId).where('deleted', '=', 0).executeTakeFirstOrThrow();
    const used = Number(usage.cores);
    await setProjectLimits(h.db, h.member.projectId, { cores: used });
    try {
      const over = await act(id, { revertResize: null }, '2.1', h.member);
      assert.equal(over.status, 403, JSON.stringify(over.body));
      assert.equal(over.body.forbidden.message, `Quota exceeded for cores: Requested 1, but already used ${used} of ${used} cores`);
      const after = (await flowOf(id))!;
      assert.deepEqual({ status: after.status, step: after.step }, { status: 'waiting', step: 'verify' });
      assert.equal((await instanceRow(h, id)).task_state, null);
      assert.equal((await migrationOf(flow.migration_uuid!)).status, 'finished');
      // Confirming needs no quota: it keeps the smaller flavor.
      assert.equal((await act(id, { confirmResize: null }, '2.1', h.member)).status, 204);
    } finally {
      await setProjectLimits(h.db, h.member.projectId, { cores: 200 });
    }
  });

  it('resize and migrate: refused (409) on a node whose driver cannot move', async () => {
    const id = await activeServer(h, h.admin);
    await h.db.deleteFrom('node_traits').where('node_uuid', '=', h.node.uuid).where('trait', 'in', ['COMPUTE_COLD_MIGRATION', 'COMPUTE_LIVE_MIGRATION']).execute();
    try {
      for (const [body, op] of [[{ resize: { flavorRef: '2' } }, 'resize'], [{ migrate: null }, 'migrate'], [{ 'os-migrateLive': { host: null, block_migration: 'auto' } }, 'os-migrateLive']] as const) {
        const res = await act(id, body, '2.25');
        assert.equal(res.status, 409, op);
        assert.equal(res.body.conflictingRequest.message, `Cannot '${op}' instance: the hypervisor of its node does not support it`);
      }
    } finally {
      await h.db.insertInto('node_traits').values(['COMPUTE_COLD_MIGRATION', 'COMPUTE_LIVE_MIGRATION'].map((trait) => ({ node_uuid: h.node.uuid, trait }))).execute();
    }
    assert.equal(await flowOf(id), undefined);
  });

  it('confirmResize: 400 "Instance has not been resized." without a waiting resize; 204 resumes the flow at confirm', async () => {
    const plain = await activeServer(h, h.member);
    assert.equal((await act(plain, { confirmResize: null }, '2.1', h.member)).status, 409, 'vm_state active');
    await h.db.updateTable('instances').set({ vm_state: 'resized' }).where('uuid', '=', plain).execute();
    const none = await act(plain, { confirmResize: null }, '2.1', h.member);
    assert.equal(none.status, 400);
    assert.equal(none.body.badRequest.message, 'Instance has not been resized.');

    const r = await finishedResize();
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers/${r.id}`)).body.server.status, 'VERIFY_RESIZE');
    const res = await act(r.id, { confirmResize: null }, '2.1', h.member);
    assert.equal(res.status, 204, JSON.stringify(res.body));
    const flow = (await flowOf(r.id))!;
    assert.deepEqual({ step: flow.step, status: flow.status, owner: flow.owner }, { step: 'confirm', status: 'running', owner: null });
    assert.equal((await migrationOf(r.migrationUuid)).status, 'confirming');
    const actions = await actionsOf(r.id);
    assert.deepEqual(actions.map((a) => a.action), ['create', 'resize', 'confirmResize']);
    await waitForCast(h, (c) => c.method === 'run_flow' && c.args.flow_uuid === r.flowUuid && c.requestId === actions[2]!.request_id);
    // Confirmed already (the flow runs): no longer waiting.
    assert.equal((await act(r.id, { confirmResize: null }, '2.1', h.member)).body.badRequest.message, 'Instance has not been resized.');
    assert.equal((await act(r.id, { revertResize: null }, '2.1', h.member)).body.badRequest.message, 'Instance has not been resized.');
  });

  it('revertResize: 202, REVERT_RESIZE, the flow resumed at revert, the migration reverting', async () => {
    const r = await finishedResize();
    const res = await act(r.id, { revertResize: null }, '2.1', h.member);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const row = await instanceRow(h, r.id);
    assert.equal(row.task_state, 'resize_reverting');
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers/${r.id}`)).body.server.status, 'REVERT_RESIZE');
    const flow = (await flowOf(r.id))!;
    assert.deepEqual({ step: flow.step, status: flow.status }, { step: 'revert', status: 'running' });
    assert.equal((await migrationOf(r.migrationUuid)).status, 'reverting');
    assert.deepEqual((await actionsOf(r.id)).map((a) => a.action), ['create', 'resize', 'revertResize']);
    await runFlowCast(r.flowUuid);
    assert.equal((await act(r.id, { confirmResize: null }, '2.1', h.member)).status, 409, 'task_state resize_reverting');
  });

  it('migrate: admin only; 2.56 names a host (a compute, not its own); below 2.56 the body is not read', async () => {
    const id = await activeServer(h, h.member);
    assert.equal((await act(id, { migrate: null }, '2.1', h.member)).status, 403);
    const msg = async (body: unknown) => (await act(id, { migrate: body }, '2.56')).body.badRequest?.message;
    assert.equal(await msg({ host: h.node.host }), 'Cannot migrate to the host where the server exists.');
    assert.equal(await msg({ host: 'nowhere' }), 'Compute host nowhere could not be found.');
    assert.match(await msg({ host: 'compute2', other: 1 }), /other/);
    assert.match(await msg({ host: 'bad host!' }), /host/);
    assert.equal(await flowOf(id), undefined);

    const res = await act(id, { migrate: { host: 'compute2' } }, '2.56');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const flow = (await flowOf(id))!;
    assert.deepEqual({ kind: flow.kind, step: flow.step, payload: JSON.parse(flow.payload) }, { kind: 'migration', step: 'schedule', payload: { host: 'compute2' } });
    const m = await migrationOf(flow.migration_uuid!);
    assert.equal(m.migration_type, 'migration');
    assert.equal(m.status, 'pre-migrating');
    assert.equal(m.new_flavor, m.old_flavor);
    assert.equal((await instanceRow(h, id)).task_state, 'resize_prep');
    assert.deepEqual((await actionsOf(id)).map((a) => a.action), ['create', 'migrate']);

    const old = await activeServer(h, h.member);
    assert.equal((await act(old, { migrate: { host: 'nowhere', anything: true } }, '2.55')).status, 202);
    assert.deepEqual(JSON.parse((await flowOf(old))!.payload), { host: null });
  });

  it('os-migrateLive: block_migration per microversion, force needs a host, MIGRATING and its flow', async () => {
    const a = await activeServer(h, h.member);
    assert.equal((await act(a, { 'os-migrateLive': { host: null, block_migration: 'auto' } }, '2.25', h.member)).status, 403);
    const noHost = await act(a, { 'os-migrateLive': { host: null, block_migration: 'auto', force: true } }, '2.30');
    assert.equal(noHost.status, 400);
    assert.equal(noHost.body.badRequest.message, "Can't force to a non-provided destination");
    assert.equal((await act(a, { 'os-migrateLive': { host: null, block_migration: 'auto' } }, '2.24')).status, 400, "'auto' from 2.25");
    assert.equal((await act(a, { 'os-migrateLive': { host: h.node.host, block_migration: 'auto' } }, '2.25')).body.badRequest.message,
      `Unable to migrate instance (${a}) to current host (${h.node.host}).`);
    assert.equal((await act(a, { 'os-migrateLive': { host: 'nowhere', block_migration: 'auto' } }, '2.25')).body.badRequest.message,
      'Compute host nowhere could not be found.');
    assert.equal(await flowOf(a), undefined);

    const res = await act(a, { 'os-migrateLive': { host: null, block_migration: 'auto' } }, '2.25');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal((await instanceRow(h, a)).task_state, 'migrating');
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers/${a}`)).body.server.status, 'MIGRATING');
    const flow = (await flowOf(a))!;
    assert.deepEqual({ kind: flow.kind, step: flow.step, payload: JSON.parse(flow.payload) },
      { kind: 'live-migration', step: 'schedule', payload: { host: null, blockMigration: 'auto' } });
    const m = await migrationOf(flow.migration_uuid!);
    assert.deepEqual({ type: m.migration_type, status: m.status, dest: m.dest_compute, source: m.source_compute },
      { type: 'live-migration', status: 'accepted', dest: null, source: h.node.host });
    assert.deepEqual((await actionsOf(a)).map((x) => x.action), ['create', 'live-migration']);
    await runFlowCast(flow.uuid);

    const b = await activeServer(h, h.member);
    assert.equal((await act(b, { 'os-migrateLive': { host: 'compute2', block_migration: 'true', disk_over_commit: false } }, '2.1')).status, 202);
    assert.deepEqual(JSON.parse((await flowOf(b))!.payload), { host: 'compute2', blockMigration: true });
    assert.equal((await migrationOf((await flowOf(b))!.migration_uuid!)).dest_compute, 'compute2');

    const c = await createServer(h, h.member);
    await placeOnNode(h, c, { vm_state: 'paused', power_state: 3 });
    assert.equal((await act(c, { 'os-migrateLive': { host: 'compute2', block_migration: false, force: true } }, '2.30')).status, 202);
    assert.deepEqual(JSON.parse((await flowOf(c))!.payload), { host: 'compute2', blockMigration: false, force: true });
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers/${c}`)).body.server.status, 'MIGRATING');
  });
});
