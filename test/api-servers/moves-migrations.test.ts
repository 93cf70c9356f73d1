import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newUuid } from '../../src/common/ids.js';
import { activeServer, call, instanceRow, startHarness, waitForCast, type Harness } from './harness.js';

/**
 * os-migrations and /servers/{id}/migrations over migration records put in the database as the
 * conductor's flows leave them: Nova's fields per microversion, its filters and 2.59 paging,
 * and the 2.22 force_complete and 2.24 abort of a live migration (casts to the source compute).
 */
describe('migrations: os-migrations and server migrations', () => {
  let h: Harness;
  let flavor1: number;
  let flavor2: number;
  before(async () => {
    h = await startHarness({ quota: { instances: '100', cores: '200', ram: '1000000' } });
    const ids = await h.db.selectFrom('flavors').select(['id', 'flavorid']).execute();
    flavor1 = ids.find((f) => f.flavorid === '1')!.id;
    flavor2 = ids.find((f) => f.flavorid === '2')!.id;
  });
  after(async () => h?.close());

  const flavorJson = (flavorid: string) => JSON.stringify({ flavorid, name: flavorid, vcpus: 1, memoryMb: 512, rootGb: 1 });
  let clock = Date.parse('2026-06-01T00:00:00Z');
  /** A migration record with the given fields; each newer than the one before. */
  async function insertMigration(f: Record<string, unknown> & { instance_uuid: string }): Promise<{ id: number; uuid: string }> {
    clock += 1000;
    const ts = new Date(clock).toISOString();
    const uuid = newUuid();
    const r = await h.db.insertInto('migrations').values({
      uuid, migration_type: 'resize', status: 'finished', source_compute: 'compute1', source_node: 'compute1', source_node_uuid: h.node.uuid,
      dest_compute: 'compute2', dest_node: 'compute2', dest_node_uuid: null, dest_host: 'compute2', old_flavor: flavorJson('1'), new_flavor: flavorJson('2'),
      memory_total: null, memory_processed: null, memory_remaining: null, disk_total: null, disk_processed: null, disk_remaining: null,
      hidden: 0, user_id: h.admin.userId, project_id: h.admin.projectId, created_at: ts, updated_at: ts, deleted_at: null, deleted: 0, ...f,
    }).returning('id').executeTakeFirstOrThrow();
    return { id: r.id, uuid };
  }
  const list = (query: string, mv: string) => call(h, h.admin, 'GET', `/v2.1/os-migrations${query}`, undefined, mv);

  it('os-migrations: the record per microversion (2.23 type and links, 2.59 uuid, 2.80 user and project); admins only', async () => {
    const server = await activeServer(h, h.member);
    const resize = await insertMigration({ instance_uuid: server });
    const live = await insertMigration({ instance_uuid: server, migration_type: 'live-migration', status: 'running', old_flavor: flavorJson('1'), new_flavor: flavorJson('1') });
    const q = `?instance_uuid=${server}`;
    const v21 = (await list(q, '2.1')).body.migrations;
    assert.deepEqual(v21.map((m: { id: number }) => m.id), [resize.id, live.id], 'in id order below 2.59');
    assert.deepEqual(v21[0], {
      created_at: '2026-06-01T00:00:01.000000', dest_compute: 'compute2', dest_host: 'compute2', dest_node: 'compute2', id: resize.id,
      instance_uuid: server, new_instance_type_id: flavor2, old_instance_type_id: flavor1, source_compute: 'compute1', source_node: 'compute1',
      status: 'finished', updated_at: '2026-06-01T00:00:01.000000',
    });
    const v223 = (await list(q, '2.23')).body.migrations;
    assert.equal(v223[0].migration_type, 'resize');
    assert.equal(v223[0].links, undefined, 'links only to live migrations under way');
    assert.equal(v223[1].migration_type, 'live-migration');
    assert.match(v223[1].links[0].href, new RegExp(`/v2\\.1/servers/${server}/migrations/${live.id}$`));
    const v259 = (await list(q, '2.59')).body.migrations;
    assert.deepEqual(v259.map((m: { uuid: string }) => m.uuid), [live.uuid, resize.uuid], 'newest first from 2.59');
    assert.equal(v259[0].user_id, undefined);
    const v280 = (await list(q, '2.80')).body.migrations;
    assert.equal(v280[0].user_id, h.admin.userId);
    assert.equal(v280[0].project_id, h.admin.projectId);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/os-migrations')).status, 403);
  });

  it('os-migrations: filters by status, host, source_compute, type, changes-since and (2.80) user and project; hidden ones never show', async () => {
    const server = await activeServer(h, h.member);
    const a = await insertMigration({ instance_uuid: server, status: 'confirmed', source_compute: 'hostA', dest_compute: 'hostB' });
    const b = await insertMigration({ instance_uuid: server, status: 'error', source_compute: 'hostB', dest_compute: 'hostC', migration_type: 'migration', user_id: 'u-other', project_id: 'p-other' });
    await insertMigration({ instance_uuid: server, status: 'confirmed', source_compute: 'hostA', dest_compute: 'hostC', hidden: 1 });
    const ids = async (query: string, mv = '2.80') => {
      const res = await list(`?instance_uuid=${server}&${query}`, mv);
      assert.equal(res.status, 200, `${query}: ${JSON.stringify(res.body)}`);
      return res.body.migrations.map((m: { id: number }) => m.id).sort();
    };
    assert.deepEqual(await ids('status=confirmed'), [a.id]);
    assert.deepEqual(await ids('host=hostB'), [a.id, b.id].sort(), 'either end');
    assert.deepEqual(await ids('source_compute=hostB'), [b.id]);
    assert.deepEqual(await ids('migration_type=migration'), [b.id]);
    assert.deepEqual(await ids('user_id=u-other'), [b.id]);
    assert.deepEqual(await ids('project_id=p-other'), [b.id]);
    assert.equal((await list(`?instance_uuid=${server}&user_id=u-other`, '2.79')).status, 400, 'strict from 2.59: user_id only from 2.80');
    assert.deepEqual(await ids('user_id=u-other', '2.58'), [a.id, b.id].sort(), 'below 2.59 an unknown parameter is ignored');
    assert.deepEqual(await ids('hidden=1'), []);
    assert.deepEqual(await ids(`changes-since=${new Date(clock - 1500).toISOString()}`), [b.id]);
    assert.deepEqual(await ids(`changes-before=${new Date(clock - 1500).toISOString()}`, '2.66'), [a.id]);
  });

  it('os-migrations 2.59: pages newest first with a real marker and a next link; an unknown marker is 400', async () => {
    const server = await activeServer(h, h.member);
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await insertMigration({ instance_uuid: server })).uuid);
    const newestFirst = [...made].reverse();
    const seen: string[] = [];
    let query = `?instance_uuid=${server}&limit=2`;
    for (let pages = 0; pages < 5; pages++) {
      const res = await list(query, '2.59');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      seen.push(...res.body.migrations.map((m: { uuid: string }) => m.uuid));
      const next = res.body.migrations_links?.[0]?.href as string | undefined;
      if (!next) break;
      query = new URL(next).search;
    }
    assert.deepEqual(seen, newestFirst);
    const unknown = await list(`?marker=${newUuid()}`, '2.59');
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.badRequest.message, /^Marker .* could not be found\.$/);
  });

  it('server migrations (2.23): only live migrations under way, with their progress; others are 404', async () => {
    const server = await activeServer(h, h.member);
    const running = await insertMigration({
      instance_uuid: server, migration_type: 'live-migration', status: 'running',
      memory_total: 1000, memory_processed: 600, memory_remaining: 400, disk_total: 0, disk_processed: 0, disk_remaining: 0,
    });
    const done = await insertMigration({ instance_uuid: server, migration_type: 'live-migration', status: 'completed' });
    const cold = await insertMigration({ instance_uuid: server, status: 'migrating' });
    const index = await call(h, h.admin, 'GET', `/v2.1/servers/${server}/migrations`, undefined, '2.23');
    assert.equal(index.status, 200);
    assert.deepEqual(index.body.migrations.map((m: { id: number }) => m.id), [running.id]);
    const m = index.body.migrations[0];
    assert.deepEqual(
      [m.server_uuid, m.status, m.memory_total_bytes, m.memory_processed_bytes, m.memory_remaining_bytes, m.disk_total_bytes, m.uuid],
      [server, 'running', 1000, 600, 400, 0, undefined],
    );
    const show = await call(h, h.admin, 'GET', `/v2.1/servers/${server}/migrations/${running.id}`, undefined, '2.59');
    assert.equal(show.status, 200);
    assert.equal(show.body.migration.uuid, running.uuid);
    for (const [id, msg] of [[done.id, /is not in progress/], [cold.id, /is not live-migration/], [99999, /not found for instance/], ['x', /not found for instance/]] as const) {
      const res = await call(h, h.admin, 'GET', `/v2.1/servers/${server}/migrations/${id}`, undefined, '2.23');
      assert.equal(res.status, 404, String(id));
      assert.match(res.body.itemNotFound.message, msg);
    }
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers/${server}/migrations`, undefined, '2.23')).status, 403);
  });

  it('force_complete (2.22): a running live migration only (400 otherwise); a cast to the source', async () => {
    const server = await activeServer(h, h.member);
    await h.db.updateTable('instances').set({ task_state: 'migrating' }).where('uuid', '=', server).execute();
    const queued = await insertMigration({ instance_uuid: server, migration_type: 'live-migration', status: 'queued' });
    const force = (id: number | string, body: unknown = { force_complete: null }, mv = '2.22') =>
      call(h, h.admin, 'POST', `/v2.1/servers/${server}/migrations/${id}/action`, body, mv);
    assert.equal((await force(queued.id, undefined, '2.21')).status, 404);
    assert.equal((await force(queued.id, { force_complete: {} })).status, 400);
    const notRunning = await force(queued.id);
    assert.equal(notRunning.status, 400);
    assert.equal(notRunning.body.badRequest.message,
      `Migration ${queued.id} state of instance ${server} is queued. Cannot force complete while the migration is in this state.`);
    await h.db.updateTable('migrations').set({ status: 'running' }).where('uuid', '=', queued.uuid).execute();
    assert.equal((await force(queued.id)).status, 202);
    const cast = await waitForCast(h, (c) => c.method === 'live_migration_force_complete' && c.args.migration_id === queued.uuid);
    assert.equal(cast.topic, `compute.${h.node.name}`);
    assert.equal((await force(424242)).status, 404);
    await h.db.updateTable('instances').set({ task_state: null }).where('uuid', '=', server).execute();
    assert.equal((await force(queued.id)).status, 409, 'not migrating');
  });

  it('abort (DELETE, 2.24): running → cancelling and a cast to the source; queued only from 2.65; 404 unknown', async () => {
    const server = await activeServer(h, h.member);
    await h.db.updateTable('instances').set({ task_state: 'migrating' }).where('uuid', '=', server).execute();
    const running = await insertMigration({ instance_uuid: server, migration_type: 'live-migration', status: 'running' });
    const del = (id: number | string, mv = '2.24', who = h.admin) => call(h, who, 'DELETE', `/v2.1/servers/${server}/migrations/${id}`, undefined, mv);
    assert.equal((await del(running.id, '2.23')).status, 404);
    assert.equal((await del(running.id, '2.24', h.member)).status, 403);
    assert.equal((await del(running.id)).status, 202);
    const row = await h.db.selectFrom('migrations').select('status').where('uuid', '=', running.uuid).executeTakeFirstOrThrow();
    assert.equal(row.status, 'cancelling');
    await waitForCast(h, (c) => c.method === 'live_migration_abort' && c.args.migration_id === running.uuid);
    const twice = await del(running.id);
    assert.equal(twice.status, 400);
    assert.match(twice.body.badRequest.message, /is cancelling\. Cannot abort live migration/);

    await h.db.updateTable('migrations').set({ status: 'failed' }).where('uuid', '=', running.uuid).execute();
    const queued = await insertMigration({ instance_uuid: server, migration_type: 'live-migration', status: 'queued' });
    assert.equal((await del(queued.id, '2.64')).status, 400);
    assert.equal((await del(queued.id, '2.65')).status, 202);
    assert.equal((await del(777777)).status, 404);
    const cold = await insertMigration({ instance_uuid: server, status: 'migrating' });
    assert.equal((await del(cold.id, '2.65')).status, 400, 'only live migrations are aborted');
    assert.equal((await instanceRow(h, server)).task_state, 'migrating', 'the flow, not the API, ends the task');
  });
});
