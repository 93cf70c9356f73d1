import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { finishEvent, startEvent } from '../../src/db/instance-actions.js';
import { setProjectLimits } from '../../src/db/quotas.js';
import { activeServer, call, createServer, instanceRow, startHarness, type Harness } from './harness.js';

describe('server metadata', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h.close());

  it('reads, merges, replaces, sets and deletes items with Nova\'s shapes', async () => {
    const id = await activeServer(h, h.member, { metadata: { a: '1' } });
    const base = `/v2.1/servers/${id}/metadata`;
    assert.deepEqual((await call(h, h.member, 'GET', base)).body, { metadata: { a: '1' } });

    const merged = await call(h, h.member, 'POST', base, { metadata: { b: '2' } });
    assert.equal(merged.status, 200);
    assert.deepEqual(merged.body, { metadata: { a: '1', b: '2' } });

    const replaced = await call(h, h.member, 'PUT', base, { metadata: { c: '3' } });
    assert.equal(replaced.status, 200);
    assert.deepEqual(replaced.body, { metadata: { c: '3' } });

    const set = await call(h, h.member, 'PUT', `${base}/d`, { meta: { d: '4' } });
    assert.equal(set.status, 200);
    assert.deepEqual(set.body, { meta: { d: '4' } });
    assert.deepEqual((await call(h, h.member, 'GET', `${base}/d`)).body, { meta: { d: '4' } });

    const del = await call(h, h.member, 'DELETE', `${base}/c`);
    assert.equal(del.status, 204);
    assert.deepEqual((await call(h, h.member, 'GET', base)).body, { metadata: { d: '4' } });
    const missing = await call(h, h.member, 'GET', `${base}/c`);
    assert.deepEqual(missing.body, { itemNotFound: { code: 404, message: 'Metadata item was not found' } });
    assert.equal((await call(h, h.member, 'DELETE', `${base}/c`)).status, 404);
    // the server's view shows them
    assert.deepEqual((await call(h, h.member, 'GET', `/v2.1/servers/${id}`)).body.server.metadata, { d: '4' });
  });

  it('refuses bad bodies (400), too many items (403), and changes while locked or busy (409)', async () => {
    const id = await activeServer(h, h.member);
    const base = `/v2.1/servers/${id}/metadata`;
    const bad: Array<[string, string, unknown]> = [
      ['POST', base, {}],
      ['POST', base, { metadata: { '': 'x' } }],
      ['POST', base, { metadata: { k: 1 } }],
      ['PUT', base, { metadata: { ['k'.repeat(256)]: 'v' } }],
      ['PUT', `${base}/k`, { meta: { other: 'v' } }],
      ['PUT', `${base}/k`, { meta: { k: 'v', j: 'w' } }],
      ['PUT', `${base}/k`, { meta: {} }],
    ];
    for (const [method, path, body] of bad) {
      assert.equal((await call(h, h.member, method, path, body)).status, 400, `${method} ${JSON.stringify(body)}`);
    }
    assert.equal((await call(h, h.member, 'PUT', `${base}/k`, { meta: { other: 'v' } })).body.badRequest.message, 'Request body and URI mismatch');

    await setProjectLimits(h.db, h.member.projectId, { metadata_items: 2 });
    const over = await call(h, h.member, 'POST', base, { metadata: { a: '1', b: '2', c: '3' } });
    assert.equal(over.status, 403);
    assert.equal(over.body.forbidden.message, 'Maximum number of metadata items exceeds 2');
    assert.deepEqual((await call(h, h.member, 'GET', base)).body.metadata, {}, 'nothing half-written');

    await call(h, h.admin, 'POST', `/v2.1/servers/${id}/action`, { lock: null });
    const locked = await call(h, h.member, 'POST', base, { metadata: { a: '1' } });
    assert.equal(locked.status, 409);
    assert.equal((await call(h, h.member, 'GET', base)).status, 200, 'reading is fine');
    await call(h, h.admin, 'POST', `/v2.1/servers/${id}/action`, { unlock: null });

    const building = await createServer(h, h.member);
    const busy = await call(h, h.member, 'PUT', `/v2.1/servers/${building}/metadata/k`, { meta: { k: 'v' } });
    assert.equal(busy.status, 409);
    assert.equal(busy.body.conflictingRequest.message, `Cannot 'update metadata' instance ${building} while it is in vm_state building`);
    assert.equal((await call(h, h.other, 'GET', `/v2.1/servers/${id}/metadata`)).status, 404);
  });
});

