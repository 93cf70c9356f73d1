import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Insertable } from 'kysely';
import { newUuid } from '../../src/common/ids.js';
import type { InstanceTable } from '../../src/db/schema.js';
import type { Session } from '../support/http.js';
import { call, startHarness, type Harness } from './harness.js';

/** Inserts an instance row as the API and a build would leave it; `i` orders creation times. */
async function insertRow(h: Harness, who: Session, i: number, over: Partial<Insertable<InstanceTable>> = {}): Promise<string> {
  const uuid = newUuid();
  const ts = new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString();
  await h.db.insertInto('instances').values({
    uuid, display_name: `srv-${String(i).padStart(4, '0')}`, display_description: null, project_id: who.projectId, user_id: who.userId,
    image_ref: h.images.active, flavor: '{}', flavor_id: '1', vcpus: 1, memory_mb: 512, root_gb: 1, ephemeral_gb: 0,
    vm_state: 'active', task_state: null, power_state: 1, host: h.node.host, node: h.node.name, node_uuid: h.node.uuid,
    availability_zone: 'nova', key_name: null, key_data: null, user_data: null, hostname: `srv-${i}`, reservation_id: 'r-list0000',
    launch_index: 0, locked: 0, locked_by: null, config_drive: '', access_ip_v4: null, access_ip_v6: null, progress: 0,
    image_meta: '{}', tags: '[]', launched_at: ts, terminated_at: null, created_at: ts, updated_at: ts, deleted_at: null, deleted: 0,
    ...over,
  }).execute();
  return uuid;
}

const ids = (r: { body: { servers: Array<{ id: string }> } }): string[] => r.body.servers.map((s) => s.id);
const names = (r: { body: { servers: Array<{ name: string }> } }): string[] => r.body.servers.map((s) => s.name);

