import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../../harness/ports.js';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { listNodeHistory } from '../../src/db/baremetal-history.js';
import { availableNode, type IronicTarget } from '../../packages/driver-ironic/test/support/kit.js';

/**
 * Bare-metal servers through the Compute API: two compute hosts running the ironic driver
 * against the all-in-one's own Bare Metal service, two fake-hardware nodes of class
 * `baremetal`, and Nova's whole-node flavor (resources:CUSTOM_BAREMETAL=1, the standard classes
 * 0). The nodes are shared by both computes and spread over them by the ring; each boot deploys
 * one node, a third finds no valid host, a hard reboot power-cycles the node, a delete gives
 * the node back (available, powered off) and a new boot takes it.
 */

const MV = { 'openstack-api-version': 'compute 2.37' };
const BM = { 'x-openstack-ironic-api-version': '1.46' };

interface Server { id: string; status: string; fault?: { message: string }; 'OS-EXT-SRV-ATTR:hypervisor_hostname'?: string | null; 'OS-EXT-SRV-ATTR:host'?: string | null }

describe('bare-metal servers: the ironic driver against Orrery\'s Bare Metal service', () => {
  let cloud: TestCloud;
  let admin: Session;
  const nodes: string[] = [];
  const compute = (path: string): string => `${cloud.urls.compute}/v2.1${path}`;
  const bm = (method: string, path: string, body?: unknown) => api(admin, method, `${cloud.urls.baremetal}${path}`, body, BM);

  before(async () => {
    // The driver's [ironic] section names Keystone before the cloud starts: fixed free ports.
    const identityPort = await freePort();
    cloud = await startTestCloud({
      api: { identity_port: String(identityPort) },
      DEFAULT: { compute_driver: 'ironic', compute_hosts: 'bm-compute1,bm-compute2' },
      ironic: {
        auth_url: `http://127.0.0.1:${identityPort}/v3`, username: 'admin', password: 'secret', project_name: 'admin',
        // fake-hardware deploys any image; the seeded one is raw.
        image_formats: 'raw,ami', poll_interval: '0.3',
      },
    });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    const target: IronicTarget = { name: 'orrery', url: cloud.urls.baremetal, config: {}, refusesMissingTraits: false, headers: async () => ({ 'x-auth-token': admin.token }) };
    for (let i = 0; i < 2; i++) nodes.push(await availableNode(target, 'baremetal'));
  });
  after(async () => cloud?.close());

  it('boots one server per node, refuses a third, reboots, deletes and reuses a node', async () => {
    // Both nodes come to the computes as hypervisors (the driver's poller sees them enrolled), split between the two hosts.
    const hypervisors = await waitFor('both nodes as hypervisors', async () => {
      const r = await api(admin, 'GET', compute('/os-hypervisors/detail'), undefined, MV);
      const list = (r.body.hypervisors as Array<{ hypervisor_hostname: string; hypervisor_type: string; service: { host: string } }>)
        .filter((h) => nodes.includes(h.hypervisor_hostname));
      return list.length === 2 ? list : undefined;
    });
    assert.ok(hypervisors.every((h) => h.hypervisor_type === 'ironic'));

    assert.equal((await api(admin, 'POST', compute('/flavors'), { flavor: { name: 'baremetal', ram: 2048, vcpus: 2, disk: 10, id: 'baremetal' } })).status, 200);
    const specs = await api(admin, 'POST', compute('/flavors/baremetal/os-extra_specs'), {
      extra_specs: { 'resources:CUSTOM_BAREMETAL': '1', 'resources:VCPU': '0', 'resources:MEMORY_MB': '0', 'resources:DISK_GB': '0' },
    });
    assert.equal(specs.status, 200);
    const imageRef = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id as string;
    const boot = async (name: string): Promise<Server> => {
      const r = await api(admin, 'POST', compute('/servers'), { server: { name, imageRef, flavorRef: 'baremetal', networks: 'none' } }, MV);
      assert.equal(r.status, 202, JSON.stringify(r.body));
      return waitFor(`${name} to settle`, async () => {
        const s = (await api(admin, 'GET', compute(`/servers/${r.body.server.id}`), undefined, MV)).body.server as Server;
        return s.status === 'ACTIVE' || s.status === 'ERROR' ? s : undefined;
      }, 60_000);
    };

    const a = await boot('bm-a');
    const b = await boot('bm-b');
    assert.deepEqual([a.status, b.status], ['ACTIVE', 'ACTIVE'], JSON.stringify([a.fault, b.fault]));
    const placed = [a, b].map((s) => s['OS-EXT-SRV-ATTR:hypervisor_hostname']);
    assert.deepEqual([...placed].sort(), [...nodes].sort(), 'one server per node');
    for (const s of [a, b]) {
      const node = (await bm('GET', `/v1/nodes/${s['OS-EXT-SRV-ATTR:hypervisor_hostname']}`)).body;
      assert.deepEqual([node.provision_state, node.power_state, node.instance_uuid], ['active', 'power on', s.id]);
      assert.equal(node.instance_info.image_source, imageRef);
    }

    const c = await boot('bm-c');
    assert.equal(c.status, 'ERROR');
    assert.match(c.fault?.message ?? '', /No valid host/);

    // A hard reboot is a power cycle of that node, recorded in its history.
    const nodeA = a['OS-EXT-SRV-ATTR:hypervisor_hostname']!;
    assert.equal((await api(admin, 'POST', compute(`/servers/${a.id}/action`), { reboot: { type: 'HARD' } }, MV)).status, 202);
    await waitFor('the reboot to be done', async () => {
      const s = (await api(admin, 'GET', compute(`/servers/${a.id}`), undefined, MV)).body.server as Server & { 'OS-EXT-STS:task_state'?: string | null };
      return s.status === 'ACTIVE' && !s['OS-EXT-STS:task_state'] ? s : undefined;
    });
    const history = await listNodeHistory(cloud.db, nodeA, 200);
    assert.ok(history.some((h) => /reboot/.test(`${h.event} ${h.message}`)), `the node's history records the reboot: ${JSON.stringify(history.map((h) => h.event))}`);

    // Delete: the node is undeployed, cleaned, powered off and available; a new boot takes it.
    assert.equal((await api(admin, 'DELETE', compute(`/servers/${a.id}`))).status, 204);
    const freed = await waitFor('the node back to available', async () => {
      const n = (await bm('GET', `/v1/nodes/${nodeA}`)).body;
      return n.provision_state === 'available' && !n.target_provision_state ? n : undefined;
    });
    assert.deepEqual([freed.power_state, freed.instance_uuid], ['power off', null]);
    const d = await waitFor('a boot onto the freed node', async () => {
      const s = await boot(`bm-d-${Date.now()}`);
      if (s.status === 'ACTIVE') return s;
      await api(admin, 'DELETE', compute(`/servers/${s.id}`));
      return undefined;
    }, 60_000);
    assert.equal(d['OS-EXT-SRV-ATTR:hypervisor_hostname'], nodeA);
  });

  it('shows a node enrolled and provided as a new hypervisor, and one taken out of service leaving', async () => {
    const target: IronicTarget = { name: 'orrery', url: cloud.urls.baremetal, config: {}, refusesMissingTraits: false, headers: async () => ({ 'x-auth-token': admin.token }) };
    const hostnames = async () => ((await api(admin, 'GET', compute('/os-hypervisors/detail'), undefined, MV)).body.hypervisors as Array<{ hypervisor_hostname: string }>)
      .map((h) => h.hypervisor_hostname);
    const extra = await availableNode(target, 'baremetal');
    await waitFor('the new node as a hypervisor', async () => ((await hostnames()).includes(extra) ? true : undefined));
    assert.equal((await bm('PUT', `/v1/nodes/${extra}/states/provision`, { target: 'manage' })).status, 202);
    await waitFor('the managed node to leave the hypervisors', async () => ((await hostnames()).includes(extra) ? undefined : true));
    const left = await hostnames();
    assert.ok(nodes.every((n) => left.includes(n)), 'the other nodes stay');
  });
});
