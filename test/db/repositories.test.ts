import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Config } from '../../src/common/config.js';
import { Conflict, NotFound, OverQuota } from '../../src/common/errors.js';
import { newUuid } from '../../src/common/ids.js';
import { upsertComputeNodes } from '../../src/db/compute-nodes.js';
import { createAggregate } from '../../src/db/aggregates.js';
import { claimResources, releaseResources } from '../../src/db/allocations.js';
import { DuplicateEntry, type Db } from '../../src/db/connection.js';
import { createFlavor } from '../../src/db/flavors.js';
import { getImageRow, insertImage, listImages } from '../../src/db/images.js';
import { listInstanceRows, sortSpecs, type InstanceFilter } from '../../src/db/instance-list.js';
import { createAction, finishEvent, startEvent } from '../../src/db/instance-actions.js';
import {
  getInstance, getInstanceRow, insertInstance, markInstanceDeleted, updateInstanceRow, updateInstanceRowReturning,
} from '../../src/db/instances.js';
import { countKeyPairs, createKeyPair } from '../../src/db/keypairs.js';
import { lockKey } from '../../src/db/locks.js';
import { createInstancesWithinQuota, TooManyInstances, type NewInstance } from '../../src/db/quota-check.js';
import { getInstanceUsage, setProjectLimits } from '../../src/db/quotas.js';
import { reportService } from '../../src/db/service-heartbeat.js';
import type { ComputeNodeReport } from '../../src/objects/compute.js';
import { BACKENDS, databaseFixture } from './databases.js';
import { instanceRow } from './instance-rows.js';

/** The repositories every service uses, with one test body for SQLite and PostgreSQL. */

const config = new Config({}, {});

function nodeReport(host: string, node: string, uuid: string, inventory: Partial<Record<string, number>> = {}, traits: string[] = []): ComputeNodeReport {
  const inv = (total: number, ratio: number) => ({ total, reserved: 0, minUnit: 1, maxUnit: total, stepSize: 1, allocationRatio: ratio });
  return {
    uuid, host, node, hypervisorType: 'fake', hypervisorVersion: 1000, hostIp: '127.0.0.1', cpuInfo: { arch: 'x86_64' },
    inventory: {
      VCPU: inv(inventory.VCPU ?? 4, 1),
      MEMORY_MB: inv(inventory.MEMORY_MB ?? 4096, 1.5),
      DISK_GB: inv(inventory.DISK_GB ?? 100, 1),
    },
    traits,
  };
}

/** Runs `n` calls of `fn` at once, spread round-robin over `dbs`. */
function spread<T>(dbs: Db[], n: number, fn: (db: Db, i: number) => Promise<T>): Promise<Array<PromiseSettledResult<T>>> {
  return Promise.allSettled(Array.from({ length: n }, (_, i) => fn(dbs[i % dbs.length]!, i)));
}

