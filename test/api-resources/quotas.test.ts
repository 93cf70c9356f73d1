import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { register as registerLimits } from '../../src/api/limits.js';
import { register as registerQuotas } from '../../src/api/quota-sets.js';
import { getInstanceUsage, getProjectLimits } from '../../src/db/quotas.js';
import { addInstance, call, startHarness, type Harness } from './harness.js';

const ALL_RESOURCES = [
  'cores', 'fixed_ips', 'floating_ips', 'injected_file_content_bytes', 'injected_file_path_bytes', 'injected_files', 'instances',
  'key_pairs', 'metadata_items', 'ram', 'security_group_rules', 'security_groups', 'server_group_members', 'server_groups',
];
const RESOURCES_2_36 = ALL_RESOURCES.filter((r) => !['fixed_ips', 'floating_ips', 'security_group_rules', 'security_groups'].includes(r));

describe('limits and os-quota-sets API', () => {
  let h: Harness;
  before(async () => {
    // [quota] options override Nova's defaults
    h = await startHarness([registerLimits, registerQuotas], { quota: { instances: '12', injected_files: '7' } });
    await addInstance(h.db, { projectId: h.member.projectId, userId: h.member.userId, vcpus: 2, memoryMb: 2048 });
    await addInstance(h.db, { projectId: h.member.projectId, userId: h.peer.userId, vcpus: 4, memoryMb: 4096 });
  });
  after(async () => h.close());

  const qs = (project: string, suffix = ''): string => `/v2.1/os-quota-sets/${project}${suffix}`;

  it('counts usage and merges limits with defaults', async () => {
    assert.deepEqual(await getInstanceUsage(h.db, h.member.projectId), { instances: 2, cores: 6, ram: 6144 });
    assert.deepEqual(await getInstanceUsage(h.db, h.member.projectId, h.peer.userId), { instances: 1, cores: 4, ram: 4096 });
    assert.deepEqual(await getInstanceUsage(h.db, h.other.projectId), { instances: 0, cores: 0, ram: 0 });
    const limits = await getProjectLimits(h.db, h.config, h.member.projectId);
    assert.deepEqual([limits.instances, limits.cores, limits.ram, limits.key_pairs, limits.injected_files, limits.server_groups], [12, 20, 51200, 100, 7, 10]);
  });

  it('reports absolute limits and usage', async () => {
    const r = await call(h, h.member, 'GET', '/v2.1/limits');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.limits.rate, []);
    const a = r.body.limits.absolute;
    assert.deepEqual(Object.keys(a).sort(), [
      'maxImageMeta', 'maxPersonality', 'maxPersonalitySize', 'maxSecurityGroupRules', 'maxSecurityGroups', 'maxServerGroupMembers',
      'maxServerGroups', 'maxServerMeta', 'maxTotalCores', 'maxTotalFloatingIps', 'maxTotalInstances', 'maxTotalKeypairs',
      'maxTotalRAMSize', 'totalCoresUsed', 'totalFloatingIpsUsed', 'totalInstancesUsed', 'totalRAMUsed', 'totalSecurityGroupsUsed',
      'totalServerGroupsUsed',
    ]);
    assert.deepEqual([a.maxTotalInstances, a.maxTotalCores, a.maxTotalRAMSize, a.maxPersonality, a.maxServerMeta, a.maxImageMeta],
      [12, 20, 51200, 7, 128, 128]);
    assert.deepEqual([a.totalInstancesUsed, a.totalCoresUsed, a.totalRAMUsed], [2, 6, 6144]);
    const v236 = (await call(h, h.member, 'GET', '/v2.1/limits', undefined, '2.36')).body.limits.absolute;
    for (const gone of ['maxSecurityGroups', 'maxSecurityGroupRules', 'maxTotalFloatingIps', 'totalFloatingIpsUsed', 'totalSecurityGroupsUsed']) {
      assert.ok(!(gone in v236), gone);
    }
    assert.equal(v236.maxImageMeta, 128);
  });

  it('shows another project\'s limits to admins only', async () => {
    const admin = await call(h, h.admin, 'GET', `/v2.1/limits?tenant_id=${h.member.projectId}`);
    assert.equal(admin.body.limits.absolute.totalInstancesUsed, 2);
    assert.equal((await call(h, h.other, 'GET', `/v2.1/limits?tenant_id=${h.member.projectId}`)).status, 403);
    assert.equal((await call(h, h.member, 'GET', `/v2.1/limits?tenant_id=${h.member.projectId}`)).status, 200);
    assert.equal((await call(h, h.other, 'GET', '/v2.1/limits')).body.limits.absolute.totalInstancesUsed, 0);
  });

  it('shows quota sets: members their own project, admins any', async () => {
    const r = await call(h, h.member, 'GET', qs(h.member.projectId));
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body.quota_set).sort(), ['id', ...ALL_RESOURCES].sort());
    assert.equal(r.body.quota_set.id, h.member.projectId);
    assert.equal(r.body.quota_set.instances, 12);
    assert.equal((await call(h, h.other, 'GET', qs(h.member.projectId))).status, 403);
    assert.equal((await call(h, h.admin, 'GET', qs(h.member.projectId))).status, 200);
    const v236 = await call(h, h.member, 'GET', qs(h.member.projectId), undefined, '2.36');
    assert.deepEqual(Object.keys(v236.body.quota_set).sort(), ['id', ...RESOURCES_2_36].sort());
  });

  it('shows defaults and details with usage', async () => {
    const d = await call(h, h.other, 'GET', qs(h.member.projectId, '/defaults'));
    assert.equal(d.status, 200);
    assert.equal(d.body.quota_set.id, h.member.projectId);
    assert.equal(d.body.quota_set.instances, 12);
    const detail = await call(h, h.member, 'GET', qs(h.member.projectId, '/detail'));
    assert.equal(detail.status, 200);
    assert.deepEqual(detail.body.quota_set.instances, { in_use: 2, limit: 12, reserved: 0 });
    assert.deepEqual(detail.body.quota_set.cores, { in_use: 6, limit: 20, reserved: 0 });
    assert.deepEqual(detail.body.quota_set.ram, { in_use: 6144, limit: 51200, reserved: 0 });
    assert.deepEqual(detail.body.quota_set.key_pairs, { in_use: 0, limit: 100, reserved: 0 });
    const mine = await call(h, h.member, 'GET', qs(h.member.projectId, `/detail?user_id=${h.member.userId}`));
    assert.deepEqual(mine.body.quota_set.instances, { in_use: 1, limit: 12, reserved: 0 });
    assert.equal((await call(h, h.member, 'GET', qs(h.member.projectId, `/detail?user_id=${h.peer.userId}`))).status, 403);
    assert.equal((await call(h, h.other, 'GET', qs(h.member.projectId, '/detail'))).status, 403);
  });

  it('updates quotas (admin only), refusing limits below usage unless forced', async () => {
    assert.equal((await call(h, h.member, 'PUT', qs(h.member.projectId), { quota_set: { instances: 50 } })).status, 403);
    const r = await call(h, h.admin, 'PUT', qs(h.member.projectId), { quota_set: { instances: 5, cores: '8', key_pairs: -1 } });
    assert.equal(r.status, 200);
    assert.ok(!('id' in r.body.quota_set));
    assert.deepEqual([r.body.quota_set.instances, r.body.quota_set.cores, r.body.quota_set.key_pairs, r.body.quota_set.ram], [5, 8, -1, 51200]);
    assert.equal((await call(h, h.member, 'GET', qs(h.member.projectId))).body.quota_set.instances, 5);

    const below = await call(h, h.admin, 'PUT', qs(h.member.projectId), { quota_set: { instances: 1 } });
    assert.equal(below.status, 400);
    assert.match(below.body.badRequest.message, /already used/);
    assert.equal((await call(h, h.admin, 'PUT', qs(h.member.projectId), { quota_set: { instances: 1, force: true } })).status, 200);
    assert.equal((await call(h, h.admin, 'PUT', qs(h.member.projectId), { quota_set: { cores: -1 } })).status, 200);

    for (const quota_set of [{ instances: -2 }, { instances: 'ten' }, { instances: 1.5 }, { instances: 2 ** 31 }, { bananas: 1 }, { force: 'perhaps' }]) {
      assert.equal((await call(h, h.admin, 'PUT', qs(h.member.projectId), { quota_set })).status, 400, JSON.stringify(quota_set));
    }
    assert.equal((await call(h, h.admin, 'PUT', qs(h.member.projectId), {})).status, 400);
    // network quotas went away at 2.36
    assert.equal((await call(h, h.admin, 'PUT', qs(h.member.projectId), { quota_set: { floating_ips: 3 } }, '2.36')).status, 400);
    assert.equal((await call(h, h.admin, 'PUT', qs(h.member.projectId), { quota_set: { floating_ips: 3 } }, '2.35')).status, 200);
    assert.equal((await call(h, h.admin, 'PUT', `${qs(h.member.projectId)}?user_id=${h.member.userId}`, { quota_set: { instances: 3 } })).status, 400);
  });

  it('reverts a project to defaults on delete (admin only)', async () => {
    assert.equal((await call(h, h.member, 'DELETE', qs(h.member.projectId))).status, 403);
    assert.equal((await call(h, h.admin, 'DELETE', qs(h.member.projectId))).status, 202);
    const r = await call(h, h.member, 'GET', qs(h.member.projectId));
    assert.deepEqual([r.body.quota_set.instances, r.body.quota_set.cores, r.body.quota_set.key_pairs, r.body.quota_set.floating_ips], [12, 20, 100, 10]);
  });
});
