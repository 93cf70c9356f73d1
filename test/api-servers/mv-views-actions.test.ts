import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createKeyPair } from '../../src/db/keypairs.js';
import { finishEvent, startEvent } from '../../src/db/instance-actions.js';
import { activeServer, call, instanceRow, placeOnNode, startHarness, type Harness } from './harness.js';
import type { Session } from '../support/http.js';

/** Server views, update, actions and sub-resources from 2.45 to 2.93, each against the version below. */
describe('server views and actions microversions', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ quota: { instances: '100', cores: '200', ram: '1000000' } });
    await createKeyPair(h.db, { userId: h.member.userId, name: 'k2', publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7x4 me', type: 'ssh', fingerprint: 'bb' }, -1);
  });
  after(async () => h.close());

  const show = async (id: string, mv: string, who: Session = h.member) => (await call(h, who, 'GET', `/v2.1/servers/${id}`, undefined, mv)).body.server;
  const act = (id: string, body: unknown, mv: string, who: Session = h.member) => call(h, who, 'POST', `/v2.1/servers/${id}/action`, body, mv);

  it('2.45 createImage: the image id in the body from 2.45, a Location header at 2.44', async () => {
    const id = await activeServer(h, h.member);
    const old = await act(id, { createImage: { name: 'snap-a' } }, '2.44');
    assert.equal(old.status, 202);
    assert.match(old.headers.get('location') ?? '', /\/images\/[0-9a-f-]{36}$/);
    await h.db.updateTable('instances').set({ task_state: null }).where('uuid', '=', id).execute();
    const now = await act(id, { createImage: { name: 'snap-b' } }, '2.45');
    assert.equal(now.status, 202);
    assert.equal(now.headers.get('location'), null);
    assert.match(now.body.image_id, /^[0-9a-f-]{36}$/);
  });

  it('2.47 embedded flavor: details from 2.47, id and links at 2.46', async () => {
    const id = await activeServer(h, h.member);
    const old = await show(id, '2.46');
    assert.equal(old.flavor.id, '1');
    assert.ok(Array.isArray(old.flavor.links));
    const now = await show(id, '2.47');
    assert.deepEqual(now.flavor, { vcpus: 1, ram: 512, disk: 1, ephemeral: 0, swap: 0, original_name: 'm1.tiny', extra_specs: {} });
  });

  it('2.48 diagnostics: the standard shape from 2.48, the driver blob below', async () => {
    const id = await activeServer(h, h.member);
    const now = await call(h, h.admin, 'GET', `/v2.1/servers/${id}/diagnostics`, undefined, '2.48');
    assert.equal(now.status, 200);
    for (const k of ['state', 'driver', 'hypervisor', 'hypervisor_os', 'uptime', 'config_drive', 'num_cpus', 'num_nics', 'num_disks', 'memory_details', 'cpu_details', 'nic_details', 'disk_details']) {
      assert.ok(k in now.body, k);
    }
    const old = await call(h, h.admin, 'GET', `/v2.1/servers/${id}/diagnostics`, undefined, '2.47');
    assert.equal(old.status, 200);
    assert.ok(!('cpu_details' in (old.body ?? {})));
  });

  it('2.51/2.62/2.84 instance action events: members see events from 2.51; hostId from 2.62; details for admins from 2.84', async () => {
    const id = await activeServer(h, h.member);
    assert.equal((await act(id, { 'os-stop': null }, '2.1')).status, 202);
    const list = await call(h, h.member, 'GET', `/v2.1/servers/${id}/os-instance-actions`);
    const requestId = list.body.instanceActions[0].request_id as string;
    await startEvent(h.db, id, requestId, 'compute_stop_instance', h.node.host);
    await finishEvent(h.db, id, requestId, 'compute_stop_instance', 'Success', null, null);
    const one = (mv: string, who: Session = h.member) => call(h, who, 'GET', `/v2.1/servers/${id}/os-instance-actions/${requestId}`, undefined, mv);
    assert.ok(!('events' in (await one('2.50')).body.instanceAction));
    const at251 = (await one('2.51')).body.instanceAction;
    assert.equal(at251.events.length, 1);
    assert.ok(!('traceback' in at251.events[0]));
    assert.ok(!('hostId' in at251.events[0]));
    const at262 = (await one('2.62')).body.instanceAction.events[0];
    assert.match(at262.hostId, /^[0-9a-f]{56}$/);
    assert.ok(!('host' in at262), 'the host is for admins');
    assert.equal((await one('2.62', h.admin)).body.instanceAction.events[0].host, h.node.host);
    assert.ok(!('details' in (await one('2.83', h.admin)).body.instanceAction.events[0]));
    assert.ok('details' in (await one('2.84', h.admin)).body.instanceAction.events[0]);
  });

  it('2.58/2.66 instance action paging and changes-since/-before; below 2.58 the list takes no parameters', async () => {
    const id = await activeServer(h, h.member);
    await act(id, { lock: null }, '2.1');
    await act(id, { unlock: null }, '2.1');
    const url = `/v2.1/servers/${id}/os-instance-actions`;
    const p1 = await call(h, h.member, 'GET', `${url}?limit=1`, undefined, '2.58');
    assert.equal(p1.body.instanceActions.length, 1);
    assert.ok(p1.body.instanceActions[0].updated_at);
    assert.equal(p1.body.links[0].rel, 'next');
    const p2 = await call(h, h.member, 'GET', `${url}?limit=5&marker=${p1.body.instanceActions[0].request_id}`, undefined, '2.58');
    assert.ok(p2.body.instanceActions.length >= 2);
    assert.equal((await call(h, h.member, 'GET', `${url}?marker=nope`, undefined, '2.58')).status, 400);
    assert.equal((await call(h, h.member, 'GET', `${url}?bogus=1`, undefined, '2.58')).status, 400);
    const old = await call(h, h.member, 'GET', `${url}?limit=1`, undefined, '2.57');
    assert.ok(old.body.instanceActions.length >= 3, 'limit ignored before 2.58');
    assert.ok(!('updated_at' in old.body.instanceActions[0]));
    assert.equal((await call(h, h.member, 'GET', `${url}?changes-before=2000-01-01T00:00:00Z`, undefined, '2.65')).status, 400);
    const before = await call(h, h.member, 'GET', `${url}?changes-before=2000-01-01T00:00:00Z`, undefined, '2.66');
    assert.deepEqual(before.body.instanceActions, []);
  });

  it('2.54 key_name and 2.57 user_data on rebuild; 2.57 refuses personality', async () => {
    const id = await activeServer(h, h.member);
    const img = { imageRef: h.images.active };
    const refusedKey = await act(id, { rebuild: { ...img, key_name: 'k2' } }, '2.53');
    assert.equal(refusedKey.status, 400);
    const rebuilt = await act(id, { rebuild: { ...img, key_name: 'k2' } }, '2.54');
    assert.equal(rebuilt.status, 202);
    assert.equal(rebuilt.body.server.key_name, 'k2');
    assert.equal((await instanceRow(h, id)).key_name, 'k2');
    await placeOnNode(h, id);
    assert.equal((await act(id, { rebuild: { ...img, key_name: 'missing' } }, '2.54')).status, 400);

    assert.equal((await act(id, { rebuild: { ...img, user_data: 'aGk=' } }, '2.56')).status, 400);
    const ud = await act(id, { rebuild: { ...img, user_data: 'aGk=' } }, '2.57');
    assert.equal(ud.status, 202);
    assert.equal(ud.body.server.user_data, 'aGk=');
    await placeOnNode(h, id);
    const personality = [{ path: '/a', contents: 'aGk=' }];
    assert.match((await act(id, { rebuild: { ...img, personality } }, '2.57')).body.badRequest.message, /'personality' was unexpected/);
  });

  it('2.63 trusted_image_certificates: null in views from 2.63, absent at 2.62; refused on rebuild as unavailable', async () => {
    const id = await activeServer(h, h.member);
    assert.ok(!('trusted_image_certificates' in (await show(id, '2.62'))));
    assert.equal((await show(id, '2.63')).trusted_image_certificates, null);
    assert.equal((await act(id, { rebuild: { imageRef: h.images.active, trusted_image_certificates: ['c'] } }, '2.62')).status, 400);
    const at263 = await act(id, { rebuild: { imageRef: h.images.active, trusted_image_certificates: ['c'] } }, '2.63');
    assert.match(at263.body.badRequest.message, /certificate validation is not available/);
  });

  it('2.71 server_groups: in show, update and rebuild from 2.71 (not in lists), absent at 2.70', async () => {
    const id = await activeServer(h, h.member);
    assert.ok(!('server_groups' in (await show(id, '2.70'))));
    assert.deepEqual((await show(id, '2.71')).server_groups, []);
    assert.deepEqual((await call(h, h.member, 'PUT', `/v2.1/servers/${id}`, { server: { name: 'g' } }, '2.71')).body.server.server_groups, []);
    const detail = await call(h, h.member, 'GET', '/v2.1/servers/detail', undefined, '2.71');
    assert.ok(detail.body.servers.every((s: Record<string, unknown>) => !('server_groups' in s)));
  });

  it('2.73 lock reason: kept and shown from 2.73; at 2.72 the body is not read and no reason shows', async () => {
    const id = await activeServer(h, h.member);
    assert.equal((await act(id, { lock: { locked_reason: 'maintenance' } }, '2.73')).status, 202);
    assert.equal((await show(id, '2.73')).locked_reason, 'maintenance');
    assert.ok(!('locked_reason' in (await show(id, '2.72'))));
    assert.equal((await act(id, { lock: { locked_reason: 'x'.repeat(256) } }, '2.73')).status, 400);
    assert.equal((await act(id, { unlock: null }, '2.73')).status, 202);
    assert.equal((await show(id, '2.73')).locked_reason, null);
    const other = await activeServer(h, h.member);
    assert.equal((await act(other, { lock: { locked_reason: 'ignored' } }, '2.72')).status, 202);
    assert.equal((await instanceRow(h, other)).locked_reason, null);
  });

  it('2.75 update and rebuild answer the whole server; at 2.74 the reduced view', async () => {
    const id = await activeServer(h, h.member);
    const put = (mv: string) => call(h, h.member, 'PUT', `/v2.1/servers/${id}`, { server: { name: 'n' } }, mv);
    assert.ok(!('OS-EXT-STS:vm_state' in (await put('2.74')).body.server));
    const full = (await put('2.75')).body.server;
    for (const k of ['OS-EXT-STS:vm_state', 'key_name', 'config_drive', 'OS-EXT-AZ:availability_zone']) assert.ok(k in full, k);
    const rebuilt = await act(id, { rebuild: { imageRef: h.images.active } }, '2.75');
    assert.ok('OS-EXT-STS:vm_state' in rebuilt.body.server);
    await placeOnNode(h, id);
    const reduced = await act(id, { rebuild: { imageRef: h.images.active } }, '2.74');
    assert.ok(!('OS-EXT-STS:vm_state' in reduced.body.server));
  });

  it('2.90 hostname: members see OS-EXT-SRV-ATTR:hostname and may set it on update and rebuild from 2.90', async () => {
    const id = await activeServer(h, h.member);
    assert.ok(!('OS-EXT-SRV-ATTR:hostname' in (await show(id, '2.89'))));
    assert.equal((await show(id, '2.90'))['OS-EXT-SRV-ATTR:hostname'], 'vm');
    assert.equal((await call(h, h.member, 'PUT', `/v2.1/servers/${id}`, { server: { hostname: 'db01' } }, '2.89')).status, 400);
    assert.equal((await call(h, h.member, 'PUT', `/v2.1/servers/${id}`, { server: { hostname: 'db01' } }, '2.90')).body.server['OS-EXT-SRV-ATTR:hostname'], 'db01');
    assert.equal((await act(id, { rebuild: { imageRef: h.images.active, hostname: 'db02' } }, '2.89')).status, 400);
    assert.equal((await act(id, { rebuild: { imageRef: h.images.active, hostname: 'db02' } }, '2.90')).status, 202);
    assert.equal((await instanceRow(h, id)).hostname, 'db02');
  });

  it('OS-DCF:diskConfig is kept on update and rebuild; accessIPv6 normalised on update', async () => {
    const id = await activeServer(h, h.member);
    const upd = await call(h, h.member, 'PUT', `/v2.1/servers/${id}`, { server: { 'OS-DCF:diskConfig': 'AUTO', accessIPv6: 'FE80:0:0::A' } });
    assert.equal(upd.body.server['OS-DCF:diskConfig'], 'AUTO');
    assert.equal(upd.body.server.accessIPv6, 'fe80::a');
    await act(id, { rebuild: { imageRef: h.images.active, 'OS-DCF:diskConfig': 'MANUAL' } }, '2.1');
    assert.equal((await show(id, '2.1'))['OS-DCF:diskConfig'], 'MANUAL');
  });

  it('2.93 rebuild: an image-backed server rebuilds at 2.93 as at 2.92 (no server here is volume-backed)', async () => {
    for (const mv of ['2.92', '2.93']) {
      const id = await activeServer(h, h.member);
      assert.equal((await act(id, { rebuild: { imageRef: h.images.active } }, mv)).status, 202, mv);
    }
  });

  it('rebuilding a SHUTOFF server is allowed and cast with its stopped state', async () => {
    const id = await activeServer(h, h.member);
    await placeOnNode(h, id, { vm_state: 'stopped', power_state: 4 });
    assert.equal((await act(id, { rebuild: { imageRef: h.images.active } }, '2.93')).status, 202);
    assert.equal((await instanceRow(h, id)).vm_state, 'stopped');
  });

  it('2.44 network proxy actions: 404 from 2.44; at 2.43 validated and answered as for a server without ports', async () => {
    const id = await activeServer(h, h.member);
    for (const body of [{ addFixedIp: { networkId: 'n1' } }, { removeFixedIp: { address: '10.0.0.1' } }, { addFloatingIp: { address: '172.24.4.1' } }, { removeFloatingIp: { address: '172.24.4.1' } }]) {
      assert.equal((await act(id, body, '2.44')).status, 404, JSON.stringify(body));
    }
    assert.match((await act(id, { addFixedIp: { networkId: 'n1' } }, '2.43')).body.badRequest.message, /Network n1 could not be found/);
    assert.match((await act(id, { addFloatingIp: { address: '172.24.4.1' } }, '2.43')).body.badRequest.message, /No fixed IPs/);
    assert.equal((await act(id, { removeFloatingIp: { address: '172.24.4.1' } }, '2.43')).status, 404);
    assert.equal((await act(id, { addFloatingIp: { address: 'nope' } }, '2.43')).status, 400);
    assert.equal((await instanceRow(h, id)).task_state, null, 'nothing changed');
  });

  it('2.78 topology: a server without NUMA topology from 2.78; 404 at 2.77; another project\'s server is 404', async () => {
    const id = await activeServer(h, h.member);
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers/${id}/topology`, undefined, '2.77')).status, 404);
    const now = await call(h, h.member, 'GET', `/v2.1/servers/${id}/topology`, undefined, '2.78');
    assert.equal(now.status, 200);
    assert.deepEqual(now.body, { nodes: [], pagesize_kb: null });
    assert.equal((await call(h, h.other, 'GET', `/v2.1/servers/${id}/topology`, undefined, '2.78')).status, 404);
  });
});
