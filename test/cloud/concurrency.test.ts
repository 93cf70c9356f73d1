import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

/**
 * Concurrent boots never overcommit a node, and quotas hold under concurrency.
 * Two hosts, each with memory for exactly 20 m1.tiny (512 MB) at a 1.0 RAM ratio: room for 40.
 */
describe('concurrency', () => {
  let cloud: TestCloud;
  let admin: Session;

  before(async () => {
    cloud = await startTestCloud({
      DEFAULT: { ram_allocation_ratio: '1.0' },
      fake: { memory_mb: String(20 * 512), vcpus: '64', disk_gb: '1000' },
    });
    admin = await login(cloud, 'admin', 'secret', 'admin');
  });
  after(async () => {
    await cloud?.close();
  });

  const boot = (s: Session, name: string) => api(s, 'POST', `${cloud.urls.compute}/v2.1/servers`, {
    server: { name, imageRef: imageId, flavorRef: '1', networks: 'none' },
  }, { 'openstack-api-version': 'compute 2.37' });
  let imageId = '';

  it('50 parallel creates against room for 40 → exactly 40 ACTIVE and 10 ERROR, no node over capacity', async () => {
    const images = await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`);
    imageId = images.body.images[0].id;
    const quota = await api(admin, 'PUT', `${cloud.urls.compute}/v2.1/os-quota-sets/${admin.projectId}`, {
      quota_set: { instances: 100, cores: 200, ram: 100 * 1024 },
    });
    assert.equal(quota.status, 200);

    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => boot(admin, `c${i}`)));
    assert.deepEqual(results.map((r) => r.status), Array(50).fill(202));

    const servers = await waitFor('all 50 servers to settle', async () => {
      const r = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/detail`);
      const list = r.body.servers as Array<{ status: string; fault?: { message: string } }>;
      return list.length === 50 && list.every((s) => s.status === 'ACTIVE' || s.status === 'ERROR') ? list : undefined;
    });
    assert.equal(servers.filter((s) => s.status === 'ACTIVE').length, 40);
    const errors = servers.filter((s) => s.status === 'ERROR');
    assert.equal(errors.length, 10);
    for (const e of errors) assert.match(e.fault!.message, /No valid host/);

    const hv = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/os-hypervisors/detail`);
    for (const h of hv.body.hypervisors) {
      assert.ok(h.memory_mb_used <= h.memory_mb, `${h.hypervisor_hostname} over capacity: ${h.memory_mb_used} > ${h.memory_mb}`);
      assert.equal(h.running_vms, 20);
    }
  });

  it('50 parallel creates by a project with an instance quota of 10 → exactly 10 accepted, 40 refused with 403', async () => {
    const projects = await api(admin, 'POST', `${cloud.urls.identity}/v3/projects`, { project: { name: 'quota-p', domain_id: 'default' } });
    const projectId = projects.body.project.id;
    const user = await api(admin, 'POST', `${cloud.urls.identity}/v3/users`, {
      user: { name: 'quota-u', password: 'pw', domain_id: 'default', default_project_id: projectId },
    });
    const roles = await api(admin, 'GET', `${cloud.urls.identity}/v3/roles?name=member`);
    const grant = await api(admin, 'PUT', `${cloud.urls.identity}/v3/projects/${projectId}/users/${user.body.user.id}/roles/${roles.body.roles[0].id}`);
    assert.equal(grant.status, 204);
    const setQuota = await api(admin, 'PUT', `${cloud.urls.compute}/v2.1/os-quota-sets/${projectId}`, { quota_set: { instances: 10 } });
    assert.equal(setQuota.status, 200);
    const member = await login(cloud, 'quota-u', 'pw', 'quota-p');

    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => boot(member, `q${i}`)));
    const accepted = results.filter((r) => r.status === 202);
    const refused = results.filter((r) => r.status === 403);
    assert.equal(accepted.length, 10);
    assert.equal(refused.length, 40);
    for (const r of refused) assert.match(r.body.forbidden.message, /Quota exceeded for instances/);
  });
});