describe('GET /servers and /servers/detail', () => {
  let h: Harness;
  const mine: string[] = [];
  let theirs: string;
  before(async () => {
    h = await startHarness();
    for (let i = 0; i < 5; i++) mine.push(await insertRow(h, h.member, i));
    theirs = await insertRow(h, h.other, 10, { display_name: 'beta-box' });
  });
  after(async () => h.close());

  it('lists the caller\'s project only, newest first, with links; detail has the full view', async () => {
    const list = await call(h, h.member, 'GET', '/v2.1/servers');
    assert.equal(list.status, 200);
    assert.deepEqual(ids(list), [...mine].reverse());
    assert.deepEqual(Object.keys(list.body.servers[0]).sort(), ['id', 'links', 'name']);
    assert.ok(!('servers_links' in list.body));
    const detail = await call(h, h.member, 'GET', '/v2.1/servers/detail');
    assert.deepEqual(ids(detail), [...mine].reverse());
    const s = detail.body.servers[0];
    assert.equal(s.status, 'ACTIVE');
    assert.equal(s.tenant_id, h.member.projectId);
    assert.equal(s.flavor.id, '1');
    assert.deepEqual(s.flavor.links, [{ rel: 'bookmark', href: `${h.url}/flavors/1` }]);
    assert.equal(s.image.id, h.images.active);
    assert.equal(s.created, '2030-01-01T00:00:04Z');
    assert.match(s.hostId, /^[0-9a-f]{56}$/);
    assert.equal(s['OS-SRV-USG:launched_at'], '2030-01-01T00:00:04.000000');
    assert.ok(!('OS-EXT-SRV-ATTR:host' in s));
    // links follow the URL form of the request
    const withProject = await call(h, h.member, 'GET', `/v2.1/${h.member.projectId}/servers`);
    assert.equal(withProject.body.servers[0].links[0].href, `${h.url}/v2.1/${h.member.projectId}/servers/${mine[4]}`);
  });

  it('lets only admins list all projects, and filter them by project', async () => {
    const denied = await call(h, h.member, 'GET', '/v2.1/servers?all_tenants=1');
    assert.equal(denied.status, 403);
    assert.match(denied.body.forbidden.message, /index:get_all_tenants/);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers/detail?all_tenants')).status, 403);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?all_tenants=maybe')).status, 400);
    // without all_tenants, a member's project_id filter is ignored
    assert.deepEqual(ids(await call(h, h.member, 'GET', `/v2.1/servers?project_id=${h.other.projectId}`)).length, 5);

    const all = await call(h, h.admin, 'GET', '/v2.1/servers?all_tenants=1');
    assert.equal(all.body.servers.length, 6);
    assert.deepEqual(ids(await call(h, h.admin, 'GET', `/v2.1/servers?all_tenants=true&tenant_id=${h.other.projectId}`)), [theirs]);
    assert.deepEqual(ids(await call(h, h.admin, 'GET', '/v2.1/servers')), [], 'the admin project has none');
    assert.equal((await call(h, h.other, 'GET', `/v2.1/servers/${mine[0]}`)).status, 404);
  });

  it('pages with limit and marker and gives a next link that keeps the query', async () => {
    const p1 = await call(h, h.member, 'GET', '/v2.1/servers?limit=2&name=srv');
    assert.deepEqual(ids(p1), [mine[4], mine[3]]);
    const next = new URL(p1.body.servers_links[0].href);
    assert.equal(p1.body.servers_links[0].rel, 'next');
    assert.equal(next.pathname, '/v2.1/servers');
    assert.equal(next.searchParams.get('marker'), mine[3]);
    assert.equal(next.searchParams.get('name'), 'srv');
    const p2 = await call(h, h.member, 'GET', `${next.pathname}${next.search}`);
    assert.deepEqual(ids(p2), [mine[2], mine[1]]);
    const p3 = await call(h, h.member, 'GET', `/v2.1/servers/detail?limit=2&marker=${mine[1]}`);
    assert.deepEqual(ids(p3), [mine[0]]);
    assert.ok(!('servers_links' in p3.body));
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers/detail?limit=2`)).body.servers_links[0].href.includes('/servers/detail?'), true);

    const badMarker = await call(h, h.member, 'GET', `/v2.1/servers?marker=${newUuid()}`);
    assert.equal(badMarker.status, 400);
    assert.match(badMarker.body.badRequest.message, /^marker \[.*\] not found$/);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?limit=-1')).status, 400);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?limit=abc')).status, 400);
    assert.deepEqual(ids(await call(h, h.member, 'GET', '/v2.1/servers?limit=0')), []);
  });

  it('sorts by several keys and directions, ignores the keys Nova ignores, and refuses unknown ones', async () => {
    await h.db.updateTable('instances').set({ display_name: 'same' }).where('uuid', 'in', [mine[1]!, mine[2]!]).execute();
    const byName = await call(h, h.member, 'GET', '/v2.1/servers?sort_key=display_name&sort_dir=asc&sort_key=created_at&sort_dir=desc');
    assert.deepEqual(ids(byName), [mine[2], mine[1], mine[0], mine[3], mine[4]]);
    // one direction for all keys when fewer are given
    const desc = await call(h, h.member, 'GET', '/v2.1/servers?sort_key=display_name&sort_key=created_at');
    assert.deepEqual(ids(desc), [mine[4], mine[3], mine[0], mine[2], mine[1]]);
    // pagination follows a multi-key order
    const p1 = await call(h, h.member, 'GET', '/v2.1/servers?sort_key=display_name&sort_dir=asc&limit=3');
    const p2 = await call(h, h.member, 'GET', `/v2.1/servers?sort_key=display_name&sort_dir=asc&limit=3&marker=${ids(p1)[2]}`);
    assert.deepEqual([...ids(p1), ...ids(p2)], [mine[1], mine[2], mine[0], mine[3], mine[4]]);
    // ignored key (and its direction) drops out; unknown keys and directions are 400
    assert.deepEqual(ids(await call(h, h.member, 'GET', '/v2.1/servers?sort_key=vcpus&sort_dir=asc')), [mine[0], mine[1], mine[2], mine[3], mine[4]]);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?sort_key=bogus')).status, 400);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?sort_dir=sideways')).status, 400);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?sort_key=host')).status, 403);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/servers?all_tenants=1&sort_key=host')).status, 200);
    await h.db.updateTable('instances').set({ display_name: 'srv-0001' }).where('uuid', '=', mine[1]!).execute();
    await h.db.updateTable('instances').set({ display_name: 'srv-0002' }).where('uuid', '=', mine[2]!).execute();
  });

  it('filters by name, status, image, flavor, changes-since, and admins by host and deleted', async () => {
    assert.deepEqual(names(await call(h, h.member, 'GET', '/v2.1/servers?name=0003')), ['srv-0003']);
    assert.deepEqual(names(await call(h, h.member, 'GET', '/v2.1/servers?name=^srv-000&limit=1')), ['srv-0004']);
    assert.deepEqual(names(await call(h, h.member, 'GET', '/v2.1/servers?name=0$')), ['srv-0000']);

    await h.db.updateTable('instances').set({ vm_state: 'stopped', power_state: 4 }).where('uuid', '=', mine[0]!).execute();
    await h.db.updateTable('instances').set({ task_state: 'rebooting' }).where('uuid', '=', mine[1]!).execute();
    assert.deepEqual(ids(await call(h, h.member, 'GET', '/v2.1/servers?status=SHUTOFF')), [mine[0]]);
    assert.deepEqual(ids(await call(h, h.member, 'GET', '/v2.1/servers?status=REBOOT')), [mine[1]]);
    // ACTIVE selects the vm_state, whatever the task (Nova's 'default' rule)
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?status=active')).body.servers.length, 4);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?status=ACTIVE&status=SHUTOFF')).body.servers.length, 5);
    assert.deepEqual(ids(await call(h, h.member, 'GET', '/v2.1/servers?status=NOSUCH')), []);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?status=DELETED')).status, 403);
    await h.db.updateTable('instances').set({ vm_state: 'active', power_state: 1, task_state: null }).where('uuid', 'in', [mine[0]!, mine[1]!]).execute();

    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers?image=${h.images.active}`)).body.servers.length, 5);
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers?image=${h.images.big}`)).body.servers.length, 0);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?flavor=1')).body.servers.length, 5);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?flavor=2')).body.servers.length, 0);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?ip=10.0.0.1')).body.servers.length, 0);

    // a member's admin-only filters are ignored; an admin's apply
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?host=elsewhere')).body.servers.length, 5);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/servers?all_tenants=1&host=elsewhere')).body.servers.length, 0);
    assert.equal((await call(h, h.admin, 'GET', `/v2.1/servers?all_tenants=1&host=${h.node.host}`)).body.servers.length, 6);

    // deleted servers: only admins ask for them; changes-since includes them
    const gone = await insertRow(h, h.member, 20, { deleted: 999999, vm_state: 'deleted', deleted_at: '2030-01-02T00:00:00.000Z', updated_at: '2030-01-02T00:00:00.000Z' });
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?deleted=true')).body.servers.length, 5);
    assert.deepEqual(ids(await call(h, h.admin, 'GET', `/v2.1/servers?all_tenants=1&deleted=true`)), [gone]);
    assert.deepEqual(ids(await call(h, h.admin, 'GET', `/v2.1/servers?all_tenants=1&status=deleted`)), [gone]);
    const since = await call(h, h.member, 'GET', '/v2.1/servers/detail?changes-since=2030-01-01T12:00:00Z');
    assert.deepEqual(ids(since), [gone]);
    assert.equal(since.body.servers[0].status, 'DELETED');
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?changes-since=2030-01-01T00:00:03Z')).body.servers.length, 3);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?changes-since=yesterday')).status, 400);
  });

  it('filters by tags from 2.26 on (tags, tags-any, not-tags, not-tags-any)', async () => {
    await h.db.updateTable('instances').set({ tags: JSON.stringify(['web', 'prod']) }).where('uuid', '=', mine[0]!).execute();
    await h.db.updateTable('instances').set({ tags: JSON.stringify(['web']) }).where('uuid', '=', mine[1]!).execute();
    await h.db.updateTable('instances').set({ tags: JSON.stringify(['db', 'prod']) }).where('uuid', '=', mine[2]!).execute();
    const q = async (query: string): Promise<string[]> => ids(await call(h, h.member, 'GET', `/v2.1/servers?${query}`, undefined, '2.26')).sort();
    assert.deepEqual(await q('tags=web,prod'), [mine[0]].sort());
    assert.deepEqual(await q('tags-any=web,db'), [mine[0], mine[1], mine[2]].sort());
    assert.deepEqual(await q('not-tags=web,prod'), [mine[1], mine[2], mine[3], mine[4]].sort());
    assert.deepEqual(await q('not-tags-any=prod'), [mine[1], mine[3], mine[4]].sort());
    // unknown before 2.26: ignored
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?tags=web', undefined, '2.25')).body.servers.length, 5);
    const detail = await call(h, h.member, 'GET', '/v2.1/servers/detail?tags=web', undefined, '2.26');
    assert.deepEqual(detail.body.servers.map((s: { tags: string[] }) => s.tags).sort(), [['web'], ['web', 'prod']]);
  });
});

describe('GET /servers/detail at scale', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h.close());

  it('answers 1000 servers in one page (the default limit), with metadata and faults batch-loaded', async () => {
    const rows: Array<Insertable<InstanceTable>> = [];
    for (let i = 0; i < 1001; i++) {
      const ts = new Date(Date.UTC(2030, 0, 1, 0, 0, 0, i)).toISOString();
      rows.push({
        uuid: newUuid(), display_name: `bulk-${i}`, display_description: null, project_id: h.member.projectId, user_id: h.member.userId,
        image_ref: h.images.active, flavor: '{}', flavor_id: '1', vcpus: 1, memory_mb: 512, root_gb: 1, ephemeral_gb: 0,
        vm_state: i % 100 === 0 ? 'error' : 'active', task_state: null, power_state: 1, host: h.node.host, node: h.node.name,
        node_uuid: h.node.uuid, availability_zone: 'nova', key_name: null, key_data: null, user_data: null, hostname: `bulk-${i}`,
        reservation_id: 'r-bulk0000', launch_index: i, locked: 0, locked_by: null, config_drive: '', access_ip_v4: null, access_ip_v6: null,
        progress: 0, image_meta: '{}', tags: '[]', launched_at: ts, terminated_at: null, created_at: ts, updated_at: ts, deleted_at: null, deleted: 0,
      });
    }
    for (let i = 0; i < rows.length; i += 100) await h.db.insertInto('instances').values(rows.slice(i, i + 100)).execute();
    await h.db.insertInto('instance_metadata').values(rows.map((r) => ({ instance_uuid: r.uuid, key: 'n', value: r.display_name }))).execute();
    await h.db.insertInto('instance_faults').values(rows.filter((r) => r.vm_state === 'error').map((r) => ({
      instance_uuid: r.uuid, code: 500, message: 'NoValidHost', details: 'trace', host: null, created_at: r.created_at,
    }))).execute();

    const res = await call(h, h.member, 'GET', '/v2.1/servers/detail');
    assert.equal(res.status, 200);
    assert.equal(res.body.servers.length, 1000);
    assert.equal(res.body.servers_links[0].rel, 'next');
    const byName = new Map(res.body.servers.map((s: { name: string }) => [s.name, s]));
    const errored = byName.get('bulk-100') as { status: string; fault: Record<string, unknown>; metadata: Record<string, string> };
    assert.equal(errored.status, 'ERROR');
    assert.deepEqual(errored.fault, { code: 500, created: '2030-01-01T00:00:00Z', message: 'NoValidHost' }, 'details of 500s are for admins');
    assert.deepEqual(errored.metadata, { n: 'bulk-100' });
    const rest = await call(h, h.member, 'GET', new URL(res.body.servers_links[0].href).pathname + new URL(res.body.servers_links[0].href).search);
    assert.deepEqual(names(rest), ['bulk-0']);
  });
});
