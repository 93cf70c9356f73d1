import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addFault } from '../../src/db/instance-actions.js';
import {
  activeServer, call, castInstance, createServer, instanceRow, placeOnNode, startHarness, waitForCast, type Harness,
} from './harness.js';

describe('GET/PUT/DELETE /servers/{id}', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h.close());

  it('shows a server with Nova\'s fields; other projects and malformed ids get 404', async () => {
    const id = await createServer(h, h.member, { metadata: { a: 'b' } });
    const building = (await call(h, h.member, 'GET', `/v2.1/servers/${id}`)).body.server;
    assert.equal(building.status, 'BUILD');
    assert.equal(building.progress, 0);
    assert.equal(building.hostId, '');
    assert.equal(building['OS-EXT-AZ:availability_zone'], '');
    assert.equal(building['OS-EXT-STS:task_state'], 'scheduling');
    assert.deepEqual(building.addresses, {});
    assert.deepEqual(building.metadata, { a: 'b' });
    assert.deepEqual(building['os-extended-volumes:volumes_attached'], []);
    assert.equal(building['OS-SRV-USG:launched_at'], null);
    assert.ok(!('security_groups' in building), 'no ports, no security groups');
    for (const k of ['id', 'name', 'status', 'tenant_id', 'user_id', 'metadata', 'hostId', 'image', 'flavor', 'created', 'updated',
      'addresses', 'accessIPv4', 'accessIPv6', 'links', 'OS-DCF:diskConfig', 'config_drive', 'key_name', 'OS-EXT-STS:vm_state',
      'OS-EXT-STS:power_state', 'OS-SRV-USG:terminated_at']) {
      assert.ok(k in building, k);
    }

    await placeOnNode(h, id);
    const active = (await call(h, h.member, 'GET', `/v2.1/servers/${id}`)).body.server;
    assert.equal(active.status, 'ACTIVE');
    assert.equal(active['OS-EXT-AZ:availability_zone'], 'nova');
    assert.match(active.hostId, /^[0-9a-f]{56}$/);

    assert.equal((await call(h, h.other, 'GET', `/v2.1/servers/${id}`)).status, 404);
    const malformed = await call(h, h.member, 'GET', '/v2.1/servers/not-a-uuid');
    assert.equal(malformed.status, 404);
    assert.deepEqual(malformed.body, { itemNotFound: { code: 404, message: 'Instance not-a-uuid could not be found.' } });
    assert.equal((await call(h, h.peer, 'GET', `/v2.1/servers/${id}`)).status, 200, 'a project member sees the project\'s servers');
  });

  it('shows the latest fault of an ERROR server; details of a 500 only to admins', async () => {
    const id = await createServer(h, h.member);
    await h.db.updateTable('instances').set({ vm_state: 'error', task_state: null }).where('uuid', '=', id).execute();
    await addFault(h.db, { instanceUuid: id, code: 500, message: 'old', details: 'x', host: null });
    await addFault(h.db, { instanceUuid: id, code: 500, message: 'No valid host was found.', details: 'Traceback...', host: null });
    const member = (await call(h, h.member, 'GET', `/v2.1/servers/${id}`)).body.server;
    assert.equal(member.status, 'ERROR');
    assert.equal(member.fault.message, 'No valid host was found.');
    assert.equal(member.fault.code, 500);
    assert.match(member.fault.created, /Z$/);
    assert.ok(!('details' in member.fault));
    assert.ok(!('progress' in member));
    assert.equal((await call(h, h.admin, 'GET', `/v2.1/servers/${id}`)).body.server.fault.details, 'Traceback...');
  });

  it('reports host_status from the compute service (2.16, admins)', async () => {
    const id = await activeServer(h, h.member);
    const status = async (): Promise<string> => (await call(h, h.admin, 'GET', `/v2.1/servers/${id}`, undefined, '2.16')).body.server.host_status;
    assert.equal(await status(), 'UP');
    await h.db.updateTable('services').set({ disabled: 1 }).where('host', '=', h.node.host).execute();
    assert.equal(await status(), 'MAINTENANCE');
    await h.db.updateTable('services').set({ forced_down: 1 }).where('host', '=', h.node.host).execute();
    assert.equal(await status(), 'DOWN');
    await h.db.updateTable('services').set({ forced_down: 0, disabled: 0, last_seen_up: '2000-01-01T00:00:00.000Z' }).where('host', '=', h.node.host).execute();
    assert.equal(await status(), 'UNKNOWN');
    await h.db.updateTable('services').set({ last_seen_up: new Date().toISOString() }).where('host', '=', h.node.host).execute();
  });

  it('updates name, access IPs and (2.19) description, answering the reduced view', async () => {
    const id = await activeServer(h, h.member);
    const res = await call(h, h.member, 'PUT', `/v2.1/servers/${id}`, { server: { name: 'renamed', accessIPv4: '192.0.2.9', accessIPv6: '2001:db8::9' } });
    assert.equal(res.status, 200);
    const s = res.body.server;
    assert.equal(s.name, 'renamed');
    assert.equal(s.accessIPv4, '192.0.2.9');
    assert.equal(s.accessIPv6, '2001:db8::9');
    for (const k of ['OS-EXT-AZ:availability_zone', 'config_drive', 'key_name', 'OS-EXT-STS:vm_state', 'OS-SRV-USG:launched_at']) assert.ok(!(k in s), k);
    assert.equal((await instanceRow(h, id)).hostname, 'vm', 'the hostname stays');

    assert.equal((await call(h, h.member, 'PUT', `/v2.1/servers/${id}`, { server: { description: 'd' } })).status, 400);
    const v219 = await call(h, h.member, 'PUT', `/v2.1/servers/${id}`, { server: { description: 'about it' } }, '2.19');
    assert.equal(v219.body.server.description, 'about it');
    assert.equal((await call(h, h.member, 'PUT', `/v2.1/servers/${id}`, { server: { description: null } }, '2.19')).body.server.description, null);
    for (const body of [{}, { server: { name: '' } }, { server: { accessIPv4: 'x' } }, { server: { flavorRef: '2' } }]) {
      assert.equal((await call(h, h.member, 'PUT', `/v2.1/servers/${id}`, body)).status, 400, JSON.stringify(body));
    }
    assert.equal((await call(h, h.other, 'PUT', `/v2.1/servers/${id}`, { server: { name: 'mine' } })).status, 404);
  });

  it('deletes a server that never reached a node locally, at once', async () => {
    const id = await createServer(h, h.member);
    const res = await call(h, h.member, 'DELETE', `/v2.1/servers/${id}`);
    assert.equal(res.status, 204);
    assert.equal(res.body, null);
    const row = await instanceRow(h, id);
    assert.notEqual(row.deleted, 0);
    assert.equal(row.vm_state, 'deleted');
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers/${id}`)).status, 404);
    assert.equal((await call(h, h.member, 'DELETE', `/v2.1/servers/${id}`)).status, 404);
    assert.ok(!h.casts.some((c) => c.method === 'terminate_instance' && castInstance(c).uuid === id));
    // its actions stay readable from 2.21
    const actions = await call(h, h.member, 'GET', `/v2.1/servers/${id}/os-instance-actions`, undefined, '2.21');
    assert.deepEqual(actions.body.instanceActions.map((a: { action: string }) => a.action), ['delete', 'create']);
    assert.equal((await call(h, h.member, 'GET', `/v2.1/servers/${id}/os-instance-actions`, undefined, '2.20')).status, 404);
  });

  it('deletes a placed server through its node: task_state deleting, action, terminate_instance cast', async () => {
    const id = await activeServer(h, h.member);
    const res = await call(h, h.member, 'DELETE', `/v2.1/${h.member.projectId}/servers/${id}`);
    assert.equal(res.status, 204);
    const row = await instanceRow(h, id);
    assert.equal(row.deleted, 0, 'the compute service finishes the delete');
    assert.equal(row.task_state, 'deleting');
    const cast = await waitForCast(h, (c) => c.method === 'terminate_instance' && castInstance(c).uuid === id);
    assert.equal(cast.topic, `compute.${h.node.name}`);
    assert.equal(cast.requestId, res.headers.get('x-openstack-request-id'));
    const show = (await call(h, h.member, 'GET', `/v2.1/servers/${id}`)).body.server;
    assert.equal(show['OS-EXT-STS:task_state'], 'deleting');
  });

  it('refuses to delete a locked server to its owner (409) but not to an admin', async () => {
    const id = await activeServer(h, h.member);
    assert.equal((await call(h, h.member, 'POST', `/v2.1/servers/${id}/action`, { lock: null })).status, 202);
    const refused = await call(h, h.member, 'DELETE', `/v2.1/servers/${id}`);
    assert.equal(refused.status, 409);
    assert.deepEqual(refused.body, { conflictingRequest: { code: 409, message: `Instance ${id} is locked` } });
    assert.equal((await call(h, h.admin, 'DELETE', `/v2.1/servers/${id}`)).status, 204);
  });
});
