import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fakeBackendPath, openFakeBackend } from '@orrery/driver-fake';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

const MV = { 'openstack-api-version': 'compute 2.37' };

interface Hv { hypervisor_hostname: string; state: string; unavailable_reason?: string }

async function hypervisors(cloud: TestCloud, s: Session): Promise<Hv[]> {
  return (await api(s, 'GET', `${cloud.urls.compute}/v2.1/os-hypervisors/detail`, undefined, MV)).body.hypervisors;
}

async function bootOn(cloud: TestCloud, s: Session, name: string, zone: string): Promise<string> {
  const r = await api(s, 'POST', `${cloud.urls.compute}/v2.1/servers`, {
    server: { name, imageRef: (await api(s, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id, flavorRef: '1', networks: 'none', availability_zone: zone },
  }, MV);
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.server.id;
}

async function settled(cloud: TestCloud, s: Session, id: string): Promise<{ status: string; fault?: { message: string } }> {
  return waitFor(`${id} to settle`, async () => {
    const v = (await api(s, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}`, undefined, MV)).body.server;
    return v.status !== 'BUILD' && !v['OS-EXT-STS:task_state'] ? v : undefined;
  });
}

/** Issue #11 item 2 on the all-in-one (SQLite, in-process bus): nodes a node-local driver stops reporting while the service runs. */
describe('living nodes: a node-local driver whose nodes go away at run time', () => {
  let cloud: TestCloud;
  let admin: Session;

  before(async () => {
    cloud = await startTestCloud({
      DEFAULT: { compute_hosts: 'compute1' },
      compute: { node_refresh_interval: '1' },
      fake: { nodes: '3', node_name_prefix: 'h', watch_interval_ms: '200' },
    });
    admin = await login(cloud, 'admin', 'secret', 'admin');
  });
  after(async () => cloud?.close());

  it('a node gone with nothing on it leaves the list; one with a server is down with its reason, takes no boots, and its server stays deletable', async () => {
    assert.deepEqual((await hypervisors(cloud, admin)).map((h) => h.hypervisor_hostname).sort(), ['h-n1', 'h-n2', 'h-n3']);
    const id = await bootOn(cloud, admin, 'stays', 'nova:compute1:h-n1');
    assert.equal((await settled(cloud, admin, id)).status, 'ACTIVE');

    const backend = openFakeBackend(fakeBackendPath(join(cloud.stateDir, 'compute', 'compute1'), 'compute1'));
    try {
      assert.ok(backend.removeNode('h-n2'));
      assert.ok(backend.removeNode('h-n1'));
    } finally {
      backend.close();
    }
    await waitFor('h-n2 gone and h-n1 down', async () => {
      const hv = await hypervisors(cloud, admin);
      const n1 = hv.find((h) => h.hypervisor_hostname === 'h-n1');
      return !hv.some((h) => h.hypervisor_hostname === 'h-n2') && n1?.state === 'down' ? n1 : undefined;
    }, 15_000).then((n1) => assert.match(n1.unavailable_reason!, /gone from its back-end/));

    const refused = await bootOn(cloud, admin, 'nowhere', 'nova:compute1:h-n1');
    const r = await settled(cloud, admin, refused);
    assert.equal(r.status, 'ERROR');
    assert.match(r.fault!.message, /No valid host/);

    assert.equal((await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}`)).status, 200);
    assert.equal((await api(admin, 'DELETE', `${cloud.urls.compute}/v2.1/servers/${id}`)).status, 204);
    await waitFor('the server deleted', async () => ((await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}`)).status === 404 ? true : undefined));
    await waitFor('h-n1 to leave the list once empty', async () =>
      ((await hypervisors(cloud, admin)).some((h) => h.hypervisor_hostname === 'h-n1') ? undefined : true), 15_000);
  });
});

/** Shared nodes on SQLite and the in-process bus: two computes of the all-in-one over one fake cluster. */
describe('shared nodes on the all-in-one', () => {
  let cloud: TestCloud;
  let admin: Session;

  before(async () => {
    cloud = await startTestCloud({
      DEFAULT: { compute_hosts: 'compute1,compute2', report_interval: '1', service_down_time: '4' },
      compute: { node_refresh_interval: '1' },
      fake: { cluster: 'local', nodes: '12', node_name_prefix: 'bm' },
    });
    admin = await login(cloud, 'admin', 'secret', 'admin');
  });
  after(async () => cloud?.close());

  it('splits the nodes between the computes, and a server boots and is deleted through its node’s owner', async () => {
    const owners = await waitFor('12 nodes owned', async () => {
      const rows = await cloud.db.selectFrom('node_owners').select(['owner_host']).execute();
      return rows.length === 12 && new Set(rows.map((r) => r.owner_host)).size === 2 ? rows : undefined;
    });
    assert.deepEqual([...new Set(owners.map((o) => o.owner_host))].sort(), ['compute1', 'compute2']);
    const hv = await hypervisors(cloud, admin);
    assert.equal(hv.length, 12);
    const id = await bootOn(cloud, admin, 'shared', 'nova');
    assert.equal((await settled(cloud, admin, id)).status, 'ACTIVE');
    assert.equal((await api(admin, 'DELETE', `${cloud.urls.compute}/v2.1/servers/${id}`)).status, 204);
    await waitFor('the server deleted', async () => ((await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}`)).status === 404 ? true : undefined));
  });
});
