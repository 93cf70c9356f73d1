import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { sleep } from '../../src/common/time.js';
import { backendSkip, commandExists } from '../support/backends.js';
import { openstackJson, openstackOk } from '../support/openstack-cli.js';
import { IRONIC_ZED_MAX_VERSION, RealIronic, realIronicSkip, type IronicNode } from './support/real-ironic.js';

// A real Ironic as the ironic driver's second target: its API driven with plain HTTP (no Orrery
// code), fake-hardware nodes taken through enroll → manageable → available → active → available.

const skip = realIronicSkip();
const cliSkip =
  skip ||
  backendSkip('openstack baremetal (python3-ironicclient)', commandExists('openstack') && existsSync('/usr/lib/python3/dist-packages/ironicclient'));

describe('a real Ironic (Debian ironic-api + ironic-conductor)', { skip, timeout: 600_000 }, () => {
  let ironic: RealIronic;

  async function waitPower(uuid: string, want: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { json } = await ironic.request('GET', `/v1/nodes/${uuid}/states`);
      if (json.power_state === want && json.target_power_state === null) return;
      assert.ok(Date.now() < deadline, `power state stayed ${json.power_state}, wanted ${want}`);
      await sleep(250);
    }
  }

  before(async () => {
    ironic = await RealIronic.launch();
    console.log(`real Ironic up in ${ironic.startSeconds.toFixed(1)} s at ${ironic.url}`);
  });
  after(async () => {
    const pids = ironic?.pids ?? [];
    await ironic?.dispose();
    for (const pid of pids) assert.throws(() => process.kill(-pid, 0), /ESRCH/, `ironic process group ${pid} is still there`);
  });

  it('serves its version documents with the microversion range, and refuses a version past it', async () => {
    const root = await ironic.request('GET', '/');
    assert.equal(root.status, 200);
    assert.equal(root.json.default_version.id, 'v1');
    assert.equal(root.json.default_version.version, IRONIC_ZED_MAX_VERSION);
    const v1 = await ironic.request('GET', '/v1');
    assert.equal(v1.headers.get('x-openstack-ironic-api-minimum-version'), '1.1');
    assert.equal(v1.headers.get('x-openstack-ironic-api-maximum-version'), IRONIC_ZED_MAX_VERSION);
    const past = await ironic.request('GET', '/v1/nodes', undefined, '1.999');
    assert.equal(past.status, 406);
    assert.match(JSON.parse(past.json.error_message).description, /supported version range is: \[1\.1, 1\.82\]/);
  });

  it('takes a fake-hardware node from enroll to active and back to available', async () => {
    const created = await ironic.request('POST', '/v1/nodes', { name: 'bm-0', driver: 'fake-hardware', resource_class: 'baremetal' });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const node = created.json as IronicNode;
    assert.equal(node.provision_state, 'enroll');
    assert.equal(node.power_state, null); // nothing has asked the (fake) BMC yet

    await ironic.provision(node.uuid, 'manage', 'manageable');
    await ironic.provision(node.uuid, 'provide', 'available');

    // What a Nova-style driver does: claim the node for an instance, then deploy.
    const instance = '5b1c4a76-6d4b-4ff2-9b63-1f0cf1a9d0aa';
    const patched = await ironic.request('PATCH', `/v1/nodes/${node.uuid}`, [
      { op: 'add', path: '/instance_uuid', value: instance },
      { op: 'add', path: '/instance_info', value: { image_source: '6c3c8b3e-5e1c-4e0e-8a57-4bd1d0e1c0de', root_gb: '10' } },
    ]);
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    const taken = await ironic.request('PATCH', `/v1/nodes/${node.uuid}`, [{ op: 'replace', path: '/instance_uuid', value: '0b8f4f3a-8a33-4d4e-9c0f-64d1d2b3c4e5' }]);
    assert.equal(taken.status, 409, 'a second instance cannot claim an associated node');

    const active = await ironic.provision(node.uuid, 'active', 'active');
    assert.equal(active.instance_uuid, instance);
    assert.equal(active.last_error, null);

    for (const [target, want] of [['power off', 'power off'], ['power on', 'power on'], ['rebooting', 'power on']] as const) {
      const res = await ironic.request('PUT', `/v1/nodes/${node.uuid}/states/power`, { target });
      assert.equal(res.status, 202, `${target}: ${JSON.stringify(res.json)}`);
      await waitPower(node.uuid, want);
    }

    const back = await ironic.provision(node.uuid, 'deleted', 'available');
    assert.equal(back.instance_uuid, null);
    assert.deepEqual(back.instance_info, {});

    assert.equal((await ironic.request('DELETE', `/v1/nodes/${node.uuid}`)).status, 204);
    assert.equal((await ironic.request('GET', `/v1/nodes/${node.uuid}`)).status, 404);
  });

  it('lists nodes by resource class with chosen fields, as a driver polls them', async () => {
    const a = await ironic.availableNode('bm-a', 'baremetal');
    const b = await ironic.availableNode('bm-b', 'other');
    const list = await ironic.request('GET', '/v1/nodes?resource_class=baremetal&fields=uuid,name,provision_state,power_state,instance_uuid,maintenance');
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.json.nodes.map((n: IronicNode) => [n.name, n.provision_state]),
      [['bm-a', 'available']],
    );
    // Without a version header the API speaks 1.1, where `available` still reads as null.
    const old = await fetch(`${ironic.url}/v1/nodes/${a.uuid}`);
    assert.equal(old.headers.get('x-openstack-ironic-api-version'), '1.1');
    assert.equal(((await old.json()) as IronicNode).provision_state, null);
    for (const n of [a, b]) assert.equal((await ironic.request('DELETE', `/v1/nodes/${n.uuid}`)).status, 204);
  });

  it('refuses a transition the state machine does not allow, in its error format', async () => {
    const created = await ironic.request('POST', '/v1/nodes', { name: 'bm-1', driver: 'fake-hardware' });
    assert.equal(created.status, 201);
    const res = await ironic.request('PUT', `/v1/nodes/${created.json.uuid}/states/provision`, { target: 'active' });
    assert.equal(res.status, 400);
    assert.match(JSON.parse(res.json.error_message).faultstring, /enroll/);
    const unknownDriver = await ironic.request('POST', '/v1/nodes', { name: 'bm-2', driver: 'ipmi' });
    assert.equal(unknownDriver.status, 400);
    assert.match(JSON.parse(unknownDriver.json.error_message).faultstring, /No conductor service registered which supports driver ipmi/);
    const dup = await ironic.request('POST', '/v1/nodes', { name: 'bm-1', driver: 'fake-hardware' });
    assert.equal(dup.status, 409);
    assert.equal((await ironic.request('DELETE', `/v1/nodes/${created.json.uuid}`)).status, 204);
  });

  it('is driven by the real `openstack baremetal` CLI without Keystone', { skip: cliSkip }, async () => {
    // ironicclient 5.0 knows up to 1.78, Zed serves 1.82: an explicit 1.82 is refused by the client, 'latest' negotiates 1.78.
    const vars = { OS_AUTH_TYPE: 'none', OS_ENDPOINT: ironic.url, OS_BAREMETAL_API_VERSION: 'latest' };
    const node = await openstackJson<{ uuid: string; provision_state: string }>(
      ['baremetal', 'node', 'create', '--driver', 'fake-hardware', '--name', 'bm-cli', '--resource-class', 'baremetal'],
      vars,
    );
    assert.equal(node.provision_state, 'enroll');
    await openstackOk(['baremetal', 'node', 'manage', '--wait', '60', 'bm-cli'], vars);
    await openstackOk(['baremetal', 'node', 'provide', '--wait', '60', 'bm-cli'], vars);
    await openstackOk(['baremetal', 'node', 'power', 'on', 'bm-cli'], vars);
    const shown = await openstackJson<{ provision_state: string; power_state: string }>(['baremetal', 'node', 'show', 'bm-cli'], vars);
    assert.equal(shown.provision_state, 'available');
    assert.equal(shown.power_state, 'power on');
    await openstackOk(['baremetal', 'node', 'delete', 'bm-cli'], vars);
  });
});
