import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { createPlacementApp } from '../../src/api/placement-app.js';
import { createLogger } from '../../src/common/logging.js';
import { addComputeHost, call, startHarness, type Harness } from './harness.js';
import { defaultEnforcer } from '../../src/cmd/policies.js';

describe('placement API (read-only)', () => {
  let h: Harness;
  let placement: FastifyInstance;
  let p: { url: string };
  let node: { uuid: string; name: string };
  before(async () => {
    h = await startHarness([]);
    node = (await addComputeHost(h.db, 'compute1')).nodes[0]!;
    await h.db.updateTable('inventories').set({ used: 2 }).where('node_uuid', '=', node.uuid).where('resource_class', '=', 'VCPU').execute();
    await h.db.insertInto('allocations').values({ consumer_uuid: 'c0ffee00-0000-4000-8000-000000000001', node_uuid: node.uuid, resource_class: 'VCPU', used: 2 }).execute();
    await h.db.insertInto('aggregates').values({ uuid: 'a99a0000-0000-4000-8000-000000000001', name: 'agg', created_at: new Date().toISOString(), updated_at: null, deleted: 0 }).execute();
    const agg = await h.db.selectFrom('aggregates').select('id').executeTakeFirstOrThrow();
    await h.db.insertInto('aggregate_hosts').values({ aggregate_id: agg.id, host: 'compute1' }).execute();
    placement = createPlacementApp({ db: h.db, config: h.config, log: createLogger('test', 'silent'), tokens: h.tokens, policy: defaultEnforcer() });
    p = { url: await placement.listen({ host: '127.0.0.1', port: 0 }) };
  });
  after(async () => {
    await placement.close();
    await h.close();
  });

  const rp = (suffix = ''): string => `/resource_providers/${node.uuid}${suffix}`;

  it('serves its version document without a token', async () => {
    const r = await call(p, null, 'GET', '/');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { versions: [{ id: 'v1.0', max_version: '1.14', min_version: '1.0', status: 'CURRENT', links: [{ rel: 'self', href: '' }] }] });
  });

  it('is admin only', async () => {
    assert.equal((await call(p, null, 'GET', rp('/traits'))).status, 401);
    for (const path of ['/resource_providers', rp(), rp('/inventories'), rp('/traits')]) {
      assert.equal((await call(p, h.member, 'GET', path)).status, 403, path);
    }
  });

  it('lists a node\'s traits', async () => {
    const r = await call(p, h.admin, 'GET', rp('/traits'));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { traits: ['COMPUTE_NET_ATTACH_INTERFACE', 'HW_CPU_X86_AVX'], resource_provider_generation: 0 });
    assert.equal((await call(p, h.admin, 'GET', '/resource_providers/00000000-0000-4000-8000-000000000000/traits')).status, 404);
  });

  it('shows resource providers in the shape of the requested version', async () => {
    const list = await call(p, h.admin, 'GET', '/resource_providers');
    assert.equal(list.status, 200);
    assert.equal(list.headers.get('openstack-api-version'), 'placement 1.0');
    const one = list.body.resource_providers[0];
    assert.deepEqual(Object.keys(one).sort(), ['generation', 'links', 'name', 'uuid']);
    assert.deepEqual([one.uuid, one.name, one.generation], [node.uuid, 'compute1', 0]);
    assert.deepEqual(one.links.map((l: { rel: string }) => l.rel), ['self', 'inventories', 'usages']);

    const latest = await call(p, h.admin, 'GET', rp(), undefined, 'placement latest');
    assert.equal(latest.headers.get('openstack-api-version'), 'placement 1.14');
    assert.deepEqual(latest.body.links.map((l: { rel: string }) => l.rel), ['self', 'inventories', 'usages', 'aggregates', 'traits', 'allocations']);
    assert.deepEqual([latest.body.parent_provider_uuid, latest.body.root_provider_uuid], [null, node.uuid]);

    assert.equal((await call(p, h.admin, 'GET', `/resource_providers?name=compute1`)).body.resource_providers.length, 1);
    assert.equal((await call(p, h.admin, 'GET', `/resource_providers?name=other`)).body.resource_providers.length, 0);
    assert.equal((await call(p, h.admin, 'GET', '/resource_providers?resources=VCPU:1')).status, 400);
    assert.equal((await call(p, h.admin, 'GET', rp(), undefined, 'placement 1.99')).status, 406);
    assert.equal((await call(p, h.admin, 'GET', rp(), undefined, 'placement one')).status, 400);
    assert.equal((await call(p, h.admin, 'GET', '/resource_providers/00000000-0000-4000-8000-000000000000')).status, 404);
  });

  it('shows inventories, usages, aggregates and allocations', async () => {
    const inv = await call(p, h.admin, 'GET', rp('/inventories'));
    assert.deepEqual(Object.keys(inv.body.inventories).sort(), ['DISK_GB', 'MEMORY_MB', 'VCPU']);
    assert.deepEqual(inv.body.inventories.MEMORY_MB, { allocation_ratio: 1, max_unit: 16384, min_unit: 1, reserved: 512, step_size: 1, total: 16384 });
    assert.equal(inv.body.resource_provider_generation, 0);
    const usages = await call(p, h.admin, 'GET', rp('/usages'));
    assert.deepEqual(usages.body, { usages: { DISK_GB: 0, MEMORY_MB: 0, VCPU: 2 }, resource_provider_generation: 0 });
    assert.equal((await call(p, h.admin, 'GET', rp('/aggregates'))).status, 404);
    const aggs = await call(p, h.admin, 'GET', rp('/aggregates'), undefined, 'placement 1.1');
    assert.deepEqual(aggs.body, { aggregates: ['a99a0000-0000-4000-8000-000000000001'] });
    const allocs = await call(p, h.admin, 'GET', rp('/allocations'), undefined, 'placement 1.11');
    assert.deepEqual(allocs.body, {
      allocations: { 'c0ffee00-0000-4000-8000-000000000001': { resources: { VCPU: 2 } } }, resource_provider_generation: 0,
    });
  });
});
