import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, login, memberOfNewProject, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { getNode } from '../../src/db/baremetal-nodes.js';
import { listNodeHistory } from '../../src/db/baremetal-history.js';

/**
 * The Bare Metal API over HTTP against the all-in-one: versions and microversions, Ironic's
 * error format, admin-only policy, nodes and ports, secrets never shown, and the transitions a
 * fake-hardware node goes through with the conductor's worker.
 */
describe('the Bare Metal API', () => {
  let cloud: TestCloud;
  let admin: Session;
  let member: Session;
  let url: string;
  const H = { 'x-openstack-ironic-api-version': '1.46' };
  const bm = (method: string, path: string, body?: unknown, headers: Record<string, string> = H) => api(admin, method, `${url}${path}`, body, headers);
  const fault = (res: { body: { error_message: string } }): string => JSON.parse(res.body.error_message).faultstring;

  before(async () => {
    cloud = await startTestCloud();
    url = cloud.urls.baremetal;
    admin = await login(cloud, 'admin', 'secret', 'admin');
    member = await memberOfNewProject(cloud, admin, 'bm-other', 'bm-user');
  });
  after(async () => cloud?.close());

  it('answers its versions at / and /v1 with the range, and 406 outside it', async () => {
    const root = await api(null, 'GET', `${url}/`);
    assert.equal(root.status, 200);
    assert.equal(root.body.default_version.version, '1.46');
    assert.equal(root.body.default_version.min_version, '1.1');
    assert.equal(root.headers.get('x-openstack-ironic-api-maximum-version'), '1.46');
    const v1 = await api(null, 'GET', `${url}/v1`, undefined, { 'x-openstack-ironic-api-version': 'latest' });
    assert.equal(v1.status, 200);
    assert.equal(v1.headers.get('x-openstack-ironic-api-version'), '1.46');
    assert.equal(v1.headers.get('x-openstack-ironic-api-minimum-version'), '1.1');
    const tooNew = await bm('GET', '/v1/nodes', undefined, { 'x-openstack-ironic-api-version': '1.99' });
    assert.equal(tooNew.status, 406);
    assert.match(fault(tooNew), /minor version is not supported by this service\. The supported version range is: \[1\.1, 1\.46\]/);
    assert.equal((await bm('GET', '/v1/nodes', undefined, { 'x-openstack-ironic-api-version': 'one' })).status, 406);
    // The catalog names it as Ironic.
    const catalog = await api(admin, 'GET', `${cloud.urls.identity}/v3/auth/catalog`);
    assert.ok(catalog.body.catalog.some((s: { type: string; name: string }) => s.type === 'baremetal' && s.name === 'ironic'));
  });

  it('is admin only, with errors in Ironic\'s format', async () => {
    assert.equal((await api(null, 'GET', `${url}/v1/nodes`, undefined, H)).status, 401);
    const refused = await api(member, 'GET', `${url}/v1/nodes`, undefined, H);
    assert.equal(refused.status, 403);
    assert.equal(fault(refused), 'Access was denied to the following resource: baremetal:node:list');
    const missing = await bm('GET', '/v1/nodes/nope');
    assert.equal(missing.status, 404);
    assert.deepEqual(JSON.parse(missing.body.error_message), { faultcode: 'Client', faultstring: 'Node nope could not be found.', debuginfo: null });
    assert.equal((await bm('POST', '/v1/nodes', { driver: 'nonsuch' })).status, 400);
    assert.equal((await bm('POST', '/v1/nodes', { driver: 'ipmi', bogus: 1 })).status, 400);
  });

  it('enrols a node with its password sealed: masked in every answer, absent from the row and the logs', async () => {
    const created = await bm('POST', '/v1/nodes', {
      name: 'rack1-n1', driver: 'ipmi', resource_class: 'baremetal',
      driver_info: { ipmi_address: '127.0.0.1', ipmi_port: 6230, ipmi_username: 'admin', ipmi_password: 'bmc-s3cret' },
      properties: { cpus: 1, memory_mb: 512, local_gb: 1, cpu_arch: 'x86_64' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.provision_state, 'enroll');
    assert.equal(created.body.driver_info.ipmi_password, '******');
    assert.equal(created.body.power_interface, 'ipmitool');
    const uuid = created.body.uuid as string;
    for (const path of [`/v1/nodes/${uuid}`, '/v1/nodes/rack1-n1', '/v1/nodes/detail']) {
      const res = await bm('GET', path);
      assert.equal(res.status, 200);
      assert.ok(!JSON.stringify(res.body).includes('bmc-s3cret'), path);
    }
    const row = await getNode(cloud.db, uuid);
    assert.ok(row && !JSON.stringify(row).includes('bmc-s3cret'));
    assert.equal(JSON.parse(row!.driver_info).ipmi_password, undefined);
    // The list's default view, and fields=.
    const list = await bm('GET', '/v1/nodes');
    assert.deepEqual(Object.keys(list.body.nodes.find((n: { uuid: string }) => n.uuid === uuid)).sort(),
      ['instance_uuid', 'links', 'maintenance', 'name', 'power_state', 'provision_state', 'uuid']);
    const some = await bm('GET', `/v1/nodes/${uuid}?fields=uuid,driver_info`);
    assert.deepEqual(Object.keys(some.body).sort(), ['driver_info', 'links', 'uuid']);
    assert.equal((await bm('GET', `/v1/nodes/${uuid}?fields=nonsuch`)).status, 400);
    // Older clients see older shapes: no resource_class before 1.21.
    const old = await bm('GET', `/v1/nodes/${uuid}`, undefined, { 'x-openstack-ironic-api-version': '1.20' });
    assert.equal(old.body.resource_class, undefined);
    assert.equal((await bm('POST', '/v1/nodes', { name: 'rack1-n1', driver: 'ipmi' })).status, 409);
    const logs = readdirSync(cloud.stateDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.log'));
    for (const f of logs) assert.ok(!readFileSync(join(cloud.stateDir, f), 'utf8').includes('bmc-s3cret'), f);
  });

  it('JSON-patches a node; the password stays sealed; read-only fields are refused', async () => {
    const node = (await bm('GET', '/v1/nodes/rack1-n1')).body;
    const patched = await bm('PATCH', '/v1/nodes/rack1-n1', [
      { op: 'replace', path: '/driver_info/ipmi_port', value: 6231 },
      { op: 'add', path: '/extra/rack', value: 'r1' },
      { op: 'add', path: '/instance_info/image_source', value: 'img' },
    ]);
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.driver_info.ipmi_port, 6231);
    assert.equal(patched.body.driver_info.ipmi_password, '******');
    assert.equal(patched.body.extra.rack, 'r1');
    assert.equal((await bm('PATCH', '/v1/nodes/rack1-n1', [{ op: 'replace', path: '/provision_state', value: 'active' }])).status, 400);
    assert.equal((await bm('PATCH', '/v1/nodes/rack1-n1', [{ op: 'remove', path: '/extra/none' }])).status, 400);
    assert.equal((await bm('PATCH', '/v1/nodes/rack1-n1', [{ op: 'add', path: '/extra/__proto__', value: { x: 1 } }])).body.extra.__proto__?.x, 1);
    const row = await getNode(cloud.db, node.uuid);
    assert.ok(!JSON.stringify(row).includes('bmc-s3cret'));
  });

  it('ports: MAC addresses unique, listed by node, removed with the node', async () => {
    const node = (await bm('GET', '/v1/nodes/rack1-n1')).body;
    const port = await bm('POST', '/v1/ports', { node_uuid: node.uuid, address: '52:54:00:AA:BB:01' });
    assert.equal(port.status, 201, JSON.stringify(port.body));
    assert.equal(port.body.address, '52:54:00:aa:bb:01');
    const dup = await bm('POST', '/v1/ports', { node_uuid: node.uuid, address: '52:54:00:aa:bb:01' });
    assert.equal(dup.status, 409);
    assert.equal(fault(dup), 'A port with MAC address 52:54:00:aa:bb:01 already exists.');
    assert.equal((await bm('POST', '/v1/ports', { node_uuid: node.uuid, address: 'not-a-mac' })).status, 400);
    assert.deepEqual((await bm('GET', `/v1/nodes/rack1-n1/ports`)).body.ports.map((p: { uuid: string }) => p.uuid), [port.body.uuid]);
    assert.deepEqual((await bm('GET', `/v1/ports?address=52:54:00:aa:bb:01`)).body.ports.map((p: { uuid: string }) => p.uuid), [port.body.uuid]);
    const moved = await bm('PATCH', `/v1/ports/${port.body.uuid}`, [{ op: 'add', path: '/extra/switch', value: 'sw1' }]);
    assert.equal(moved.body.extra.switch, 'sw1');
  });

  it('refuses what Ironic refuses: a transition from the wrong state, a verb not carried out, a delete while available', async () => {
    const bad = await bm('PUT', '/v1/nodes/rack1-n1/states/provision', { target: 'provide' });
    assert.equal(bad.status, 400);
    assert.match(fault(bad), /^The requested action "provide" can not be performed on node "[0-9a-f-]+" while it is in state "enroll"\.$/);
    assert.equal((await bm('PUT', '/v1/nodes/rack1-n1/states/provision', { target: 'inspect' })).status, 400);
    assert.equal((await bm('PUT', '/v1/nodes/rack1-n1/states/provision', { target: 'clean' })).status, 400);
    assert.equal((await bm('PUT', '/v1/nodes/rack1-n1/states/power', { target: 'power sideways' })).status, 400);
    assert.equal((await bm('PUT', '/v1/nodes/rack1-n1/states/power', { target: 'soft power off' }, { 'x-openstack-ironic-api-version': '1.20' })).status, 406);
    assert.equal((await bm('PUT', '/v1/nodes/rack1-n1/management/boot_device', { boot_device: 'floppy' })).status, 400);
    // An enrolled node may be removed, and its ports go with it.
    assert.equal((await bm('DELETE', '/v1/nodes/rack1-n1')).status, 204);
    assert.deepEqual((await bm('GET', '/v1/ports?address=52:54:00:aa:bb:01')).body.ports, []);
  });

  it('a fake-hardware node: manage → manageable, provide → available (cleaned), power on, maintenance, delete only when allowed', async () => {
    const created = await bm('POST', '/v1/nodes', { name: 'fake-1', driver: 'fake-hardware', resource_class: 'baremetal' });
    assert.equal(created.status, 201);
    const uuid = created.body.uuid as string;
    const state = async () => (await bm('GET', `/v1/nodes/${uuid}/states`)).body;
    const settle = (want: string) => waitFor(`provision state ${want}`, async () => {
      const s = await state();
      return s.provision_state === want && s.target_provision_state === null ? s : undefined;
    });
    assert.equal((await bm('PUT', `/v1/nodes/${uuid}/states/provision`, { target: 'manage' })).status, 202);
    await settle('manageable');
    assert.equal((await bm('PUT', `/v1/nodes/${uuid}/states/provision`, { target: 'provide' })).status, 202);
    await settle('available');
    assert.equal((await bm('PUT', `/v1/nodes/${uuid}/states/power`, { target: 'power on' })).status, 202);
    await waitFor('power on', async () => ((await state()).power_state === 'power on' ? true : undefined));
    const del = await bm('DELETE', `/v1/nodes/${uuid}`);
    assert.equal(del.status, 409);
    assert.match(fault(del), /while it is in provision state "available"/);
    assert.equal((await bm('PUT', `/v1/nodes/${uuid}/maintenance`, { reason: 'rack move' })).status, 202);
    const shown = (await bm('GET', `/v1/nodes/${uuid}`)).body;
    assert.equal(shown.maintenance, true);
    assert.equal(shown.maintenance_reason, 'rack move');
    // In maintenance a node may not be deployed, but may be removed.
    assert.equal((await bm('PUT', `/v1/nodes/${uuid}/states/provision`, { target: 'active' })).status, 400);
    assert.ok((await listNodeHistory(cloud.db, uuid, 100)).length > 0, 'the worker recorded its steps');
    assert.equal((await bm('DELETE', `/v1/nodes/${uuid}`)).status, 204);
    assert.equal((await bm('GET', `/v1/nodes/${uuid}`)).status, 404);
  });

  it('lists drivers with the conductors that run them', async () => {
    const drivers = await bm('GET', '/v1/drivers');
    assert.deepEqual(drivers.body.drivers.map((d: { name: string }) => d.name), ['ipmi', 'fake-hardware']);
    assert.ok(drivers.body.drivers[0].hosts.length >= 1);
    assert.equal((await bm('GET', '/v1/drivers/redfish')).status, 404);
  });
});
