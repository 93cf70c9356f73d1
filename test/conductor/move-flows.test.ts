import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getFlavor } from '../../src/db/flavors.js';
import { createAction } from '../../src/db/instance-actions.js';
import { getInstanceRow, updateInstanceRow } from '../../src/db/instances.js';
import { getMigration, updateMigration } from '../../src/db/move-records.js';
import { createFlow, getFlow, resumeWaitingFlow } from '../../src/db/task-flows.js';
import { atomically } from '../../src/db/transactions.js';
import { newRequestId } from '../../src/common/ids.js';
import { systemContext } from '../../src/rpc/dispatch.js';
import { ConductorRpcApi } from '../../src/rpc/conductor-api.js';
import { fakeBackendIn, fakeGuests } from '../support/moves.js';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

/**
 * The conductor's move flows (issue #12) driven directly — a flow persisted as the API persists
 * it, then run_flow — on the fake driver with two compute hosts: where the instance ends, its
 * flavor, its claims (exactly one flavor on one node), the migration record, and the guests the
 * two fake back-ends hold. A fault armed on a step's driver call takes the move back.
 */
describe('move flows in the conductor (fake driver, two hosts)', () => {
  let cloud: TestCloud;
  let admin: Session;
  let conductor: ConductorRpcApi;
  const MV = { 'openstack-api-version': 'compute 2.37' };

  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1,compute2' }, fake: { live_migration_ms: '200' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    conductor = new ConductorRpcApi(cloud.bus, 10_000);
  });
  after(async () => {
    await cloud?.close();
  });

  async function boot(name: string): Promise<string> {
    const images = await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`);
    const created = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers`, {
      server: { name, imageRef: images.body.images[0].id, flavorRef: '1', networks: 'none' },
    }, MV);
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const id = created.body.server.id as string;
    await waitFor(`${name} ACTIVE`, async () => ((await getInstanceRow(cloud.db, id))?.vm_state === 'active' ? true : undefined));
    return id;
  }

  /** What the API does to start a move: task state, action record and flow in one transaction, then run_flow. */
  async function startMove(uuid: string, kind: 'resize' | 'migration' | 'live-migration', opts: { newFlavor?: string; host?: string | null } = {}) {
    const row = (await getInstanceRow(cloud.db, uuid))!;
    const oldFlavor = JSON.parse(row.flavor);
    const newFlavor = opts.newFlavor ? await getFlavor(cloud.db, opts.newFlavor) : oldFlavor;
    const requestId = newRequestId();
    const live = kind === 'live-migration';
    const { flowUuid, migrationUuid } = await atomically(cloud.db, async (tx) => {
      await updateInstanceRow(tx, uuid, { task_state: live ? 'migrating' : 'resize_prep' }, [null]);
      await createAction(tx, { instanceUuid: uuid, action: live ? 'live-migration' : kind === 'resize' ? 'resize' : 'migrate', requestId, projectId: row.project_id, userId: admin.userId });
      return createFlow(tx, {
        kind, instanceUuid: uuid, step: 'schedule', requestId, userId: admin.userId, projectId: row.project_id,
        payload: live ? { host: opts.host ?? null, blockMigration: 'auto' } : { host: opts.host ?? null },
        migration: {
          migration_type: kind, status: live ? 'accepted' : 'pre-migrating', source_compute: row.host, source_node: row.node,
          source_node_uuid: row.node_uuid, dest_compute: null, dest_node: null, dest_node_uuid: null, dest_host: null,
          old_flavor: JSON.stringify(oldFlavor), new_flavor: JSON.stringify(newFlavor), user_id: admin.userId, project_id: row.project_id,
        },
      });
    });
    await conductor.runFlow(systemContext(requestId), flowUuid);
    return { flowUuid, migrationUuid: migrationUuid!, source: row.host! };
  }

  async function settled(flowUuid: string): Promise<string> {
    return waitFor(`flow ${flowUuid} to stop`, async () => {
      const f = await getFlow(cloud.db, flowUuid);
      return f && f.status !== 'running' ? f.status : undefined;
    }, 30_000);
  }

  async function resume(flowUuid: string, step: 'confirm' | 'revert'): Promise<void> {
    assert.ok(await atomically(cloud.db, (tx) => resumeWaitingFlow(tx, flowUuid, 'verify', step, newRequestId())));
    await conductor.runFlow(systemContext(), flowUuid);
  }

  /** The instance's allocations, by consumer: exactly its flavor on its node is what a finished move leaves. */
  async function claims(uuid: string, migrationUuid: string) {
    const rows = await cloud.db.selectFrom('allocations').selectAll().where('consumer_uuid', 'in', [uuid, migrationUuid]).execute();
    const out: Record<string, Record<string, number>> = {};
    for (const r of rows) (out[`${r.consumer_uuid === uuid ? 'instance' : 'migration'}@${r.node_uuid}`] ??= {})[r.resource_class] = r.used;
    return out;
  }

  const guestsOn = (host: string): string[] => fakeGuests(cloud.stateDir, host);

  const other = (host: string) => (host === 'compute1' ? 'compute2' : 'compute1');

  it('resize to another host, then confirm: the new flavor there, one claim, nothing left on the source', async () => {
    const uuid = await boot('rz-confirm');
    const { flowUuid, migrationUuid, source } = await startMove(uuid, 'resize', { newFlavor: '2' });
    assert.equal(await settled(flowUuid), 'waiting');
    let row = (await getInstanceRow(cloud.db, uuid))!;
    assert.equal(row.vm_state, 'resized');
    assert.equal(row.task_state, null);
    assert.equal(row.host, other(source));
    assert.equal(row.flavor_id, '2');
    assert.equal((await getMigration(cloud.db, migrationUuid))!.status, 'finished');
    // During VERIFY_RESIZE: the new flavor on the destination, the old one held by the migration on the source.
    const during = await claims(uuid, migrationUuid);
    assert.deepEqual(Object.keys(during).map((k) => k.split('@')[0]).sort(), ['instance', 'migration']);
    await resume(flowUuid, 'confirm');
    assert.equal(await settled(flowUuid), 'done');
    row = (await getInstanceRow(cloud.db, uuid))!;
    assert.equal(row.vm_state, 'active');
    assert.equal((await getMigration(cloud.db, migrationUuid))!.status, 'confirmed');
    const after = await claims(uuid, migrationUuid);
    assert.deepEqual(Object.values(after), [{ VCPU: 1, MEMORY_MB: 2048, DISK_GB: 20 }]);
    assert.equal(Object.keys(after)[0], `instance@${row.node_uuid}`);
    assert.ok(guestsOn(row.host!).includes(uuid));
    assert.ok(!guestsOn(source).includes(uuid), 'the source keeps nothing');
  });

  it('resize, then revert: back on the source with the old flavor and claim', async () => {
    const uuid = await boot('rz-revert');
    const before = (await getInstanceRow(cloud.db, uuid))!;
    const { flowUuid, migrationUuid, source } = await startMove(uuid, 'resize', { newFlavor: '2' });
    assert.equal(await settled(flowUuid), 'waiting');
    await resume(flowUuid, 'revert');
    assert.equal(await settled(flowUuid), 'done');
    const row = (await getInstanceRow(cloud.db, uuid))!;
    assert.equal(row.vm_state, 'active');
    assert.equal(row.host, source);
    assert.equal(row.node_uuid, before.node_uuid);
    assert.equal(row.flavor_id, '1');
    assert.equal((await getMigration(cloud.db, migrationUuid))!.status, 'reverted');
    assert.deepEqual(await claims(uuid, migrationUuid), { [`instance@${before.node_uuid}`]: { VCPU: 1, MEMORY_MB: 512, DISK_GB: 1 } });
    assert.ok(guestsOn(source).includes(uuid));
    assert.ok(!guestsOn(other(source)).includes(uuid), 'the destination keeps nothing');
  });

  it('live migration: the instance on the other host, its one claim there, completed', async () => {
    const uuid = await boot('live');
    const before = (await getInstanceRow(cloud.db, uuid))!;
    const { flowUuid, migrationUuid, source } = await startMove(uuid, 'live-migration');
    assert.equal(await settled(flowUuid), 'done');
    const row = (await getInstanceRow(cloud.db, uuid))!;
    assert.equal(row.vm_state, 'active');
    assert.equal(row.task_state, null);
    assert.equal(row.host, other(source));
    const m = (await getMigration(cloud.db, migrationUuid))!;
    assert.equal(m.status, 'completed');
    assert.ok((m.memory_total ?? 0) > 0, 'progress reached the migration record');
    assert.deepEqual(await claims(uuid, migrationUuid), { [`instance@${row.node_uuid}`]: { VCPU: 1, MEMORY_MB: 512, DISK_GB: 1 } });
    assert.notEqual(row.node_uuid, before.node_uuid);
    assert.deepEqual([guestsOn(row.host!).includes(uuid), guestsOn(source).includes(uuid)], [true, false]);
  });

  for (const op of ['migrateDiskAndPowerOff', 'finishMigration'] as const) {
    it(`a resize whose ${op} fails goes back: ACTIVE on the source, a fault, the migration in error, one claim`, async () => {
      const uuid = await boot(`rz-fail-${op}`);
      const before = (await getInstanceRow(cloud.db, uuid))!;
      const faultHost = op === 'finishMigration' ? other(before.host!) : before.host!;
      const b = fakeBackendIn(cloud.stateDir, faultHost);
      b.injectFault({ op, kind: 'error', code: 'DriverFault', message: `injected failure of ${op}` });
      b.close();
      const { flowUuid, migrationUuid, source } = await startMove(uuid, 'resize', { newFlavor: '2' });
      assert.equal(await settled(flowUuid), 'done');
      const row = (await getInstanceRow(cloud.db, uuid))!;
      assert.deepEqual([row.vm_state, row.task_state, row.host, row.flavor_id], ['active', null, source, '1']);
      assert.equal((await getMigration(cloud.db, migrationUuid))!.status, 'error');
      assert.deepEqual(await claims(uuid, migrationUuid), { [`instance@${before.node_uuid}`]: { VCPU: 1, MEMORY_MB: 512, DISK_GB: 1 } });
      const faults = await cloud.db.selectFrom('instance_faults').select('message').where('instance_uuid', '=', uuid).execute();
      assert.ok(faults.some((f) => f.message.includes(`injected failure of ${op}`)), JSON.stringify(faults));
      assert.deepEqual([guestsOn(source).includes(uuid), guestsOn(other(source)).includes(uuid)], [true, false]);
      const shown = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${uuid}`, undefined, MV);
      assert.equal(shown.body.server.status, 'ACTIVE');
    });
  }

  it('a server deleted in VERIFY_RESIZE: no claim left, the source confirmed, nothing of it on either host', async () => {
    const uuid = await boot('rz-delete');
    const { flowUuid, migrationUuid, source } = await startMove(uuid, 'resize', { newFlavor: '2' });
    assert.equal(await settled(flowUuid), 'waiting');
    const del = await api(admin, 'DELETE', `${cloud.urls.compute}/v2.1/servers/${uuid}`, undefined, MV);
    assert.equal(del.status, 204);
    await waitFor('the flow to end', async () => ((await getFlow(cloud.db, flowUuid))?.status === 'done' ? true : undefined));
    assert.deepEqual(await claims(uuid, migrationUuid), {});
    assert.equal((await getMigration(cloud.db, migrationUuid))!.status, 'confirmed');
    assert.deepEqual([guestsOn(source).includes(uuid), guestsOn(other(source)).includes(uuid)], [false, false]);
  });

  it('a live migration aborted while it is being prepared ends cancelled, the guest where it was', async () => {
    const uuid = await boot('live-abort');
    const before = (await getInstanceRow(cloud.db, uuid))!;
    const dest = other(before.host!);
    const b = fakeBackendIn(cloud.stateDir, dest);
    b.injectFault({ op: 'preLiveMigration', kind: 'delay', delayMs: 1500 });
    b.close();
    const { flowUuid, migrationUuid } = await startMove(uuid, 'live-migration');
    await waitFor('the destination being prepared', async () => ((await getMigration(cloud.db, migrationUuid))?.status === 'preparing' ? true : undefined));
    await updateMigration(cloud.db, migrationUuid, { status: 'cancelling' });
    assert.equal(await settled(flowUuid), 'done');
    const row = (await getInstanceRow(cloud.db, uuid))!;
    assert.deepEqual([row.vm_state, row.task_state, row.host], ['active', null, before.host]);
    assert.equal((await getMigration(cloud.db, migrationUuid))!.status, 'cancelled');
    assert.deepEqual(await claims(uuid, migrationUuid), { [`instance@${before.node_uuid}`]: { VCPU: 1, MEMORY_MB: 512, DISK_GB: 1 } });
    assert.deepEqual([guestsOn(before.host!).includes(uuid), guestsOn(dest).includes(uuid)], [true, false]);
  });

  it('no valid host: the migration in error, the instance ACTIVE where it was, with its claim', async () => {
    const uuid = await boot('nvh');
    const before = (await getInstanceRow(cloud.db, uuid))!;
    // Its own host is the only one named, and a move never picks the source.
    const { flowUuid, migrationUuid } = await startMove(uuid, 'migration', { host: before.host });
    assert.equal(await settled(flowUuid), 'done');
    const row = (await getInstanceRow(cloud.db, uuid))!;
    assert.deepEqual([row.vm_state, row.task_state, row.host], ['active', null, before.host]);
    assert.equal((await getMigration(cloud.db, migrationUuid))!.status, 'error');
    assert.deepEqual(await claims(uuid, migrationUuid), { [`instance@${before.node_uuid}`]: { VCPU: 1, MEMORY_MB: 512, DISK_GB: 1 } });
    const faults = await cloud.db.selectFrom('instance_faults').select('message').where('instance_uuid', '=', uuid).execute();
    assert.ok(faults.some((f) => /No valid host/.test(f.message)), JSON.stringify(faults));
  });
});

describe('resize_confirm_window', () => {
  let cloud: TestCloud;
  let admin: Session;
  const MV = { 'openstack-api-version': 'compute 2.37' };

  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1,compute2', resize_confirm_window: '1' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
  });
  after(async () => {
    await cloud?.close();
  });

  it('confirms a resize left in VERIFY_RESIZE past the window, as a confirmResize action of its own', async () => {
    const c = cloud.urls.compute;
    const images = await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`);
    const created = await api(admin, 'POST', `${c}/v2.1/servers`, { server: { name: 'auto', imageRef: images.body.images[0].id, flavorRef: '1', networks: 'none' } }, MV);
    const id = created.body.server.id as string;
    const status = async () => (await api(admin, 'GET', `${c}/v2.1/servers/${id}`, undefined, MV)).body.server.status as string;
    await waitFor('ACTIVE', async () => ((await status()) === 'ACTIVE' ? true : undefined));
    const resized = await api(admin, 'POST', `${c}/v2.1/servers/${id}/action`, { resize: { flavorRef: '2' } }, MV);
    assert.equal(resized.status, 202, JSON.stringify(resized.body));
    // VERIFY_RESIZE first, then ACTIVE without a confirm from anyone (the poll runs every window, 1 s).
    await waitFor('VERIFY_RESIZE', async () => ((await status()) === 'VERIFY_RESIZE' ? true : undefined));
    await waitFor('the automatic confirm', async () => ((await status()) === 'ACTIVE' ? true : undefined), 15_000);
    const actions = await api(admin, 'GET', `${c}/v2.1/servers/${id}/os-instance-actions`, undefined, MV);
    const confirm = actions.body.instanceActions.find((a: { action: string }) => a.action === 'confirmResize');
    assert.ok(confirm, JSON.stringify(actions.body));
    const events = await api(admin, 'GET', `${c}/v2.1/servers/${id}/os-instance-actions/${confirm.request_id}`, undefined, MV);
    assert.deepEqual(events.body.instanceAction.events.map((e: { event: string; result: string }) => [e.event, e.result]), [['compute_confirm_resize', 'Success']]);
    const migrations = await api(admin, 'GET', `${c}/v2.1/os-migrations?instance_uuid=${id}`, undefined, MV);
    assert.equal(migrations.body.migrations[0].status, 'confirmed');
  });
});