for (const backend of BACKENDS) {
  describe(`repositories on ${backend.kind}`, { skip: backend.skip }, () => {
    const t = databaseFixture(backend);

    it('inserts, updates with an expected task state, and soft-deletes instances', async () => {
      const row = instanceRow('p-inst');
      await insertInstance(t.db, row, { role: 'web', tier: '1' });
      const inst = await getInstance(t.db, row.uuid);
      assert.deepEqual(inst?.metadata, { role: 'web', tier: '1' });
      assert.equal(inst?.taskState, 'scheduling');
      assert.equal(inst?.locked, false);

      await updateInstanceRow(t.db, row.uuid, { task_state: 'spawning', host: 'c1' }, ['scheduling']);
      await assert.rejects(updateInstanceRow(t.db, row.uuid, { task_state: null }, ['scheduling', null]), Conflict);
      await updateInstanceRow(t.db, row.uuid, { task_state: null, vm_state: 'active', power_state: 1 }, ['spawning']);
      await updateInstanceRow(t.db, row.uuid, { task_state: 'powering-off' }, [null]);
      await assert.rejects(updateInstanceRow(t.db, newUuid(), { task_state: null }), NotFound);
      await assert.rejects(insertInstance(t.db, row, {}), DuplicateEntry, 'a second row with the same uuid is a 409 on both databases');

      await markInstanceDeleted(t.db, row.uuid);
      assert.equal(await getInstanceRow(t.db, row.uuid), null);
      const gone = await getInstanceRow(t.db, row.uuid, { includeDeleted: true });
      assert.equal(gone?.deleted, gone?.id, 'deleted = id');
      assert.equal(gone?.vm_state, 'deleted');
      assert.equal(gone?.task_state, null);
      assert.equal(typeof gone?.id, 'number');
      const md = await t.db.selectFrom('instance_metadata').selectAll().where('instance_uuid', '=', row.uuid).execute();
      assert.deepEqual(md, []);
      await markInstanceDeleted(t.db, row.uuid); // a second delete finds nothing to do
      await assert.rejects(updateInstanceRow(t.db, row.uuid, { task_state: null }), NotFound);
    });

    it('answers the updated row from the update itself, with the same refusals', async () => {
      // An old timestamp: the update's own may fall in the same millisecond as the insert's.
      const row = { ...instanceRow('p-ret'), updated_at: '2000-01-01T00:00:00.000Z' };
      await insertInstance(t.db, row, {});
      const after = await updateInstanceRowReturning(t.db, row.uuid, { host: 'c1', node: 'n1', task_state: 'spawning' }, ['scheduling']);
      assert.deepEqual(after, await getInstanceRow(t.db, row.uuid), 'the row as a re-read would give it');
      assert.equal(after.host, 'c1');
      assert.notEqual(after.updated_at, row.updated_at);
      await assert.rejects(updateInstanceRowReturning(t.db, row.uuid, { task_state: null }, ['scheduling']), Conflict);
      await assert.rejects(updateInstanceRowReturning(t.db, newUuid(), { task_state: null }), NotFound);
    });

    it('records action events against the newest action of the request; system requests record nothing', async () => {
      const uuid = newUuid();
      const action = (a: string, requestId: string) =>
        createAction(t.db, { instanceUuid: uuid, action: a, requestId, projectId: 'p-act', userId: 'u1' });
      const read = async (requestId: string) => {
        const actions = await t.db.selectFrom('instance_actions').selectAll().where('instance_uuid', '=', uuid)
          .where('request_id', '=', requestId).orderBy('id').execute();
        const events = await t.db.selectFrom('instance_action_events').selectAll()
          .where('action_id', 'in', actions.length > 0 ? actions.map((a) => a.id) : [-1]).orderBy('id').execute();
        return { actions, events };
      };
      await action('create', 'req-1');
      const created = (await read('req-1')).actions[0]!;
      await startEvent(t.db, uuid, 'req-1', 'schedule', null);
      await startEvent(t.db, uuid, 'req-1', 'spawn', 'c1');
      let r = await read('req-1');
      assert.deepEqual(r.events.map((e) => [e.event, e.host, e.finish_time, e.result]), [['schedule', null, null, null], ['spawn', 'c1', null, null]]);
      assert.ok(r.events.every((e) => e.action_id === created.id && typeof e.start_time === 'string'));
      assert.equal(r.actions[0]!.updated_at, created.updated_at, 'an event start leaves the action alone');
      assert.equal(r.actions[0]!.finish_time, null);

      await new Promise((res) => setTimeout(res, 5));
      await finishEvent(t.db, uuid, 'req-1', 'spawn', 'Success', null, null);
      r = await read('req-1');
      const spawn = r.events.find((e) => e.event === 'spawn')!;
      assert.equal(spawn.result, 'Success');
      assert.ok(spawn.finish_time);
      assert.equal(r.events.find((e) => e.event === 'schedule')!.finish_time, null, 'only the named event finishes');
      assert.equal(r.actions[0]!.finish_time, spawn.finish_time);
      assert.equal(r.actions[0]!.updated_at, spawn.finish_time, 'updated_at moves when an event finishes');
      assert.equal(r.actions[0]!.message, null);

      // A finish without a start records the event finished; an error marks the action.
      await finishEvent(t.db, uuid, 'req-1', 'teardown', 'Error', 'Traceback: boom', 'details');
      r = await read('req-1');
      const teardown = r.events.find((e) => e.event === 'teardown')!;
      assert.deepEqual([teardown.result, teardown.traceback, teardown.details, teardown.host], ['Error', 'Traceback: boom', 'details', null]);
      assert.equal(teardown.start_time, teardown.finish_time);
      assert.equal(r.actions[0]!.message, 'Error');

      // A repeated request id: events go to its newest action.
      await action('stop', 'req-1');
      await startEvent(t.db, uuid, 'req-1', 'stop', 'c1');
      await finishEvent(t.db, uuid, 'req-1', 'stop', 'Success', null, null);
      r = await read('req-1');
      assert.equal(r.actions.length, 2);
      assert.deepEqual(r.events.filter((e) => e.action_id === r.actions[1]!.id).map((e) => [e.event, e.result]), [['stop', 'Success']]);
      assert.equal(r.actions[1]!.message, null);

      // No action for the request (power sync and other system work): nothing is written.
      await startEvent(t.db, uuid, 'req-system', 'sync', 'c1');
      await finishEvent(t.db, uuid, 'req-system', 'sync', 'Error', 'x', null);
      const total = await t.db.selectFrom('instance_action_events').select((eb) => eb.fn.countAll<number>().as('n'))
        .where('action_id', 'in', r.actions.map((a) => a.id)).executeTakeFirstOrThrow();
      assert.equal(Number(total.n), 4);
      assert.deepEqual((await read('req-system')).actions, []);
    });

    it('lists instances with filters, null-aware sorts and marker pages the same way', async () => {
      const p = 'p-list';
      const base = Date.parse('2026-01-01T00:00:00Z');
      const specs: Array<[string, string | null, string[]]> = [
        ['Web-1', 'c2', ['Prod', 'eu']], ['web-2', null, ['prod']], ['db-1', 'c1', ['Prod']],
        ['DB-2', null, []], ['cache', 'c1', ['eu']], ['web_3', 'c10', ['prod', 'eu']],
      ];
      for (const [i, [name, host, tags]] of specs.entries()) {
        await insertInstance(t.db, instanceRow(p, {
          display_name: name, host, tags: JSON.stringify(tags), created_at: new Date(base + i * 1000).toISOString(),
        }), {});
      }
      const names = async (filter: Partial<InstanceFilter>, sort = sortSpecs(['display_name'], ['asc'], true), limit = 100, marker?: string) =>
        (await listInstanceRows(t.db, { projectId: p, deleted: 'no', ...filter }, sort, { limit, marker }, ['display_name', 'uuid']))
          .map((r) => r.display_name);

      // the name filter is the caller's predicate over batches of names, on both databases
      const re = (r: RegExp) => ({ nameMatches: (ns: string[]) => ns.map((n) => r.test(n)) });
      assert.deepEqual(await names(re(/web/i)), ['Web-1', 'web-2', 'web_3']);
      assert.deepEqual(await names(re(/^db/)), ['db-1']);
      assert.deepEqual(await names(re(/2$/), sortSpecs(['display_name'], ['asc'], true), 1), ['DB-2']);
      const first = (await listInstanceRows(t.db, { projectId: p, deleted: 'no', ...re(/2$/) }, sortSpecs(['display_name'], ['asc'], true), { limit: 1 }, ['uuid']))[0]!;
      assert.deepEqual(await names(re(/2$/), sortSpecs(['display_name'], ['asc'], true), 1, first.uuid), ['web-2']);
      // tags match exactly (case-sensitive) on both
      assert.deepEqual(await names({ tags: ['Prod'] }), ['Web-1', 'db-1']);
      assert.deepEqual(await names({ tagsAny: ['prod', 'eu'] }), ['Web-1', 'cache', 'web-2', 'web_3']);
      assert.deepEqual(await names({ notTags: ['prod', 'eu'] }), ['DB-2', 'Web-1', 'cache', 'db-1', 'web-2']);
      assert.deepEqual(await names({ notTagsAny: ['eu'] }), ['DB-2', 'db-1', 'web-2']);

      // NULL hosts sort first ascending (as ''), byte order for text, the same on both
      const byHost = sortSpecs(['host', 'display_name'], ['asc', 'desc'], true);
      const all = await names({}, byHost);
      assert.deepEqual(all, ['web-2', 'DB-2', 'db-1', 'cache', 'web_3', 'Web-1']);
      const rows = await listInstanceRows(t.db, { projectId: p, deleted: 'no' }, byHost, { limit: 100 }, ['uuid']);
      const paged: string[] = [];
      let marker: string | undefined;
      for (;;) {
        const page = await listInstanceRows(t.db, { projectId: p, deleted: 'no' }, byHost, { limit: 4, marker }, ['uuid']);
        if (page.length === 0) break;
        paged.push(...page.map((r) => r.uuid));
        marker = page[page.length - 1]!.uuid;
      }
      assert.deepEqual(paged, rows.map((r) => r.uuid));
      // the default sort: newest first
      assert.deepEqual(await names({}, sortSpecs([], [], false), 2), ['web_3', 'cache']);
    });

    it('records compute nodes: insert, update keeping claims, remove and bring back', async () => {
      const [a, b] = [newUuid(), newUuid()];
      await upsertComputeNodes(t.db, 'hostA', [nodeReport('hostA', 'n-a', a, {}, ['COMPUTE_X']), nodeReport('hostA', 'n-b', b)]);
      assert.equal(await claimResources(t.db, newUuid(), a, { VCPU: 1, MEMORY_MB: 512, DISK_GB: 10 }), true);
      // a second report with bigger totals and other traits keeps the used counters
      await upsertComputeNodes(t.db, 'hostA', [nodeReport('hostA', 'n-a', a, { VCPU: 8 }, ['COMPUTE_Y', 'COMPUTE_Z'])]);
      const inv = await t.db.selectFrom('inventories').selectAll().where('node_uuid', '=', a).orderBy('resource_class').execute();
      assert.deepEqual(inv.map((r) => [r.resource_class, r.total, r.used, r.allocation_ratio]), [
        ['DISK_GB', 100, 10, 1], ['MEMORY_MB', 4096, 512, 1.5], ['VCPU', 8, 1, 1],
      ]);
      const traits = await t.db.selectFrom('node_traits').select('trait').where('node_uuid', '=', a).orderBy('trait').execute();
      assert.deepEqual(traits.map((r) => r.trait), ['COMPUTE_Y', 'COMPUTE_Z']);
      const nodeB = await t.db.selectFrom('compute_nodes').selectAll().where('uuid', '=', b).executeTakeFirstOrThrow();
      assert.equal(nodeB.deleted, nodeB.id, 'a node no longer reported is soft-deleted');
      await upsertComputeNodes(t.db, 'hostA', [nodeReport('hostA', 'n-a', a), nodeReport('hostA', 'n-b', b)]);
      const live = await t.db.selectFrom('compute_nodes').select('hypervisor_hostname').where('host', '=', 'hostA').where('deleted', '=', 0)
        .orderBy('hypervisor_hostname').execute();
      assert.deepEqual(live.map((r) => r.hypervisor_hostname), ['n-a', 'n-b']);
    });

    it('claims atomically under concurrency and releases idempotently', async () => {
      // 4 nodes of 4 vCPUs (ratio 1): room for exactly 16 one-vCPU claims, 40 tried at once
      const nodes = [newUuid(), newUuid(), newUuid(), newUuid()];
      await upsertComputeNodes(t.db, 'hostC', nodes.map((u, i) => nodeReport('hostC', `c-${i}`, u, { VCPU: 4, MEMORY_MB: 100_000 })));
      const consumers = Array.from({ length: 40 }, () => newUuid());
      // the nodes report meanwhile, their inventory listed in another order than the claims ask
      const reversed = (r: ComputeNodeReport): ComputeNodeReport => ({ ...r, inventory: Object.fromEntries(Object.entries(r.inventory).reverse()) });
      const reports = spread(t.dbs, 10, (db) => upsertComputeNodes(db, 'hostC', nodes.map((u, i) => reversed(nodeReport('hostC', `c-${i}`, u, { VCPU: 4, MEMORY_MB: 100_000 })))));
      const results = await spread(t.dbs, 40, (db, i) => claimResources(db, consumers[i]!, nodes[i % nodes.length]!, { VCPU: 1, MEMORY_MB: 64, DISK_GB: 1 }));
      assert.ok(results.every((r) => r.status === 'fulfilled'), `no claim fails with a database error: ${results.map((r) => r.status === 'rejected' ? String(r.reason) : '').join(' ')}`);
      const reported = await reports;
      assert.ok(reported.every((r) => r.status === 'fulfilled'), `no report fails: ${reported.map((r) => r.status === 'rejected' ? String(r.reason) : '').join(' ')}`);
      const granted = results.filter((r) => r.status === 'fulfilled' && r.value).length;
      assert.equal(granted, 16);
      const inv = await t.db.selectFrom('inventories').selectAll().where('node_uuid', 'in', nodes).execute();
      for (const r of inv) {
        assert.ok(r.used <= r.total * r.allocation_ratio, `${r.node_uuid} ${r.resource_class} over capacity: ${r.used}/${r.total}`);
        const allocated = await t.db.selectFrom('allocations').select((eb) => eb.fn.sum<number>('used').as('n'))
          .where('node_uuid', '=', r.node_uuid).where('resource_class', '=', r.resource_class).executeTakeFirstOrThrow();
        assert.equal(allocated.n, r.used, 'the counter equals the sum of the allocations');
      }
      assert.deepEqual(inv.filter((r) => r.resource_class === 'VCPU').map((r) => r.used), [4, 4, 4, 4]);
      // every consumer released twice at once (a delete racing a reschedule): counted back once
      const released = await spread(t.dbs, 80, (db, i) => releaseResources(db, consumers[i % 40]!));
      assert.ok(released.every((r) => r.status === 'fulfilled'));
      const after = await t.db.selectFrom('inventories').select('used').where('node_uuid', 'in', nodes).execute();
      assert.ok(after.every((r) => r.used === 0));
      assert.equal(await claimResources(t.db, newUuid(), nodes[0]!, { VCPU: 5 }), false, 'more than max_unit is refused');
    });

    it('never lets concurrent creates overshoot the instance quota', async () => {
      const projectId = `p-quota-${backend.kind}`;
      await setProjectLimits(t.db, projectId, { instances: 10 });
      const create = (db: Db, i: number) => createInstancesWithinQuota(db, config, {
        projectId, userId: 'u1', requestId: `req-${i}`, minCount: 1, maxCount: 1, vcpus: 1, memoryMb: 64,
      }, (n): NewInstance[] => Array.from({ length: n }, () => ({ row: instanceRow(projectId, { memory_mb: 64 }), metadata: { i: String(i) } })));
      const results = await spread(t.dbs, 50, create);
      const rejected = results.filter((r) => r.status === 'rejected');
      assert.ok(rejected.every((r) => r.reason instanceof TooManyInstances), `only quota refusals: ${rejected.map((r) => String(r.reason)).join('; ')}`);
      assert.equal(results.length - rejected.length, 10);
      const usage = await getInstanceUsage(t.db, projectId);
      assert.deepEqual(usage, { instances: 10, cores: 10, ram: 640 });
      const actions = await t.db.selectFrom('instance_actions').select((eb) => eb.fn.countAll<number>().as('n'))
        .where('project_id', '=', projectId).executeTakeFirstOrThrow();
      assert.equal(actions.n, 10, 'one create action per instance, nothing half-created');
    });

    it('inserts a multi-create of hundreds in chunks: every row, its metadata and its action, or nothing', async () => {
      const projectId = `p-multi-${backend.kind}`;
      const count = 250; // over two chunks of rows, and of metadata (3 items each)
      await setProjectLimits(t.db, projectId, { instances: count, cores: -1, ram: -1 });
      const build = (n: number): NewInstance[] => Array.from({ length: n }, (_, i) => ({
        row: instanceRow(projectId, { display_name: `vm-${i + 1}`, launch_index: i, memory_mb: 64 }), metadata: { role: 'web', index: String(i), empty: '' },
      }));
      const created = await createInstancesWithinQuota(t.db, config, {
        projectId, userId: 'u1', requestId: 'req-multi', minCount: count, maxCount: count, vcpus: 1, memoryMb: 64,
      }, build);
      assert.equal(created.length, count);
      const rows = await t.db.selectFrom('instances').select(['uuid', 'launch_index']).where('project_id', '=', projectId).orderBy('id').execute();
      assert.deepEqual(rows.map((r) => r.launch_index), created.map((c) => c.row.launch_index), 'inserted in launch order');
      const last = await getInstance(t.db, created.at(-1)!.row.uuid);
      assert.deepEqual(last?.metadata, { role: 'web', index: String(count - 1), empty: '' });
      const md = await t.db.selectFrom('instance_metadata').select((eb) => eb.fn.countAll<number>().as('n'))
        .where('instance_uuid', 'in', created.map((c) => c.row.uuid)).executeTakeFirstOrThrow();
      assert.equal(md.n, 3 * count);
      const actions = await t.db.selectFrom('instance_actions').select(['instance_uuid', 'action', 'request_id'])
        .where('project_id', '=', projectId).execute();
      assert.equal(actions.length, count);
      assert.ok(actions.every((a) => a.action === 'create' && a.request_id === 'req-multi'));
      assert.deepEqual(new Set(actions.map((a) => a.instance_uuid)), new Set(created.map((c) => c.row.uuid)));

      // A duplicate in the last chunk refuses the whole request: none of its rows stay.
      await setProjectLimits(t.db, projectId, { instances: -1, cores: -1, ram: -1 });
      const dup = created[0]!.row.uuid;
      await assert.rejects(createInstancesWithinQuota(t.db, config, {
        projectId, userId: 'u1', requestId: 'req-dup', minCount: 150, maxCount: 150, vcpus: 1, memoryMb: 64,
      }, (n) => build(n).map((inst, i) => (i === n - 1 ? { ...inst, row: { ...inst.row, uuid: dup } } : inst))), DuplicateEntry);
      assert.equal((await getInstanceUsage(t.db, projectId)).instances, count);
      const dupActions = await t.db.selectFrom('instance_actions').select('id').where('request_id', '=', 'req-dup').execute();
      assert.deepEqual(dupActions, []);
    });

    it('checks the instance quota against limits the caller has already read', async () => {
      const projectId = `p-quota-given-${backend.kind}`;
      await setProjectLimits(t.db, projectId, { instances: 1 });
      const create = (limits?: Record<string, number>) => createInstancesWithinQuota(t.db, config, {
        projectId, userId: 'u1', requestId: newUuid(), minCount: 1, maxCount: 1, vcpus: 1, memoryMb: 64, limits,
      }, (n): NewInstance[] => Array.from({ length: n }, () => ({ row: instanceRow(projectId, { memory_mb: 64 }), metadata: {} })));
      // The limits given are the ones applied (the table says 1).
      assert.equal((await create({ instances: 2, cores: -1, ram: -1 })).length, 1);
      assert.equal((await create({ instances: 2, cores: -1, ram: -1 })).length, 1);
      await assert.rejects(create({ instances: 2, cores: -1, ram: -1 }), TooManyInstances);
      await assert.rejects(create(), TooManyInstances, 'without them, the table\'s');
    });

    it('never lets concurrent key pair creates overshoot the key pair quota', async () => {
      const userId = `u-kp-${backend.kind}`;
      const results = await spread(t.dbs, 20, (db, i) => createKeyPair(db, {
        userId, name: `k${i % 12}`, publicKey: 'ssh-ed25519 AAAA test', type: 'ssh', fingerprint: `fp${i}`,
      }, 5));
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      assert.equal(ok, 5);
      for (const r of results) {
        if (r.status === 'rejected') assert.ok(r.reason instanceof OverQuota || r.reason instanceof Conflict, String(r.reason));
      }
      assert.equal(await countKeyPairs(t.db, userId), 5);
    });

    it('keeps aggregate names unique under concurrent creates', async () => {
      const results = await spread(t.dbs, 10, (db) => createAggregate(db, `agg-${backend.kind}`, 'az1'));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof Conflict, String(r.reason));
    });

    it('keeps flavor names unique under concurrent creates', async () => {
      const results = await spread(t.dbs, 10, (db, i) => createFlavor(db, {
        flavorid: `f-${i}`, name: 'same-name', vcpus: 1, memory_mb: 64, root_gb: 1, ephemeral_gb: 0, swap: 0, rxtx_factor: 1.25,
        is_public: 1, disabled: 0, description: null,
      }));
      const made = results.filter((r) => r.status === 'fulfilled');
      assert.equal(made.length, 1);
      assert.equal(made[0]!.status === 'fulfilled' && made[0]!.value.rxtx_factor, 1.25);
    });

    it('records service heartbeats: one row however many processes report first at once', async () => {
      const who = { host: `h-${backend.kind}`, binary: 'nova-conductor', topic: 'conductor', version: '1.0' };
      const first = await spread(t.dbs, 10, (db) => reportService(db, who));
      assert.ok(first.every((r) => r.status === 'fulfilled'), first.map((r) => r.status === 'rejected' ? String(r.reason) : '').join(' '));
      const rows = await t.db.selectFrom('services').selectAll().where('host', '=', who.host).execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.report_count >= 1, true);
      await t.db.updateTable('services').set({ disabled: 1 }).where('id', '=', rows[0]!.id).execute();
      const later = await reportService(t.db, { ...who, version: '1.1' });
      assert.deepEqual(later, { disabled: true, forcedDown: false });
      const row = await t.db.selectFrom('services').selectAll().where('id', '=', rows[0]!.id).executeTakeFirstOrThrow();
      assert.equal(row.version, '1.1');
      assert.equal(row.report_count, rows[0]!.report_count + 1);
    });

    it('gives back numbers for counts, sums and big integers', async () => {
      const id = newUuid();
      const ts = new Date().toISOString();
      const big = 5 * 1024 ** 4; // 5 TiB: beyond 32 bits
      await insertImage(t.db, {
        id, name: 'big', owner: 'p-img', status: 'active', visibility: 'public', container_format: 'bare', disk_format: 'raw',
        size: big, virtual_size: null, checksum: null, os_hash_algo: null, os_hash_value: null, min_disk: 0, min_ram: 0,
        protected: 0, os_hidden: 0, properties: '{}', tags: '["Big"]', created_at: ts, updated_at: ts,
      });
      const row = await getImageRow(t.db, id);
      assert.equal(row?.size, big);
      const listed = await listImages(t.db, {
        viewer: { projectId: 'p-img', isAdmin: false }, filters: { size_min: big, tags: ['Big'] }, sort: [{ key: 'size', dir: 'desc' }], limit: 5,
      });
      assert.deepEqual(listed.map((r) => r.id), [id]);
      const n = await t.db.selectFrom('images').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      assert.equal(typeof n.n, 'number');
      const usage = await getInstanceUsage(t.db, 'nobody');
      assert.deepEqual(usage, { instances: 0, cores: 0, ram: 0 });
    });

    it('refuses a named lock outside a transaction, and takes it inside one', async () => {
      await assert.rejects(lockKey(t.db, 'x'), /outside a transaction/);
      await t.db.transaction().execute((tx) => lockKey(tx, 'x'));
    });
  });
}
