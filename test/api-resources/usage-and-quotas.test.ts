import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as extensions from '../../src/api/extensions.js';
import * as auditLog from '../../src/api/instance-usage-audit-log.js';
import * as quotaSets from '../../src/api/quota-sets.js';
import * as usage from '../../src/api/simple-tenant-usage.js';
import { createInstancesWithinQuota } from '../../src/db/quota-check.js';
import { addComputeHost, addInstance, call, startHarness, type Harness } from './harness.js';

/** os-simple-tenant-usage, os-instance_usage_audit_log, /extensions and per-user quotas. */
describe('usage, audit log, extensions and per-user quotas', () => {
  let h: Harness;
  const launched = '2026-01-01T00:00:00.000Z';
  const ids: string[] = [];
  before(async () => {
    h = await startHarness([usage.register, auditLog.register, extensions.register, quotaSets.register]);
    await addComputeHost(h.db, 'compute1');
    for (let i = 0; i < 3; i++) ids.push(await addInstance(h.db, { projectId: h.member.projectId, userId: h.member.userId, vcpus: 2, memoryMb: 1024, rootGb: 10 }));
    ids.push(await addInstance(h.db, { projectId: h.other.projectId, userId: h.other.userId, vcpus: 1, memoryMb: 512, rootGb: 1 }));
    await h.db.updateTable('instances').set({ launched_at: launched }).execute();
    // One of the member's was deleted ten hours in.
    await h.db.updateTable('instances').set({ deleted: 1, terminated_at: '2026-01-01T10:00:00.000Z', vm_state: 'deleted' }).where('uuid', '=', ids[2]!).execute();
  });
  after(async () => h.close());

  const period = 'start=2026-01-01T00:00:00&end=2026-01-02T00:00:00';

  it('sums usage per project over a period, deleted instances for the time they ran', async () => {
    const r = await call(h, h.admin, 'GET', `/v2.1/os-simple-tenant-usage?${period}&detailed=1`);
    assert.equal(r.status, 200);
    const mine = r.body.tenant_usages.find((t: { tenant_id: string }) => t.tenant_id === h.member.projectId);
    assert.equal(mine.total_hours, 24 + 24 + 10);
    assert.equal(mine.total_vcpus_usage, 2 * 58);
    assert.equal(mine.total_memory_mb_usage, 1024 * 58);
    assert.equal(mine.total_local_gb_usage, 10 * 58);
    assert.deepEqual([mine.start, mine.stop], ['2026-01-01T00:00:00', '2026-01-02T00:00:00']);
    const gone = mine.server_usages.find((s: { instance_id: string }) => s.instance_id === ids[2]);
    assert.deepEqual([gone.state, gone.hours, gone.ended_at, gone.uptime], ['terminated', 10, '2026-01-01T10:00:00', 36000]);
    const brief = await call(h, h.admin, 'GET', `/v2.1/os-simple-tenant-usage?${period}`);
    assert.equal(brief.body.tenant_usages[0].server_usages, undefined);
    // Outside the window nothing ran.
    assert.deepEqual((await call(h, h.admin, 'GET', '/v2.1/os-simple-tenant-usage?start=2025-01-01T00:00:00&end=2025-02-01T00:00:00')).body, { tenant_usages: [] });
  });

  it('shows one project to its members, refuses others and bad periods', async () => {
    const r = await call(h, h.member, 'GET', `/v2.1/os-simple-tenant-usage/${h.member.projectId}?${period}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.tenant_usage.server_usages.length, 3);
    assert.equal((await call(h, h.member, 'GET', `/v2.1/os-simple-tenant-usage/${h.other.projectId}?${period}`)).status, 403);
    assert.equal((await call(h, h.member, 'GET', `/v2.1/os-simple-tenant-usage?${period}`)).status, 403);
    assert.deepEqual((await call(h, h.admin, 'GET', `/v2.1/os-simple-tenant-usage/nobody?${period}`)).body, { tenant_usage: {} });
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-simple-tenant-usage?start=yesterday')).status, 400);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-simple-tenant-usage?start=2026-01-02T00:00:00&end=2026-01-01T00:00:00')).status, 400);
  });

  it('2.40 simple tenant usage paging', async () => {
    const p1 = await call(h, h.admin, 'GET', `/v2.1/os-simple-tenant-usage?${period}&detailed=1&limit=2`, undefined, '2.40');
    assert.equal(p1.body.tenant_usages[0].server_usages.length, 2);
    const next = new URL(p1.body.tenant_usages_links[0].href);
    assert.equal(next.searchParams.get('marker'), ids[1]);
    const p2 = await call(h, h.admin, 'GET', `${next.pathname}${next.search}`, undefined, '2.40');
    assert.deepEqual(p2.body.tenant_usages.flatMap((t: { server_usages: Array<{ instance_id: string }> }) => t.server_usages.map((s) => s.instance_id)), [ids[2], ids[3]]);
    assert.equal((await call(h, h.admin, 'GET', `/v2.1/os-simple-tenant-usage?${period}&marker=nope`, undefined, '2.40')).status, 400);
    assert.equal((await call(h, h.admin, 'GET', `/v2.1/os-simple-tenant-usage?${period}&limit=-1`, undefined, '2.40')).status, 400);
    const one = await call(h, h.member, 'GET', `/v2.1/os-simple-tenant-usage/${h.member.projectId}?${period}&limit=1`, undefined, '2.40');
    assert.equal(one.body.tenant_usage.server_usages.length, 1);
    assert.equal(one.body.tenant_usage_links.length, 1);
  });

  it('2.39 simple tenant usage ignores limit and marker', async () => {
    const r = await call(h, h.admin, 'GET', `/v2.1/os-simple-tenant-usage?${period}&detailed=1&limit=1&marker=nope`, undefined, '2.39');
    assert.equal(r.status, 200);
    assert.equal(r.body.tenant_usages_links, undefined);
    assert.equal(r.body.tenant_usages.reduce((a: number, t: { server_usages: unknown[] }) => a + t.server_usages.length, 0), 4);
  });

  it('reports the usage audit of the last month: no compute host ran one', async () => {
    // Hosts count for a period their service existed in.
    await h.db.updateTable('services').set({ created_at: '2025-06-01T00:00:00.000Z' }).where('host', '=', 'compute1').execute();
    const r = await call(h, h.admin, 'GET', '/v2.1/os-instance_usage_audit_log');
    assert.equal(r.status, 200);
    const log = r.body.instance_usage_audit_logs;
    assert.deepEqual([log.num_hosts, log.num_hosts_done, log.hosts_not_run], [1, 0, ['compute1']]);
    assert.match(log.period_beginning, /^\d{4}-\d{2}-01 00:00:00$/);
    const before = await call(h, h.admin, 'GET', `/v2.1/os-instance_usage_audit_log/${encodeURIComponent('2026-03-15 12:00:00')}`);
    assert.deepEqual([before.body.instance_usage_audit_log.period_beginning, before.body.instance_usage_audit_log.period_ending], ['2026-02-01 00:00:00', '2026-03-01 00:00:00']);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-instance_usage_audit_log/not-a-date')).status, 400);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/os-instance_usage_audit_log')).status, 403);
  });

  it('lists the extensions of the APIs served', async () => {
    const r = await call(h, h.member, 'GET', '/v2.1/extensions');
    assert.ok(r.body.extensions.some((e: { alias: string }) => e.alias === 'os-simple-tenant-usage'));
    assert.equal((await call(h, h.member, 'GET', '/v2.1/extensions/os-hosts')).body.extension.name, 'Hosts');
    assert.equal((await call(h, h.member, 'GET', '/v2.1/extensions/os-nope')).status, 404);
  });

  it('keeps per-user quotas, bounded by the project, shown with detail, enforced at create', async () => {
    const qs = (q = '') => `/v2.1/os-quota-sets/${h.member.projectId}${q}`;
    const user = `?user_id=${h.member.userId}`;
    const put = await call(h, h.admin, 'PUT', qs(user), { quota_set: { instances: 3, cores: 8 } });
    assert.equal(put.status, 200);
    assert.equal(put.body.quota_set.instances, 3);
    assert.equal((await call(h, h.member, 'GET', qs(user))).body.quota_set.instances, 3);
    assert.equal((await call(h, h.member, 'GET', qs())).body.quota_set.instances, 10);
    assert.deepEqual((await call(h, h.member, 'GET', qs(`/detail${user}`))).body.quota_set.instances, { in_use: 2, limit: 3, reserved: 0 });
    // Above the project's limit, or below what the user uses: refused.
    assert.equal((await call(h, h.admin, 'PUT', qs(user), { quota_set: { instances: 11 } })).status, 400);
    assert.equal((await call(h, h.admin, 'PUT', qs(user), { quota_set: { instances: -1 } })).status, 400);
    assert.equal((await call(h, h.admin, 'PUT', qs(user), { quota_set: { instances: 1 } })).status, 400);
    assert.equal((await call(h, h.member, 'PUT', qs(user), { quota_set: { instances: 5 } })).status, 403);
    // The user's limit holds at create: 2 of 3 used, a second boot of two fits only one.
    const req = { projectId: h.member.projectId, userId: h.member.userId, minCount: 2, maxCount: 2, vcpus: 1, memoryMb: 64, requestId: 'req-u' };
    await assert.rejects(createInstancesWithinQuota(h.db, h.config, req as never, () => []), /Quota exceeded/);
    assert.equal((await call(h, h.admin, 'DELETE', qs(user))).status, 202);
    assert.equal((await call(h, h.member, 'GET', qs(user))).body.quota_set.instances, 10);
    assert.equal((await call(h, h.member, 'GET', qs('?user_id='))).status, 400);
  });
});
