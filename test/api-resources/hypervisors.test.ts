import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { register } from '../../src/api/hypervisors.js';
import { addComputeHost, addInstance, call, startHarness, type Harness } from './harness.js';

describe('os-hypervisors API', () => {
  let h: Harness;
  let n1: { id: number; uuid: string };
  let n2: { id: number; uuid: string };
  let bm: Array<{ id: number; uuid: string; name: string }>;
  let svc1: number;
  before(async () => {
    h = await startHarness([register]);
    const c1 = await addComputeHost(h.db, 'compute1', { vcpus: 8, memoryMb: 16384, diskGb: 100 });
    svc1 = c1.serviceId;
    n1 = c1.nodes[0]!;
    n2 = (await addComputeHost(h.db, 'compute2', { disabled: true, up: false, vcpus: 4, memoryMb: 8192, diskGb: 50 })).nodes[0]!;
    // a clustered driver: one host, three nodes
    bm = (await addComputeHost(h.db, 'ironic', { nodes: 3, vcpus: 2, memoryMb: 4096, diskGb: 10 })).nodes;
    await addInstance(h.db, { projectId: h.member.projectId, userId: h.member.userId, host: 'compute1', nodeUuid: n1.uuid, vcpus: 2, memoryMb: 2048, rootGb: 20 });
    await addInstance(h.db, { projectId: h.member.projectId, userId: h.member.userId, host: 'compute1', nodeUuid: n1.uuid, vcpus: 1, memoryMb: 512, rootGb: 1, taskState: 'spawning' });
  });
  after(async () => h.close());

  it('is admin only', async () => {
    for (const path of ['/os-hypervisors', '/os-hypervisors/detail', '/os-hypervisors/statistics', `/os-hypervisors/${n1.id}`]) {
      assert.equal((await call(h, h.member, 'GET', `/v2.1${path}`)).status, 403, path);
    }
  });

  it('lists hypervisors with state and status', async () => {
    const r = await call(h, h.admin, 'GET', '/v2.1/os-hypervisors');
    assert.equal(r.status, 200);
    assert.equal(r.body.hypervisors.length, 5);
    assert.deepEqual(r.body.hypervisors[0], { id: n1.id, hypervisor_hostname: 'compute1', state: 'up', status: 'enabled' });
    assert.deepEqual(r.body.hypervisors[1], { id: n2.id, hypervisor_hostname: 'compute2', state: 'down', status: 'disabled' });
    assert.deepEqual(r.body.hypervisors.slice(2).map((x: { hypervisor_hostname: string }) => x.hypervisor_hostname), bm.map((n) => n.name));
  });

  it('details resources from the inventories and usage from the instances', async () => {
    const r = await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/detail');
    const d = r.body.hypervisors[0];
    assert.deepEqual(Object.keys(d).sort(), [
      'cpu_info', 'current_workload', 'disk_available_least', 'free_disk_gb', 'free_ram_mb', 'host_ip', 'hypervisor_hostname',
      'hypervisor_type', 'hypervisor_version', 'id', 'local_gb', 'local_gb_used', 'memory_mb', 'memory_mb_used', 'running_vms',
      'service', 'state', 'status', 'vcpus', 'vcpus_used',
    ]);
    assert.deepEqual(
      [d.vcpus, d.vcpus_used, d.memory_mb, d.memory_mb_used, d.free_ram_mb, d.local_gb, d.local_gb_used, d.free_disk_gb, d.disk_available_least],
      [8, 3, 16384, 512 + 2560, 16384 - 512 - 2560, 100, 21, 79, 79],
    );
    assert.deepEqual([d.running_vms, d.current_workload, d.hypervisor_type, d.hypervisor_version, d.host_ip], [2, 1, 'fake', 1000, '192.0.2.10']);
    assert.deepEqual(d.service, { id: svc1, host: 'compute1', disabled_reason: null });
    // cpu_info is a JSON string before 2.28 and an object from it
    assert.equal(typeof d.cpu_info, 'string');
    assert.equal(JSON.parse(d.cpu_info).model, 'Nehalem');
    const v228 = await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/detail', undefined, '2.28');
    assert.equal(v228.body.hypervisors[0].cpu_info.model, 'Nehalem');
  });

  it('shows one hypervisor; 404 for unknown ids', async () => {
    const r = await call(h, h.admin, 'GET', `/v2.1/os-hypervisors/${n2.id}`, undefined, '2.28');
    assert.equal(r.status, 200);
    assert.equal(r.body.hypervisor.hypervisor_hostname, 'compute2');
    assert.equal(r.body.hypervisor.running_vms, 0);
    assert.equal(typeof r.body.hypervisor.cpu_info, 'object');
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/9999')).status, 404);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/abc')).status, 404);
  });

  it('sums the nodes of enabled services in statistics', async () => {
    const r = await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/statistics');
    assert.equal(r.status, 200);
    const s = r.body.hypervisor_statistics;
    assert.deepEqual(Object.keys(s).sort(), [
      'count', 'current_workload', 'disk_available_least', 'free_disk_gb', 'free_ram_mb', 'local_gb', 'local_gb_used', 'memory_mb',
      'memory_mb_used', 'running_vms', 'vcpus', 'vcpus_used',
    ]);
    // compute1 and the three ironic nodes; compute2 is disabled
    assert.deepEqual([s.count, s.vcpus, s.vcpus_used, s.memory_mb, s.memory_mb_used, s.local_gb, s.running_vms],
      [4, 8 + 3 * 2, 3, 16384 + 3 * 4096, 3072 + 3 * 512, 100 + 3 * 10, 2]);
  });

  it('pages with limit and marker from 2.33', async () => {
    const first = await call(h, h.admin, 'GET', '/v2.1/os-hypervisors?limit=2', undefined, '2.33');
    assert.deepEqual(first.body.hypervisors.map((x: { id: number }) => x.id), [n1.id, n2.id]);
    const next = new URL(first.body.hypervisors_links[0].href);
    assert.equal(next.pathname, '/v2.1/os-hypervisors');
    assert.equal(next.searchParams.get('marker'), String(n2.id));
    const rest = await call(h, h.admin, 'GET', `/v2.1/os-hypervisors/detail?limit=10&marker=${n2.id}`, undefined, '2.33');
    assert.deepEqual(rest.body.hypervisors.map((x: { id: number }) => x.id), bm.map((n) => n.id));
    assert.equal(rest.body.hypervisors_links, undefined);
    const detailNext = await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/detail?limit=1', undefined, '2.33');
    assert.equal(new URL(detailNext.body.hypervisors_links[0].href).pathname, '/v2.1/os-hypervisors/detail');
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors?marker=9999', undefined, '2.33')).status, 400);
    // before 2.33 paging parameters are ignored
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors?limit=1', undefined, '2.32')).body.hypervisors.length, 5);
  });

  it('searches hypervisors by name and lists their servers', async () => {
    const r = await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/ironic/search');
    assert.equal(r.status, 200);
    assert.equal(r.body.hypervisors.length, 3);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/nothing/search')).status, 404);
    const s = await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/compute/servers');
    assert.equal(s.status, 200);
    const c1 = s.body.hypervisors.find((x: { hypervisor_hostname: string }) => x.hypervisor_hostname === 'compute1');
    assert.equal(c1.servers.length, 2);
    assert.match(c1.servers[0].name, /^instance-[0-9a-f]{8}$/);
    assert.ok(!('servers' in s.body.hypervisors.find((x: { hypervisor_hostname: string }) => x.hypervisor_hostname === 'compute2')));
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/nothing/servers')).status, 404);
  });

  it('answers 501 for uptime, which no driver reports', async () => {
    assert.equal((await call(h, h.admin, 'GET', `/v2.1/os-hypervisors/${n1.id}/uptime`)).status, 501);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/9999/uptime')).status, 404);
  });
});