describe('server tags (2.26)', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h.close());

  it('exist from 2.26 only', async () => {
    const id = await activeServer(h, h.member);
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers/${id}/tags`, undefined, '2.25')).status, 404);
    assert.deepEqual((await call(h, h.member, 'GET', `/v2.1/servers/${id}/tags`, undefined, '2.26')).body, { tags: [] });
  });

  it('sets, adds, checks and removes tags', async () => {
    const id = await activeServer(h, h.member);
    const base = `/v2.1/servers/${id}/tags`;
    const put = await call(h, h.member, 'PUT', base, { tags: ['a', 'b', 'a'] }, '2.26');
    assert.equal(put.status, 200);
    assert.deepEqual(put.body, { tags: ['a', 'b'] });
    const added = await call(h, h.member, 'PUT', `${base}/c`, undefined, '2.26');
    assert.equal(added.status, 201);
    assert.equal(added.headers.get('location'), `${h.url}/v2.1/servers/${id}/tags/c`);
    assert.equal((await call(h, h.member, 'PUT', `${base}/c`, undefined, '2.26')).status, 204);
    assert.equal((await call(h, h.member, 'GET', `${base}/c`, undefined, '2.26')).status, 204);
    assert.equal((await call(h, h.member, 'GET', `${base}/zz`, undefined, '2.26')).status, 404);
    assert.equal((await call(h, h.member, 'DELETE', `${base}/a`, undefined, '2.26')).status, 204);
    assert.equal((await call(h, h.member, 'DELETE', `${base}/a`, undefined, '2.26')).status, 404);
    assert.deepEqual((await call(h, h.member, 'GET', `/v2.1/servers/${id}`, undefined, '2.26')).body.server.tags, ['b', 'c']);
    assert.equal((await call(h, h.member, 'DELETE', base, undefined, '2.26')).status, 204);
    assert.deepEqual(JSON.parse((await instanceRow(h, id)).tags), []);

    assert.equal((await call(h, h.member, 'PUT', base, { tags: ['a,b'] }, '2.26')).status, 400);
    assert.equal((await call(h, h.member, 'PUT', base, { tags: Array.from({ length: 51 }, (_, i) => `t${i}`) }, '2.26')).status, 400);
    await call(h, h.member, 'PUT', base, { tags: Array.from({ length: 50 }, (_, i) => `t${i}`) }, '2.26');
    const full = await call(h, h.member, 'PUT', `${base}/one-more`, undefined, '2.26');
    assert.equal(full.status, 400);
    assert.equal(full.body.badRequest.message, 'The number of tags exceeded the per-server limit 50');
    const building = await createServer(h, h.member);
    assert.equal((await call(h, h.member, 'PUT', `/v2.1/servers/${building}/tags/x`, undefined, '2.26')).status, 409);
  });
});

describe('os-instance-actions', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h.close());

  it('lists a server\'s actions newest first and shows one with its events (admins only see events)', async () => {
    const id = await activeServer(h, h.member);
    const stop = await call(h, h.member, 'POST', `/v2.1/servers/${id}/action`, { 'os-stop': null });
    const requestId = stop.headers.get('x-openstack-request-id')!;
    await startEvent(h.db, id, requestId, 'compute_stop_instance', h.node.host);
    await finishEvent(h.db, id, requestId, 'compute_stop_instance', 'Error', 'Traceback (most recent call last): boom', null);

    const list = await call(h, h.member, 'GET', `/v2.1/servers/${id}/os-instance-actions`);
    assert.equal(list.status, 200);
    const actions = list.body.instanceActions;
    assert.deepEqual(actions.map((a: { action: string }) => a.action), ['stop', 'create']);
    assert.deepEqual(Object.keys(actions[0]).sort(), ['action', 'instance_uuid', 'message', 'project_id', 'request_id', 'start_time', 'user_id']);
    assert.match(actions[0].start_time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$/);
    assert.equal(actions[0].message, 'Error');
    assert.equal(actions[0].user_id, h.member.userId);

    const member = await call(h, h.member, 'GET', `/v2.1/servers/${id}/os-instance-actions/${requestId}`);
    assert.equal(member.status, 200);
    assert.equal(member.body.instanceAction.action, 'stop');
    assert.ok(!('events' in member.body.instanceAction), 'events are for admins up to 2.50');
    const admin = await call(h, h.admin, 'GET', `/v2.1/servers/${id}/os-instance-actions/${requestId}`);
    const [event] = admin.body.instanceAction.events;
    assert.equal(event.event, 'compute_stop_instance');
    assert.equal(event.result, 'Error');
    assert.match(event.traceback, /boom/);
    assert.match(event.finish_time, /\.\d{6}$/);

    const missing = await call(h, h.member, 'GET', `/v2.1/servers/${id}/os-instance-actions/req-nope`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.itemNotFound.message, 'Action req-nope not found');
    assert.equal((await call(h, h.other, 'GET', `/v2.1/servers/${id}/os-instance-actions`)).status, 404);
  });
});
