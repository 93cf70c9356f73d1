import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from '../../src/common/time.js';
import { IRONIC_ZED_MAX_VERSION, RealIronic, realIronicSkip } from './support/real-ironic.js';

// A real Ironic as the ironic driver's target: its API driven with plain HTTP (no Orrery code),
// a fake-hardware node taken through enroll → manageable → available → active → available.

const skip = realIronicSkip();

interface Node {
  uuid: string;
  name: string;
  provision_state: string;
  target_provision_state: string | null;
  power_state: string | null;
  last_error: string | null;
  instance_uuid: string | null;
  resource_class: string | null;
}

describe('a real Ironic (Debian ironic-api + ironic-conductor)', { skip, timeout: 600_000 }, () => {
  let ironic: RealIronic;

  async function call(method: string, path: string, body?: unknown, version = IRONIC_ZED_MAX_VERSION): Promise<{ status: number; json: any; headers: Headers }> {
    const res = await fetch(`${ironic.url}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-OpenStack-Ironic-API-Version': version },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers };
  }

  async function waitFor(uuid: string, state: string): Promise<Node> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const { json } = await call('GET', `/v1/nodes/${uuid}`);
      const node = json as Node;
      if (node.provision_state === state && !node.target_provision_state) return node;
      if (/failed|error/.test(node.provision_state)) assert.fail(`node went to ${node.provision_state}: ${node.last_error}`);
      if (Date.now() > deadline) assert.fail(`node stayed ${node.provision_state} (target ${node.target_provision_state}), wanted ${state}\n${ironic.logTail()}`);
      await sleep(500);
    }
  }

  async function provision(uuid: string, target: string, want: string): Promise<Node> {
    const res = await call('PUT', `/v1/nodes/${uuid}/states/provision`, { target });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    return waitFor(uuid, want);
  }

  before(async () => {
    ironic = await RealIronic.launch();
    console.log(`real Ironic up in ${ironic.startSeconds.toFixed(1)} s at ${ironic.url}`);
  });
  after(async () => {
    const pids = ironic?.pids ?? [];
    await ironic?.dispose();
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `ironic process ${pid} is still there`);
  });

  it('serves its version documents with the microversion range', async () => {
    const root = await call('GET', '/');
    assert.equal(root.status, 200);
    assert.equal(root.json.default_version.id, 'v1');
    const v1 = await call('GET', '/v1');
    assert.equal(v1.status, 200);
    assert.equal(v1.headers.get('x-openstack-ironic-api-minimum-version'), '1.1');
    assert.equal(v1.headers.get('x-openstack-ironic-api-maximum-version'), IRONIC_ZED_MAX_VERSION);
  });

  it('takes a fake-hardware node from enroll to active and back to available', async () => {
    const created = await call('POST', '/v1/nodes', { name: 'bm-0', driver: 'fake-hardware', resource_class: 'baremetal', properties: { cpus: 2, memory_mb: 2048, local_gb: 10 } });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const uuid = (created.json as Node).uuid;
    assert.equal((created.json as Node).provision_state, 'enroll');

    await provision(uuid, 'manage', 'manageable');
    await provision(uuid, 'provide', 'available');

    const instance = '5b1c4a76-6d4b-4ff2-9b63-1f0cf1a9d0aa';
    const patched = await call('PATCH', `/v1/nodes/${uuid}`, [
      { op: 'add', path: '/instance_uuid', value: instance },
      { op: 'add', path: '/instance_info', value: { image_source: 'http://127.0.0.1/none.img', root_gb: '10' } },
    ]);
    assert.equal(patched.status, 200, JSON.stringify(patched.json));

    const active = await provision(uuid, 'active', 'active');
    assert.equal(active.instance_uuid, instance);
    assert.equal(active.last_error, null);

    const off = await call('PUT', `/v1/nodes/${uuid}/states/power`, { target: 'power off' });
    assert.equal(off.status, 202, JSON.stringify(off.json));
    const deadline = Date.now() + 60_000;
    while ((await call('GET', `/v1/nodes/${uuid}/states`)).json.power_state !== 'power off') {
      assert.ok(Date.now() < deadline, 'power off did not happen');
      await sleep(500);
    }

    const back = await provision(uuid, 'deleted', 'available');
    assert.equal(back.instance_uuid, null);

    const gone = await call('DELETE', `/v1/nodes/${uuid}`);
    assert.equal(gone.status, 204);
    assert.equal((await call('GET', `/v1/nodes/${uuid}`)).status, 404);
  });

  it('refuses a transition the state machine does not allow, with its error format', async () => {
    const created = await call('POST', '/v1/nodes', { name: 'bm-1', driver: 'fake-hardware' });
    assert.equal(created.status, 201);
    const res = await call('PUT', `/v1/nodes/${created.json.uuid}/states/provision`, { target: 'active' });
    assert.equal(res.status, 400);
    const fault = JSON.parse(res.json.error_message);
    assert.match(fault.faultstring, /enroll/);
    assert.equal((await call('DELETE', `/v1/nodes/${created.json.uuid}`)).status, 204);
  });
});
