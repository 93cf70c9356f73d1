import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { createPlacementApp } from '../../src/api/placement-app.js';
import { createLogger } from '../../src/common/logging.js';
import { addComputeHost, call, startHarness, type Harness } from './harness.js';
import { defaultEnforcer } from '../../src/cmd/policies.js';

describe('placement API', () => {
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
  it('lists, shows and creates resource classes (custom ones only), admin only', async () => {
    const L = 'placement latest';
    assert.equal((await call(p, h.admin, 'GET', '/resource_classes')).status, 404, 'since 1.2');
    for (const path of ['/resource_classes', '/resource_classes/VCPU', rp('/inventories/VCPU'), '/allocations/c0ffee00-0000-4000-8000-000000000001']) {
      assert.equal((await call(p, h.member, 'GET', path, undefined, L)).status, 403, path);
    }
    assert.equal((await call(p, h.member, 'PUT', '/resource_classes/CUSTOM_X', undefined, L)).status, 403);

    const before = await call(p, h.admin, 'GET', '/resource_classes', undefined, L);
    assert.equal(before.status, 200);
    const names = (r: typeof before): string[] => r.body.resource_classes.map((c: { name: string }) => c.name);
    assert.deepEqual(names(before).slice(0, 3), ['VCPU', 'MEMORY_MB', 'DISK_GB']);
    assert.equal(names(before).some((n) => n.startsWith('CUSTOM_')), false);
    assert.deepEqual(before.body.resource_classes[0], { name: 'VCPU', links: [{ rel: 'self', href: '/resource_classes/VCPU' }] });

    assert.equal((await call(p, h.admin, 'PUT', '/resource_classes/CUSTOM_BAREMETAL_GOLD', undefined, 'placement 1.6')).status, 404, 'since 1.7');
    const created = await call(p, h.admin, 'PUT', '/resource_classes/CUSTOM_BAREMETAL_GOLD', undefined, L);
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('location'), '/resource_classes/CUSTOM_BAREMETAL_GOLD');
    assert.equal((await call(p, h.admin, 'PUT', '/resource_classes/CUSTOM_BAREMETAL_GOLD', undefined, L)).status, 204, 'already there');
    // (Names past 100 characters are refused by the router, as every path parameter is: 414.)
    assert.equal((await call(p, h.admin, 'PUT', `/resource_classes/CUSTOM_${'X'.repeat(250)}`, undefined, L)).status, 414);
    for (const bad of ['VCPU', 'CUSTOM_lower', 'GOLD', 'CUSTOM_', 'CUSTOM_%E2%82%AC', 'CUSTOM_A%20B']) {
      const r = await call(p, h.admin, 'PUT', `/resource_classes/${bad}`, undefined, L);
      assert.equal(r.status, 400, bad);
      assert.ok(r.body.badRequest.message, bad);
    }
    assert.ok(names(await call(p, h.admin, 'GET', '/resource_classes', undefined, L)).includes('CUSTOM_BAREMETAL_GOLD'));
    assert.deepEqual((await call(p, h.admin, 'GET', '/resource_classes/CUSTOM_BAREMETAL_GOLD', undefined, L)).body,
      { name: 'CUSTOM_BAREMETAL_GOLD', links: [{ rel: 'self', href: '/resource_classes/CUSTOM_BAREMETAL_GOLD' }] });
    assert.equal((await call(p, h.admin, 'GET', '/resource_classes/MEMORY_MB', undefined, L)).status, 200);
    for (const missing of ['CUSTOM_NEVER_MADE', 'constructor', '__proto__']) {
      assert.equal((await call(p, h.admin, 'GET', `/resource_classes/${missing}`, undefined, L)).status, 404, missing);
    }
  });

  it('shows one inventory and one consumer\'s allocations, and filters providers by free room of any class', async () => {
    const L = 'placement latest';
    await h.db.insertInto('inventories').values({
      node_uuid: node.uuid, resource_class: 'CUSTOM_BAREMETAL_SMALL', total: 1, reserved: 0, min_unit: 1, max_unit: 1, step_size: 1, allocation_ratio: 1, used: 0,
    }).execute();
    const one = await call(p, h.admin, 'GET', rp('/inventories/CUSTOM_BAREMETAL_SMALL'), undefined, L);
    assert.deepEqual(one.body, { allocation_ratio: 1, max_unit: 1, min_unit: 1, reserved: 0, step_size: 1, total: 1, resource_provider_generation: 0 });
    assert.equal((await call(p, h.admin, 'GET', rp('/inventories/CUSTOM_NONE'), undefined, L)).status, 404);

    const byFree = async (q: string): Promise<number> => {
      const r = await call(p, h.admin, 'GET', `/resource_providers?resources=${q}`, undefined, L);
      assert.equal(r.status, 200, q);
      return r.body.resource_providers.length;
    };
    assert.equal(await byFree('CUSTOM_BAREMETAL_SMALL:1'), 1);
    assert.equal(await byFree('CUSTOM_BAREMETAL_SMALL:1,VCPU:6'), 1);
    assert.equal(await byFree('CUSTOM_BAREMETAL_SMALL:2'), 0, 'more than max_unit');
    assert.equal(await byFree('VCPU:7'), 0, '2 of 8 used');
    assert.equal(await byFree('CUSTOM_GPU:1'), 0);
    await h.db.updateTable('inventories').set({ used: 1 }).where('node_uuid', '=', node.uuid).where('resource_class', '=', 'CUSTOM_BAREMETAL_SMALL').execute();
    assert.equal(await byFree('CUSTOM_BAREMETAL_SMALL:1'), 0, 'taken');
    for (const bad of ['VCPU', 'VCPU:0', 'NOPE:1', 'VCPU:x', 'VCPU:1,,DISK_GB:1', Array(33).fill('VCPU:1').join(','), 'VCPU:1&resources=DISK_GB:1']) {
      assert.equal((await call(p, h.admin, 'GET', `/resource_providers?resources=${bad}`, undefined, L)).status, 400, bad);
    }

    const consumer = 'c0ffee00-0000-4000-8000-000000000001';
    const mine = await call(p, h.admin, 'GET', `/allocations/${consumer}`);
    assert.deepEqual(mine.body, { allocations: { [node.uuid]: { generation: 0, resources: { VCPU: 2 } } } });
    assert.deepEqual((await call(p, h.admin, 'GET', '/allocations/c0ffee00-0000-4000-8000-00000000ffff')).body, { allocations: {} });
  });
});
