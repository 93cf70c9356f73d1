import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fakeBackendPath, openFakeBackend } from '@orrery/driver-fake';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { repoRoot } from '../../harness/repo.js';

const MV = { 'openstack-api-version': 'compute 2.37' };

async function bootOne(cloud: TestCloud, s: Session, name: string): Promise<{ id: string; status: string }> {
  const images = await api(s, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`);
  const created = await api(s, 'POST', `${cloud.urls.compute}/v2.1/servers`, {
    server: { name, imageRef: images.body.images[0].id, flavorRef: '1', networks: 'none' },
  }, MV);
  assert.equal(created.status, 202, JSON.stringify(created.body));
  return waitFor(`${name} to leave BUILD`, async () => {
    const r = await api(s, 'GET', `${cloud.urls.compute}/v2.1/servers/${created.body.server.id}`, undefined, MV);
    return r.body.server.status === 'BUILD' ? undefined : r.body.server;
  });
}

describe('operations a driver does not declare', () => {
  let cloud: TestCloud;
  let admin: Session;

  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' }, fake: { unsupported: 'pause,consoleOutput' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
  });
  after(async () => {
    await cloud?.close();
  });

  it('are refused by the API as Nova does, and no call reaches the driver', async () => {
    const server = await bootOne(cloud, admin, 'nopause');
    assert.equal(server.status, 'ACTIVE');
    // A fault armed on the driver's pause and console calls: if either call reached the driver, it would consume it.
    const backend = openFakeBackend(fakeBackendPath(cloud.config.statePath('compute', 'compute1'), 'compute1'));
    try {
      backend.injectFault({ op: 'pause', kind: 'crash', times: 1 });
      backend.injectFault({ op: 'getConsoleOutput', kind: 'crash', times: 1 });

      const pause = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers/${server.id}/action`, { pause: null }, MV);
      assert.equal(pause.status, 409);
      assert.ok(pause.body.conflictingRequest.message, JSON.stringify(pause.body));
      const console = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers/${server.id}/action`, { 'os-getConsoleOutput': {} }, MV);
      assert.equal(console.status, 501);
      assert.ok(console.body.notImplemented.message);

      assert.deepEqual(backend.listFaults().map((f) => f.op).sort(), ['getConsoleOutput', 'pause']);
      const shown = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${server.id}`, undefined, MV);
      assert.equal(shown.body.server.status, 'ACTIVE');
      const actions = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${server.id}/os-instance-actions`, undefined, MV);
      assert.deepEqual(actions.body.instanceActions.map((a: { action: string }) => a.action), ['create']);
    } finally {
      backend.close();
    }
  });

  it('show up as missing traits of the node, readable through placement', async () => {
    const hv = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/os-hypervisors/detail`, undefined, MV);
    const node = cloud.computes[0]!;
    assert.equal(hv.body.hypervisors.length, 1);
    const rps = await api(admin, 'GET', `${cloud.urls.placement}/resource_providers`);
    const rp = rps.body.resource_providers.find((p: { name: string }) => p.name === 'compute1');
    assert.ok(rp, `no resource provider for compute1 (${node.host})`);
    const traits = await api(admin, 'GET', `${cloud.urls.placement}/resource_providers/${rp.uuid}/traits`);
    assert.equal(traits.status, 200);
    assert.ok(traits.body.traits.includes('COMPUTE_SUSPEND'));
    assert.ok(traits.body.traits.includes('CUSTOM_HYPERVISOR_FAKE'));
    assert.ok(!traits.body.traits.includes('COMPUTE_PAUSE'));
    assert.ok(!traits.body.traits.includes('COMPUTE_CONSOLE_OUTPUT'));
  });

  it('flavor trait extra specs steer scheduling', async () => {
    const flavor = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/flavors`, {
      flavor: { name: 'needs-pause', ram: 128, vcpus: 1, disk: 1, id: 'needs-pause' },
    });
    assert.equal(flavor.status, 200);
    const spec = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/flavors/needs-pause/os-extra_specs`, {
      extra_specs: { 'trait:COMPUTE_PAUSE': 'required' },
    });
    assert.equal(spec.status, 200);
    const images = await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`);
    const created = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers`, {
      server: { name: 'wants-pause', imageRef: images.body.images[0].id, flavorRef: 'needs-pause', networks: 'none' },
    }, MV);
    assert.equal(created.status, 202);
    const server = await waitFor('wants-pause to fail', async () => {
      const r = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${created.body.server.id}`, undefined, MV);
      return r.body.server.status === 'BUILD' ? undefined : r.body.server;
    });
    assert.equal(server.status, 'ERROR');
    assert.match(server.fault.message, /No valid host/);
  });
});

describe('an out-of-tree driver loaded by path from config', () => {
  let cloud: TestCloud;
  let admin: Session;

  before(async () => {
    cloud = await startTestCloud({
      DEFAULT: { compute_hosts: 'ext1', compute_driver: join(repoRoot(), 'examples/driver-example') },
    });
    admin = await login(cloud, 'admin', 'secret', 'admin');
  });
  after(async () => {
    await cloud?.close();
  });

  it('boots a server through the API', async () => {
    const server = await bootOne(cloud, admin, 'on-example');
    assert.equal(server.status, 'ACTIVE');
    const hv = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/os-hypervisors/detail`, undefined, MV);
    assert.equal(hv.body.hypervisors[0].hypervisor_type, 'example');
  });
});
