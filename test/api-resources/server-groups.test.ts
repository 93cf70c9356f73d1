import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { register as registerGroups } from '../../src/api/server-groups.js';
import { register as registerQuotas } from '../../src/api/quota-sets.js';
import { register as registerLimits } from '../../src/api/limits.js';
import { setProjectLimits } from '../../src/db/quotas.js';
import { call, startHarness, type Harness } from './harness.js';

describe('os-server-groups API', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness([registerGroups, registerQuotas, registerLimits]);
  });
  after(async () => {
    await h?.close();
  });

  const create = (body: unknown, mv?: string, who = h.member) => call(h, who, 'POST', '/v2.1/os-server-groups', body, mv);

  it('2.1: policies list and empty metadata, no project_id/user_id; the soft policies are refused before 2.15', async () => {
    const r = await create({ server_group: { name: 'g1', policies: ['anti-affinity'] } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const g = r.body.server_group;
    assert.deepEqual(Object.keys(g).sort(), ['id', 'members', 'metadata', 'name', 'policies']);
    assert.deepEqual(g.policies, ['anti-affinity']);
    assert.deepEqual(g.metadata, {});
    assert.deepEqual(g.members, []);
    const soft = await create({ server_group: { name: 'g2', policies: ['soft-affinity'] } }, '2.14');
    assert.equal(soft.status, 400);
    assert.match(soft.body.badRequest.message, /Invalid input for field\/attribute/);
  });

  it('2.13 shows project_id and user_id (2.12 does not)', async () => {
    const r = await create({ server_group: { name: 'g13', policies: ['affinity'] } }, '2.13');
    assert.equal(r.body.server_group.project_id, h.member.projectId);
    assert.equal(r.body.server_group.user_id, h.member.userId);
    const old = await call(h, h.member, 'GET', `/v2.1/os-server-groups/${r.body.server_group.id}`, undefined, '2.12');
    assert.equal(old.body.server_group.project_id, undefined);
  });

  it('2.15 accepts soft-affinity and soft-anti-affinity', async () => {
    for (const p of ['soft-affinity', 'soft-anti-affinity']) {
      const r = await create({ server_group: { name: p, policies: [p] } }, '2.15');
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.server_group.policies, [p]);
    }
  });

  it('2.64: policy and rules instead of policies and metadata; 2.63 still takes policies', async () => {
    const r = await create({ server_group: { name: 'g64', policy: 'anti-affinity', rules: { max_server_per_host: 3 } } }, '2.64');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const g = r.body.server_group;
    assert.equal(g.policy, 'anti-affinity');
    assert.deepEqual(g.rules, { max_server_per_host: 3 });
    assert.equal(g.policies, undefined);
    assert.equal(g.metadata, undefined);
    const asOld = await call(h, h.member, 'GET', `/v2.1/os-server-groups/${g.id}`, undefined, '2.63');
    assert.deepEqual(asOld.body.server_group.policies, ['anti-affinity']);
    assert.equal(asOld.body.server_group.rules, undefined);
    // Each version refuses the other's shape.
    assert.equal((await create({ server_group: { name: 'x', policies: ['affinity'] } }, '2.64')).status, 400);
    assert.equal((await create({ server_group: { name: 'x', policy: 'affinity' } }, '2.63')).status, 400);
    const noRules = await create({ server_group: { name: 'x', policy: 'affinity' } }, '2.64');
    assert.deepEqual(noRules.body.server_group.rules, {});
  });

  it('2.64: rules only with anti-affinity, max_server_per_host a positive integer', async () => {
    const wrong = await create({ server_group: { name: 'x', policy: 'affinity', rules: { max_server_per_host: 2 } } }, '2.64');
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.badRequest.message, 'Only anti-affinity policy supports rules.');
    for (const v of [0, -1, 'two', 1.5]) {
      const r = await create({ server_group: { name: 'x', policy: 'anti-affinity', rules: { max_server_per_host: v } } }, '2.64');
      assert.equal(r.status, 400, `max_server_per_host ${v}`);
    }
    const unknown = await create({ server_group: { name: 'x', policy: 'anti-affinity', rules: { other: 1 } } }, '2.64');
    assert.equal(unknown.status, 400);
    const asString = await create({ server_group: { name: 'x', policy: 'anti-affinity', rules: { max_server_per_host: '2' } } }, '2.64');
    assert.deepEqual(asString.body.server_group.rules, { max_server_per_host: 2 });
  });

  it('refuses bad input with 400', async () => {
    const bad: unknown[] = [
      {}, { server_group: {} }, { server_group: { name: 'x' } }, { server_group: { name: '', policies: ['affinity'] } },
      { server_group: { name: ' x', policies: ['affinity'] } }, { server_group: { name: 'x', policies: [] } },
      { server_group: { name: 'x', policies: ['affinity', 'anti-affinity'] } }, { server_group: { name: 'x', policies: ['nope'] } },
      { server_group: { name: 'x', policies: 'affinity' } }, { server_group: { name: 'x', policies: ['affinity'], extra: 1 } },
      { server_group: { name: 'x'.repeat(256), policies: ['affinity'] } }, { server_group: 'x' },
    ];
    for (const body of bad) {
      const r = await create(body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.ok(r.body.badRequest, JSON.stringify(r.body));
    }
  });

  it('lists a project its own groups; all_projects for admins only; limit and offset', async () => {
    const mine = await call(h, h.member, 'GET', '/v2.1/os-server-groups');
    assert.equal(mine.status, 200);
    assert.ok(mine.body.server_groups.length > 0);
    const other = await call(h, h.other, 'GET', '/v2.1/os-server-groups?all_projects=True');
    assert.deepEqual(other.body.server_groups, []);
    const adminOwn = await call(h, h.admin, 'GET', '/v2.1/os-server-groups');
    assert.deepEqual(adminOwn.body.server_groups, []);
    const all = await call(h, h.admin, 'GET', '/v2.1/os-server-groups?all_projects=True');
    assert.equal(all.body.server_groups.length, mine.body.server_groups.length);
    const page = await call(h, h.member, 'GET', '/v2.1/os-server-groups?limit=2&offset=1');
    assert.deepEqual(page.body.server_groups.map((g: { id: string }) => g.id), mine.body.server_groups.slice(1, 3).map((g: { id: string }) => g.id));
    for (const q of ['limit=-1', 'limit=x', 'offset=-1', 'offset=1.5']) {
      assert.equal((await call(h, h.member, 'GET', `/v2.1/os-server-groups?${q}`)).status, 400, q);
    }
  });

  it('show and delete: another project\'s group is 404, an admin reaches any', async () => {
    const r = await create({ server_group: { name: 'del', policies: ['affinity'] } });
    const id = r.body.server_group.id;
    assert.equal((await call(h, h.other, 'GET', `/v2.1/os-server-groups/${id}`)).status, 404);
    assert.equal((await call(h, h.other, 'DELETE', `/v2.1/os-server-groups/${id}`)).status, 404);
    assert.equal((await call(h, h.peer, 'GET', `/v2.1/os-server-groups/${id}`)).status, 200);
    assert.equal((await call(h, h.admin, 'GET', `/v2.1/os-server-groups/${id}`)).status, 200);
    const del = await call(h, h.member, 'DELETE', `/v2.1/os-server-groups/${id}`);
    assert.equal(del.status, 204);
    const gone = await call(h, h.member, 'GET', `/v2.1/os-server-groups/${id}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.itemNotFound.message, `Instance group ${id} could not be found.`);
    for (const bad of ['nope', '-1', '1']) assert.equal((await call(h, h.member, 'GET', `/v2.1/os-server-groups/${bad}`)).status, 404);
  });

  it('the server_groups quota: the group past it is refused with 403; limits and quota detail count the groups', async () => {
    const count = (await call(h, h.other, 'GET', '/v2.1/os-server-groups')).body.server_groups.length;
    assert.equal(count, 0);
    await setProjectLimits(h.db, h.other.projectId, { server_groups: 2 });
    for (let i = 0; i < 2; i++) assert.equal((await create({ server_group: { name: `q${i}`, policies: ['affinity'] } }, undefined, h.other)).status, 200);
    const over = await create({ server_group: { name: 'q3', policies: ['affinity'] } }, undefined, h.other);
    assert.equal(over.status, 403);
    assert.equal(over.body.forbidden.message, 'Quota exceeded, too many server groups.');
    const limits = await call(h, h.other, 'GET', '/v2.1/limits');
    assert.equal(limits.body.limits.absolute.maxServerGroups, 2);
    assert.equal(limits.body.limits.absolute.totalServerGroupsUsed, 2);
    assert.equal(limits.body.limits.absolute.maxServerGroupMembers, 10);
    const detail = await call(h, h.other, 'GET', `/v2.1/os-quota-sets/${h.other.projectId}/detail`);
    assert.deepEqual(detail.body.quota_set.server_groups, { in_use: 2, limit: 2, reserved: 0 });
    assert.equal(detail.body.quota_set.server_group_members.limit, 10);
  });

  it('parallel creates cannot overshoot the server_groups quota', async () => {
    await setProjectLimits(h.db, h.peer.projectId, { server_groups: 100 });
    const before = (await call(h, h.peer, 'GET', '/v2.1/os-server-groups')).body.server_groups.length;
    await setProjectLimits(h.db, h.peer.projectId, { server_groups: before + 3 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => create({ server_group: { name: `p${i}`, policies: ['affinity'] } }, undefined, h.peer)));
    assert.equal(results.filter((r) => r.status === 200).length, 3);
    assert.equal(results.filter((r) => r.status === 403).length, 7);
  });
});
