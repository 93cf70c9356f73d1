import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { register as registerServices } from '../../src/api/services.js';
import { register as registerAggregates } from '../../src/api/aggregates.js';
import { addComputeHost, addInstance, call, startHarness, type Harness } from './harness.js';

describe('os-services API', () => {
  let h: Harness;
  let ids: Record<string, number>;
  before(async () => {
    h = await startHarness([registerServices, registerAggregates]);
    ids = {
      compute1: (await addComputeHost(h.db, 'compute1')).serviceId,
      compute2: (await addComputeHost(h.db, 'compute2', { up: false })).serviceId,
      compute3: (await addComputeHost(h.db, 'compute3')).serviceId,
      conductor: (await addComputeHost(h.db, 'controller', { binary: 'nova-conductor' })).serviceId,
      scheduler: (await addComputeHost(h.db, 'controller', { binary: 'nova-scheduler' })).serviceId,
    };
    const a = await call(h, h.admin, 'POST', '/v2.1/os-aggregates', { aggregate: { name: 'a', availability_zone: 'az1' } });
    await call(h, h.admin, 'POST', `/v2.1/os-aggregates/${a.body.aggregate.id}/action`, { add_host: { host: 'compute3' } });
  });
  after(async () => h.close());

  const put = (action: string, body: unknown, mv?: string): ReturnType<typeof call> => call(h, h.admin, 'PUT', `/v2.1/os-services/${action}`, body, mv);

  it('lists services with zones and states (admin only)', async () => {
    assert.equal((await call(h, h.member, 'GET', '/v2.1/os-services')).status, 403);
    const r = await call(h, h.admin, 'GET', '/v2.1/os-services');
    assert.equal(r.status, 200);
    assert.equal(r.body.services.length, 5);
    const byKey = Object.fromEntries(r.body.services.map((s: { host: string; binary: string }) => [`${s.host}/${s.binary}`, s]));
    const c1 = byKey['compute1/nova-compute'];
    assert.deepEqual(Object.keys(c1).sort(), ['binary', 'disabled_reason', 'host', 'id', 'state', 'status', 'updated_at', 'zone']);
    assert.deepEqual([c1.id, c1.zone, c1.status, c1.state, c1.disabled_reason], [ids.compute1, 'nova', 'enabled', 'up', null]);
    assert.match(c1.updated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    assert.equal(byKey['compute2/nova-compute'].state, 'down');
    assert.equal(byKey['compute3/nova-compute'].zone, 'az1');
    assert.equal(byKey['controller/nova-conductor'].zone, 'internal');
    assert.equal(byKey['controller/nova-scheduler'].zone, 'internal');

    const v211 = await call(h, h.admin, 'GET', '/v2.1/os-services', undefined, '2.11');
    assert.equal(v211.body.services[0].forced_down, false);

    const filtered = await call(h, h.admin, 'GET', '/v2.1/os-services?host=controller&binary=nova-scheduler');
    assert.deepEqual(filtered.body.services.map((s: { id: number }) => s.id), [ids.scheduler]);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-services?binary=nova-compute')).body.services.length, 3);
  });

  it('disables and enables compute services', async () => {
    const off = await put('disable', { host: 'compute1', binary: 'nova-compute' });
    assert.equal(off.status, 200);
    assert.deepEqual(off.body, { service: { host: 'compute1', binary: 'nova-compute', status: 'disabled' } });
    const why = await put('disable-log-reason', { host: 'compute1', binary: 'nova-compute', disabled_reason: 'maintenance' });
    assert.deepEqual(why.body, { service: { host: 'compute1', binary: 'nova-compute', status: 'disabled', disabled_reason: 'maintenance' } });
    let list = await call(h, h.admin, 'GET', '/v2.1/os-services?host=compute1');
    assert.deepEqual([list.body.services[0].status, list.body.services[0].disabled_reason], ['disabled', 'maintenance']);
    const on = await put('enable', { host: 'compute1', binary: 'nova-compute' });
    assert.deepEqual(on.body, { service: { host: 'compute1', binary: 'nova-compute', status: 'enabled' } });
    list = await call(h, h.admin, 'GET', '/v2.1/os-services?host=compute1');
    assert.deepEqual([list.body.services[0].status, list.body.services[0].disabled_reason], ['enabled', null]);
  });

  it('forces services down from 2.11', async () => {
    assert.equal((await put('force-down', { host: 'compute1', binary: 'nova-compute', forced_down: true }, '2.10')).status, 404);
    assert.equal((await put('disable', { host: 'compute1', binary: 'nova-compute', forced_down: true }, '2.10')).status, 400);
    const r = await put('force-down', { host: 'compute1', binary: 'nova-compute', forced_down: true }, '2.11');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { service: { host: 'compute1', binary: 'nova-compute', forced_down: true } });
    const list = await call(h, h.admin, 'GET', '/v2.1/os-services?host=compute1', undefined, '2.11');
    assert.deepEqual([list.body.services[0].state, list.body.services[0].forced_down], ['down', true]);
    assert.equal((await put('force-down', { host: 'compute1', binary: 'nova-compute' }, '2.11')).status, 400);
    await put('force-down', { host: 'compute1', binary: 'nova-compute', forced_down: 'false' }, '2.11');
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/os-services?host=compute1')).body.services[0].state, 'up');
  });

  it('refuses bad updates', async () => {
    assert.equal((await call(h, h.member, 'PUT', '/v2.1/os-services/disable', { host: 'compute1', binary: 'nova-compute' })).status, 403);
    assert.equal((await put('reboot', { host: 'compute1', binary: 'nova-compute' })).status, 404);
    assert.equal((await put('disable', { host: 'nowhere', binary: 'nova-compute' })).status, 404);
    assert.equal((await put('disable', { host: 'controller', binary: 'nova-conductor' })).status, 400);
    assert.equal((await put('disable-log-reason', { host: 'compute1', binary: 'nova-compute' })).status, 400);
    for (const body of [{}, { host: 'compute1' }, { host: 'compute1', binary: '' }, { host: 'a b', binary: 'nova-compute' }, { host: 'compute1', binary: 'nova-compute', x: 1 }]) {
      assert.equal((await put('disable', body)).status, 400, JSON.stringify(body));
    }
  });

  it('deletes services, refusing computes that host instances', async () => {
    assert.equal((await call(h, h.member, 'DELETE', `/v2.1/os-services/${ids.compute2}`)).status, 403);
    assert.equal((await call(h, h.admin, 'DELETE', '/v2.1/os-services/99999')).status, 404);
    assert.equal((await call(h, h.admin, 'DELETE', '/v2.1/os-services/abc')).status, 400);

    await addInstance(h.db, { projectId: h.member.projectId, userId: h.member.userId, host: 'compute1' });
    assert.equal((await call(h, h.admin, 'DELETE', `/v2.1/os-services/${ids.compute1}`)).status, 409);

    assert.equal((await call(h, h.admin, 'DELETE', `/v2.1/os-services/${ids.compute3}`)).status, 204);
    const left = (await call(h, h.admin, 'GET', '/v2.1/os-services')).body.services.map((s: { id: number }) => s.id);
    assert.ok(!left.includes(ids.compute3));
    // its node and aggregate membership went with it
    const nodes = await h.db.selectFrom('compute_nodes').select('id').where('host', '=', 'compute3').where('deleted', '=', 0).execute();
    assert.equal(nodes.length, 0);
    const agg = await call(h, h.admin, 'GET', '/v2.1/os-aggregates/1');
    assert.deepEqual(agg.body.aggregate.hosts, []);
    assert.equal((await call(h, h.admin, 'DELETE', `/v2.1/os-services/${ids.compute3}`)).status, 404);
    assert.equal((await call(h, h.admin, 'DELETE', `/v2.1/os-services/${ids.scheduler}`)).status, 204);
  });
});
