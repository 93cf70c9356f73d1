import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as aggregates from '../../src/api/aggregates.js';
import * as hypervisors from '../../src/api/hypervisors.js';
import * as osHosts from '../../src/api/os-hosts.js';
import * as quotaClassSets from '../../src/api/quota-class-sets.js';
import * as quotaSets from '../../src/api/quota-sets.js';
import * as services from '../../src/api/services.js';
import { addComputeHost, addInstance, call, startHarness, type Harness } from './harness.js';

/** Microversions 2.38–2.93 of the admin resources: services, hypervisors, aggregates, os-hosts, quota classes. */
describe('microversions of services, hypervisors, aggregates, os-hosts and quota classes', () => {
  let h: Harness;
  let node: { id: number; uuid: string; name: string };
  let serviceId: number;
  let serviceUuid: string;
  before(async () => {
    h = await startHarness([services.register, hypervisors.register, aggregates.register, osHosts.register, quotaClassSets.register, quotaSets.register]);
    const c = await addComputeHost(h.db, 'compute1');
    node = c.nodes[0]!;
    serviceId = c.serviceId;
    serviceUuid = (await h.db.selectFrom('services').select('uuid').where('id', '=', serviceId).executeTakeFirstOrThrow()).uuid;
    await addComputeHost(h.db, 'compute2');
    await addInstance(h.db, { projectId: h.member.projectId, userId: h.member.userId, host: 'compute1', nodeUuid: node.uuid, vcpus: 2, memoryMb: 1024, rootGb: 5 });
    await h.db.updateTable('compute_nodes').set({ started_at: new Date(Date.now() - (2 * 86400 + 3 * 3600 + 4 * 60) * 1000).toISOString() }).where('uuid', '=', node.uuid).execute();
  });
  after(async () => h.close());

  it('2.53 service uuids, update and delete by uuid', async () => {
    const list = await call(h, h.admin, 'GET', '/v2.1/os-services?host=compute1', undefined, '2.53');
    assert.equal(list.body.services[0].id, serviceUuid);
    const put = await call(h, h.admin, 'PUT', `/v2.1/os-services/${serviceUuid}`, { status: 'disabled', disabled_reason: 'maintenance' }, '2.53');
    assert.equal(put.status, 200);
    assert.deepEqual([put.body.service.id, put.body.service.status, put.body.service.disabled_reason], [serviceUuid, 'disabled', 'maintenance']);
    const back = await call(h, h.admin, 'PUT', `/v2.1/os-services/${serviceUuid}`, { status: 'enabled' }, '2.53');
    assert.deepEqual([back.body.service.status, back.body.service.disabled_reason], ['enabled', null]);
    assert.equal((await call(h, h.admin, 'PUT', `/v2.1/os-services/${serviceUuid}`, {}, '2.53')).status, 400);
    assert.equal((await call(h, h.admin, 'PUT', `/v2.1/os-services/${serviceUuid}`, { status: 'enabled', disabled_reason: 'x' }, '2.53')).status, 400);
    assert.equal((await call(h, h.admin, 'PUT', `/v2.1/os-services/${serviceUuid}`, { host: 'compute1', binary: 'nova-compute' }, '2.53')).status, 400);
    assert.equal((await call(h, h.admin, 'PUT', '/v2.1/os-services/disable', { status: 'disabled' }, '2.53')).status, 400);
    assert.equal((await call(h, h.admin, 'PUT', '/v2.1/os-services/00000000-0000-0000-0000-000000000000', { status: 'disabled' }, '2.53')).status, 404);
    assert.equal((await call(h, h.admin, 'DELETE', `/v2.1/os-services/${serviceId}`, undefined, '2.53')).status, 400);
    assert.equal((await call(h, h.admin, 'DELETE', '/v2.1/os-services/00000000-0000-0000-0000-000000000000', undefined, '2.53')).status, 404);
  });

  it('2.52 service integer ids and action updates', async () => {
    const list = await call(h, h.admin, 'GET', '/v2.1/os-services?host=compute1', undefined, '2.52');
    assert.equal(list.body.services[0].id, serviceId);
    const r = await call(h, h.admin, 'PUT', '/v2.1/os-services/disable', { host: 'compute1', binary: 'nova-compute' }, '2.52');
    assert.deepEqual(r.body, { service: { host: 'compute1', binary: 'nova-compute', status: 'disabled' } });
    await call(h, h.admin, 'PUT', '/v2.1/os-services/enable', { host: 'compute1', binary: 'nova-compute' }, '2.52');
    assert.equal((await call(h, h.admin, 'PUT', `/v2.1/os-services/${serviceUuid}`, { status: 'disabled' }, '2.52')).status, 400);
    // A negative id is valid for Nova and matches nothing.
    assert.equal((await call(h, h.admin, 'DELETE', '/v2.1/os-services/-5', undefined, '2.52')).status, 404);
    assert.equal((await call(h, h.admin, 'DELETE', '/v2.1/os-services/abc', undefined, '2.52')).status, 400);
  });

  it('2.53 hypervisor uuids, hostname pattern and with_servers', async () => {
    const list = await call(h, h.admin, 'GET', '/v2.1/os-hypervisors?hypervisor_hostname_pattern=compute1&with_servers=true', undefined, '2.53');
    assert.equal(list.status, 200);
    assert.equal(list.body.hypervisors.length, 1);
    assert.equal(list.body.hypervisors[0].id, node.uuid);
    assert.equal(list.body.hypervisors[0].servers.length, 1);
    const show = await call(h, h.admin, 'GET', `/v2.1/os-hypervisors/${node.uuid}`, undefined, '2.53');
    assert.equal(show.body.hypervisor.id, node.uuid);
    assert.equal(show.body.hypervisor.service.id, serviceUuid);
    assert.equal((await call(h, h.admin, 'GET', `/v2.1/os-hypervisors/${node.id}`, undefined, '2.53')).status, 400);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors?hypervisor_hostname_pattern=nomatch', undefined, '2.53')).status, 404);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors?hypervisor_hostname_pattern=c&limit=1', undefined, '2.53')).status, 400);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors?with_servers=maybe', undefined, '2.53')).status, 400);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors?bogus=1', undefined, '2.53')).status, 400);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/compute/search', undefined, '2.53')).status, 404);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/compute/servers', undefined, '2.53')).status, 404);
    const page = await call(h, h.admin, 'GET', '/v2.1/os-hypervisors?limit=1', undefined, '2.53');
    assert.match(page.body.hypervisors_links[0].href, new RegExp(`marker=${page.body.hypervisors[0].id}`));
  });

  it('2.52 hypervisor integer ids, search and servers', async () => {
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors', undefined, '2.52')).body.hypervisors[0].id, node.id);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/compute/search', undefined, '2.52')).status, 200);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/-1', undefined, '2.52')).status, 404);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/abc', undefined, '2.52')).status, 404);
  });

  it('2.75 hypervisor servers always listed', async () => {
    const r = await call(h, h.admin, 'GET', '/v2.1/os-hypervisors?hypervisor_hostname_pattern=compute2&with_servers=1', undefined, '2.75');
    assert.deepEqual(r.body.hypervisors[0].servers, []);
  });

  it('2.74 hypervisor servers only when there are some', async () => {
    const r = await call(h, h.admin, 'GET', '/v2.1/os-hypervisors?hypervisor_hostname_pattern=compute2&with_servers=1', undefined, '2.74');
    assert.equal(Object.hasOwn(r.body.hypervisors[0], 'servers'), false);
  });

  it('2.88 hypervisor figures gone, uptime in the detail, statistics and uptime routes 404', async () => {
    const show = await call(h, h.admin, 'GET', `/v2.1/os-hypervisors/${node.uuid}`, undefined, '2.88');
    for (const k of ['vcpus', 'memory_mb', 'local_gb', 'vcpus_used', 'free_ram_mb', 'running_vms', 'cpu_info', 'disk_available_least', 'current_workload']) {
      assert.equal(Object.hasOwn(show.body.hypervisor, k), false, k);
    }
    assert.match(show.body.hypervisor.uptime, /^ \d\d:\d\d:\d\d up 2 days, 3:04$/);
    const other = (await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/detail', undefined, '2.88')).body.hypervisors.find((x: { id: string }) => x.id !== node.uuid);
    assert.equal(other.uptime, null);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/statistics', undefined, '2.88')).status, 404);
    assert.equal((await call(h, h.admin, 'GET', `/v2.1/os-hypervisors/${node.uuid}/uptime`, undefined, '2.88')).status, 404);
  });

  it('2.87 hypervisor figures, statistics and the uptime route', async () => {
    const show = await call(h, h.admin, 'GET', `/v2.1/os-hypervisors/${node.uuid}`, undefined, '2.87');
    assert.equal(show.body.hypervisor.vcpus_used, 2);
    assert.equal(Object.hasOwn(show.body.hypervisor, 'uptime'), false);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hypervisors/statistics', undefined, '2.87')).status, 200);
    const up = await call(h, h.admin, 'GET', `/v2.1/os-hypervisors/${node.uuid}/uptime`, undefined, '2.87');
    assert.equal(up.status, 200);
    assert.match(up.body.hypervisor.uptime, / up 2 days, 3:04$/);
    assert.equal((await call(h, h.admin, 'GET', `/v2.1/os-hypervisors/${node.id}/uptime`)).status, 200);
    // A node whose driver reports no start: Nova's 501.
    const other = (await call(h, h.admin, 'GET', '/v2.1/os-hypervisors')).body.hypervisors.find((x: { id: number }) => x.id !== node.id);
    assert.equal((await call(h, h.admin, 'GET', `/v2.1/os-hypervisors/${other.id}/uptime`)).status, 501);
  });

  it('2.41 aggregate uuid', async () => {
    const r = await call(h, h.admin, 'POST', '/v2.1/os-aggregates', { aggregate: { name: 'agg241' } }, '2.41');
    assert.match(r.body.aggregate.uuid, /^[0-9a-f-]{36}$/);
    const show = await call(h, h.admin, 'GET', `/v2.1/os-aggregates/${r.body.aggregate.id}`, undefined, '2.41');
    assert.equal(show.body.aggregate.uuid, r.body.aggregate.uuid);
  });

  it('2.40 aggregate without uuid; negative ids not found', async () => {
    const r = await call(h, h.admin, 'POST', '/v2.1/os-aggregates', { aggregate: { name: 'agg240' } }, '2.40');
    assert.equal(Object.hasOwn(r.body.aggregate, 'uuid'), false);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-aggregates/-3')).status, 404);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-aggregates/x')).status, 400);
  });

  it('2.81 aggregate image cache', async () => {
    const agg = (await call(h, h.admin, 'POST', '/v2.1/os-aggregates', { aggregate: { name: 'agg281' } })).body.aggregate;
    const img = '11111111-2222-3333-4444-555555555555';
    const r = await call(h, h.admin, 'POST', `/v2.1/os-aggregates/${agg.id}/images`, { cache: [{ id: img }] }, '2.81');
    assert.equal(r.status, 501);
    assert.equal((await call(h, h.admin, 'POST', `/v2.1/os-aggregates/${agg.id}/images`, { cache: [{ id: img }, { id: img }] }, '2.81')).status, 400);
    assert.equal((await call(h, h.admin, 'POST', `/v2.1/os-aggregates/${agg.id}/images`, { cache: [] }, '2.81')).status, 400);
    assert.equal((await call(h, h.admin, 'POST', '/v2.1/os-aggregates/99999/images', { cache: [{ id: img }] }, '2.81')).status, 404);
    assert.equal((await call(h, h.member, 'POST', `/v2.1/os-aggregates/${agg.id}/images`, { cache: [{ id: img }] }, '2.81')).status, 403);
  });

  it('2.80 aggregate image cache absent', async () => {
    const agg = (await call(h, h.admin, 'POST', '/v2.1/os-aggregates', { aggregate: { name: 'agg280' } })).body.aggregate;
    assert.equal((await call(h, h.admin, 'POST', `/v2.1/os-aggregates/${agg.id}/images`, { cache: [{ id: '11111111-2222-3333-4444-555555555555' }] }, '2.80')).status, 404);
  });

  it('2.43 os-hosts gone', async () => {
    for (const path of ['/os-hosts', '/os-hosts/compute1', '/os-hosts/compute1/reboot']) {
      assert.equal((await call(h, h.admin, 'GET', `/v2.1${path}`, undefined, '2.43')).status, 404, path);
    }
  });

  it('2.42 os-hosts list, show, update and power actions', async () => {
    const list = await call(h, h.admin, 'GET', '/v2.1/os-hosts', undefined, '2.42');
    assert.deepEqual(list.body.hosts.find((x: { host_name: string }) => x.host_name === 'compute1'), { host_name: 'compute1', service: 'compute', zone: 'nova' });
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hosts?zone=elsewhere', undefined, '2.42')).body.hosts.length, 0);
    const show = await call(h, h.admin, 'GET', '/v2.1/os-hosts/compute1', undefined, '2.42');
    const byProject = new Map(show.body.host.map((e: { resource: { project: string } }) => [e.resource.project, e.resource]));
    assert.deepEqual(byProject.get('(total)'), { host: 'compute1', project: '(total)', cpu: 8, memory_mb: 16384, disk_gb: 100 });
    assert.deepEqual(byProject.get('(used_max)'), { host: 'compute1', project: '(used_max)', cpu: 2, memory_mb: 1024, disk_gb: 5 });
    assert.deepEqual(byProject.get(h.member.projectId), { host: 'compute1', project: h.member.projectId, cpu: 2, memory_mb: 1024, disk_gb: 5 });
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hosts/nowhere', undefined, '2.42')).status, 404);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/os-hosts', undefined, '2.42')).status, 403);
    const put = await call(h, h.admin, 'PUT', '/v2.1/os-hosts/compute2', { status: 'disable' }, '2.42');
    assert.deepEqual(put.body, { host: 'compute2', status: 'disabled' });
    await call(h, h.admin, 'PUT', '/v2.1/os-hosts/compute2', { status: 'enable' }, '2.42');
    assert.equal((await call(h, h.admin, 'PUT', '/v2.1/os-hosts/compute2', { maintenance_mode: 'enable' }, '2.42')).status, 501);
    assert.equal((await call(h, h.admin, 'PUT', '/v2.1/os-hosts/compute2', {}, '2.42')).status, 400);
    assert.equal((await call(h, h.admin, 'PUT', '/v2.1/os-hosts/compute2', { status: 'off' }, '2.42')).status, 400);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-hosts/compute1/reboot', undefined, '2.42')).status, 501);
  });

  it('2.50 quota classes with server group quotas, without network quotas', async () => {
    const r = await call(h, h.admin, 'GET', '/v2.1/os-quota-class-sets/default', undefined, '2.50');
    assert.equal(r.body.quota_class_set.id, 'default');
    assert.equal(r.body.quota_class_set.server_groups, 10);
    for (const k of ['fixed_ips', 'floating_ips', 'networks', 'security_groups', 'security_group_rules']) assert.equal(r.body.quota_class_set[k], undefined, k);
    assert.equal((await call(h, h.admin, 'PUT', '/v2.1/os-quota-class-sets/default', { quota_class_set: { floating_ips: 3 } }, '2.50')).status, 400);
    const put = await call(h, h.admin, 'PUT', '/v2.1/os-quota-class-sets/default', { quota_class_set: { instances: 15, server_group_members: 12 } }, '2.50');
    assert.equal(put.status, 200);
    assert.deepEqual([put.body.quota_class_set.instances, put.body.quota_class_set.server_group_members, put.body.quota_class_set.id], [15, 12, undefined]);
    // The default class is every project's default.
    assert.equal((await call(h, h.member, 'GET', `/v2.1/os-quota-sets/${h.member.projectId}`)).body.quota_set.instances, 15);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/os-quota-class-sets/default', undefined, '2.50')).status, 403);
    assert.equal((await call(h, h.admin, 'PUT', '/v2.1/os-quota-class-sets/default', { quota_class_set: { instances: 'many' } }, '2.50')).status, 400);
    await call(h, h.admin, 'PUT', '/v2.1/os-quota-class-sets/default', { quota_class_set: { instances: 10 } }, '2.50');
  });

  it('2.49 quota classes with network quotas, without server group quotas', async () => {
    const r = await call(h, h.admin, 'GET', '/v2.1/os-quota-class-sets/default', undefined, '2.49');
    assert.equal(r.body.quota_class_set.networks, -1);
    assert.equal(r.body.quota_class_set.floating_ips, 10);
    assert.equal(r.body.quota_class_set.server_groups, undefined);
    assert.equal((await call(h, h.admin, 'PUT', '/v2.1/os-quota-class-sets/default', { quota_class_set: { server_groups: 3 } }, '2.49')).status, 400);
  });

  it('2.57 quota classes without file quotas', async () => {
    const r = await call(h, h.admin, 'GET', '/v2.1/os-quota-class-sets/default', undefined, '2.57');
    assert.equal(r.body.quota_class_set.injected_files, undefined);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-quota-class-sets/default', undefined, '2.56')).body.quota_class_set.injected_files, 5);
  });
});
