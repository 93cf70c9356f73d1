import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { activeServer, call, instanceRow, startHarness, type Harness } from './harness.js';

/**
 * The microversions of moves and volumes Orrery cannot perform yet (2.59, 2.68, 2.79) and of
 * cells it does not have (2.69): each validated as Nova validates it and answered as Nova answers
 * when the feature is unavailable, against the version below.
 */
describe('moves, migrations, volume attachments and cells microversions', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ quota: { instances: '100', cores: '200', ram: '1000000' } }); });
  after(async () => h.close());

  const migrations = (query: string, mv: string) => call(h, h.admin, 'GET', `/v2.1/os-migrations${query}`, undefined, mv);
  const act = (id: string, body: unknown, mv: string) => call(h, h.admin, 'POST', `/v2.1/servers/${id}/action`, body, mv);

  it('2.59 os-migrations: limit, marker and changes-since from 2.59 (a marker naming no migration is a 400); 2.58 ignores them', async () => {
    const plain = await migrations('', '2.59');
    assert.equal(plain.status, 200);
    assert.deepEqual(plain.body, { migrations: [] });
    assert.deepEqual((await migrations('?limit=5&changes-since=2026-01-01T00:00:00Z', '2.59')).body, { migrations: [] });
    const marker = await migrations('?marker=0b7c0c3c-6d0f-4a9e-9e43-000000000001', '2.59');
    assert.equal(marker.status, 400);
    assert.equal(marker.body.badRequest.message, 'Marker 0b7c0c3c-6d0f-4a9e-9e43-000000000001 could not be found.');
    assert.equal((await migrations('?limit=x', '2.59')).status, 400);
    assert.equal((await migrations('?changes-since=yesterday', '2.59')).status, 400);
    assert.equal((await migrations('?bogus=1', '2.59')).status, 400, 'strict from 2.59');
    // 2.58: the schema names none of them and allows anything else.
    const old = await migrations('?marker=0b7c0c3c-6d0f-4a9e-9e43-000000000001&limit=x&bogus=1', '2.58');
    assert.equal(old.status, 200);
    assert.deepEqual(old.body, { migrations: [] });
    // changes-before exists from 2.66, user_id/project_id from 2.80.
    assert.equal((await migrations('?changes-before=2026-01-01T00:00:00Z', '2.65')).status, 400);
    assert.equal((await migrations('?changes-before=2026-01-01T00:00:00Z', '2.66')).status, 200);
    assert.equal((await migrations('?changes-since=2026-02-01T00:00:00Z&changes-before=2026-01-01T00:00:00Z', '2.66')).status, 400);
  });

  it('2.80 os-migrations: user_id and project_id filters from 2.80, refused at 2.79', async () => {
    assert.equal((await migrations(`?user_id=${h.member.userId}`, '2.80')).status, 200);
    assert.equal((await migrations(`?project_id=${h.member.projectId}`, '2.79')).status, 400);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/os-migrations', undefined, '2.80')).status, 403);
  });

  it('2.23 server migrations: an empty list from 2.23 (404 for an unknown server), no resource at 2.22', async () => {
    const id = await activeServer(h, h.member);
    const now = await call(h, h.admin, 'GET', `/v2.1/servers/${id}/migrations`, undefined, '2.23');
    assert.equal(now.status, 200);
    assert.deepEqual(now.body, { migrations: [] });
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/servers/0b7c0c3c-6d0f-4a9e-9e43-000000000002/migrations', undefined, '2.23')).status, 404);
    assert.equal((await call(h, h.admin, 'GET', `/v2.1/servers/${id}/migrations/7`, undefined, '2.23')).status, 404);
    assert.equal((await call(h, h.admin, 'GET', `/v2.1/servers/${id}/migrations`, undefined, '2.22')).status, 404);
  });

  it('2.68 evacuate and os-migrateLive: `force` refused from 2.68, accepted at 2.67; nothing moves or changes', async () => {
    const id = await activeServer(h, h.member);
    const before = await instanceRow(h, id);
    const forced = await act(id, { evacuate: { force: true } }, '2.68');
    assert.equal(forced.status, 400);
    assert.match(forced.body.badRequest.message, /force/);
    // 2.67: force is part of the body; the source's compute service is up, so Nova refuses.
    const inUse = await act(id, { evacuate: { force: true } }, '2.67');
    assert.equal(inUse.status, 400);
    assert.equal(inUse.body.badRequest.message, `Compute service of ${h.node.host} is still in use.`);
    assert.equal((await act(id, { evacuate: {} }, '2.68')).body.badRequest.message, `Compute service of ${h.node.host} is still in use.`);
    assert.equal((await act(id, { evacuate: { host: 'nowhere' } }, '2.68')).status, 404);
    // Below 2.14 onSharedStorage is required.
    assert.equal((await act(id, { evacuate: {} }, '2.13')).status, 400);

    const liveForced = await act(id, { 'os-migrateLive': { host: null, block_migration: 'auto', force: false } }, '2.68');
    assert.equal(liveForced.status, 400);
    assert.match(liveForced.body.badRequest.message, /force/);
    // 2.67 takes `force`: past the schema, the harness node (no COMPUTE_LIVE_MIGRATION) refuses the move.
    // The moves themselves: moves-actions.test.ts.
    const live = await act(id, { 'os-migrateLive': { host: null, block_migration: 'auto', force: false } }, '2.67');
    assert.equal(live.status, 409);
    assert.match(live.body.conflictingRequest.message, /does not support it/);
    assert.equal((await act(id, { 'os-migrateLive': { host: null, block_migration: 'auto' } }, '2.68')).status, 409);
    // 2.25 dropped disk_over_commit; below it it is required.
    assert.equal((await act(id, { 'os-migrateLive': { host: null, block_migration: false } }, '2.24')).status, 400);
    assert.equal((await act(id, { 'os-migrateLive': { host: null, block_migration: false, disk_over_commit: false } }, '2.24')).status, 409);

    assert.deepEqual(await instanceRow(h, id), before);
    const actions = await call(h, h.admin, 'GET', `/v2.1/servers/${id}/os-instance-actions`);
    assert.ok(!actions.body.instanceActions.some((a: { action: string }) => /evacuate|migrat/i.test(a.action)));
    // Members may not move servers at all.
    assert.equal((await call(h, h.member, 'POST', `/v2.1/servers/${id}/action`, { evacuate: {} }, '2.68')).status, 403);

    // Down source: the evacuation starts (200, no body from 2.14; test/api-servers/shelve-evacuate-api.test.ts has the rest).
    await h.db.updateTable('services').set({ forced_down: 1 }).where('host', '=', h.node.host).execute();
    try {
      const down = await act(id, { evacuate: {} }, '2.68');
      assert.equal(down.status, 200, JSON.stringify(down.body));
      assert.equal((await instanceRow(h, id)).task_state, 'rebuilding');
    } finally {
      await h.db.updateTable('services').set({ forced_down: 0 }).where('host', '=', h.node.host).execute();
    }
  });

  it('2.69 partial records for down cells: none at 2.69 (no cells), the same whole records as at 2.68', async () => {
    const id = await activeServer(h, h.member);
    for (const path of ['/v2.1/servers', '/v2.1/servers/detail', `/v2.1/servers/${id}`]) {
      const old = await call(h, h.member, 'GET', path, undefined, '2.68');
      const now = await call(h, h.member, 'GET', path, undefined, '2.69');
      assert.equal(old.status, 200);
      assert.equal(now.status, 200);
      const records = (b: { servers?: Array<Record<string, unknown>>; server?: Record<string, unknown> }) => b.servers ?? [b.server!];
      const oldOne = records(old.body).find((s) => s.id === id)!;
      const nowOne = records(now.body).find((s) => s.id === id)!;
      assert.deepEqual(Object.keys(nowOne).sort(), Object.keys(oldOne).sort(), path);
      if (path !== '/v2.1/servers') {
        // A partial (down-cell) record has status UNKNOWN and lacks these.
        assert.notEqual(nowOne.status, 'UNKNOWN');
        for (const k of ['name', 'flavor', 'image', 'metadata', 'addresses', 'links']) assert.ok(k in nowOne, `${path} ${k}`);
      }
    }
  });

  const vol = '0b7c0c3c-6d0f-4a9e-9e43-0000000000aa';
  const attach = (id: string, attachment: Record<string, unknown>, mv: string) => call(h, h.member, 'POST', `/v2.1/servers/${id}/os-volume_attachments`, { volumeAttachment: attachment }, mv);

  it('2.79 volume attach: delete_on_termination from 2.79, refused at 2.78; no volume exists (404)', async () => {
    const id = await activeServer(h, h.member);
    const now = await attach(id, { volumeId: vol, delete_on_termination: true }, '2.79');
    assert.equal(now.status, 404);
    assert.equal(now.body.itemNotFound.message, `Volume ${vol} could not be found.`);
    const old = await attach(id, { volumeId: vol, delete_on_termination: true }, '2.78');
    assert.equal(old.status, 400);
    assert.match(old.body.badRequest.message, /delete_on_termination/);
    assert.equal((await attach(id, { volumeId: vol }, '2.78')).status, 404);
    assert.equal((await attach(id, { volumeId: vol, delete_on_termination: 'maybe' }, '2.79')).status, 400);
    assert.equal((await attach(id, { volumeId: 'not-a-uuid' }, '2.79')).status, 400);

    const list = await call(h, h.member, 'GET', `/v2.1/servers/${id}/os-volume_attachments`, undefined, '2.79');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body, { volumeAttachments: [] });
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers/${id}/os-volume_attachments/${vol}`, undefined, '2.79')).status, 404);
    const detach = await call(h, h.member, 'DELETE', `/v2.1/servers/${id}/os-volume_attachments/${vol}`, undefined, '2.79');
    assert.equal(detach.status, 404);
    assert.equal(detach.body.itemNotFound.message, `Volume ${vol} could not be found.`);
    assert.equal((await call(h, h.other, 'GET', `/v2.1/servers/${id}/os-volume_attachments`, undefined, '2.79')).status, 404);
  });

  it('2.75 volume attachments list: unknown query parameters refused from 2.75, ignored at 2.74', async () => {
    const id = await activeServer(h, h.member);
    const list = (q: string, mv: string) => call(h, h.member, 'GET', `/v2.1/servers/${id}/os-volume_attachments${q}`, undefined, mv);
    assert.equal((await list('?bogus=1', '2.75')).status, 400);
    assert.equal((await list('?bogus=1', '2.74')).status, 200);
    assert.equal((await list('?limit=2&offset=1', '2.75')).status, 200);
    assert.equal((await list('?offset=-1', '2.75')).status, 400);
  });

  it('2.49 volume attach: a device tag from 2.49, refused at 2.48', async () => {
    const id = await activeServer(h, h.member);
    assert.equal((await attach(id, { volumeId: vol, tag: 'db' }, '2.49')).status, 404);
    const old = await attach(id, { volumeId: vol, tag: 'db' }, '2.48');
    assert.equal(old.status, 400);
    assert.match(old.body.badRequest.message, /tag/);
  });
});
