import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { register } from '../../src/api/flavors.js';
import { getFlavor, seedFlavors } from '../../src/db/flavors.js';
import { call, startHarness, type Harness } from './harness.js';

describe('flavors API', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness([register]);
    await seedFlavors(h.db);
  });
  after(async () => h.close());

  it('seeds the devstack flavors once', async () => {
    await seedFlavors(h.db);
    const r = await call(h, h.member, 'GET', '/v2.1/flavors/detail');
    assert.equal(r.status, 200);
    const byName = Object.fromEntries(r.body.flavors.map((f: { name: string }) => [f.name, f]));
    assert.deepEqual(Object.keys(byName).sort(), ['m1.large', 'm1.medium', 'm1.micro', 'm1.nano', 'm1.small', 'm1.tiny', 'm1.xlarge']);
    assert.deepEqual(
      [byName['m1.tiny'].id, byName['m1.tiny'].ram, byName['m1.tiny'].disk, byName['m1.tiny'].vcpus],
      ['1', 512, 1, 1],
    );
    assert.deepEqual([byName['m1.nano'].id, byName['m1.nano'].ram], ['42', 128]);
    assert.deepEqual([byName['m1.micro'].id, byName['m1.micro'].ram], ['84', 192]);
    assert.deepEqual([byName['m1.xlarge'].ram, byName['m1.xlarge'].disk, byName['m1.xlarge'].vcpus], [16384, 160, 8]);
  });

  it('lists flavors with id, name and links, sorted by flavorid', async () => {
    const r = await call(h, h.member, 'GET', '/v2.1/flavors');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.flavors.map((f: { id: string }) => f.id), ['1', '2', '3', '4', '42', '5', '84']);
    const f = r.body.flavors[0];
    assert.deepEqual(Object.keys(f).sort(), ['id', 'links', 'name']);
    assert.deepEqual(f.links, [
      { rel: 'self', href: `${h.url}/v2.1/flavors/1` },
      { rel: 'bookmark', href: `${h.url}/flavors/1` },
    ]);
    assert.equal(r.body.flavors_links, undefined);
  });

  it('puts the project id in links when the URL has it, and refuses another project id', async () => {
    const r = await call(h, h.member, 'GET', `/v2.1/${h.member.projectId}/flavors/1`);
    assert.equal(r.status, 200);
    assert.equal(r.body.flavor.links[0].href, `${h.url}/v2.1/${h.member.projectId}/flavors/1`);
    assert.equal(r.body.flavor.links[1].href, `${h.url}/${h.member.projectId}/flavors/1`);
    const wrong = await call(h, h.member, 'GET', `/v2.1/${h.other.projectId}/flavors/1`);
    assert.equal(wrong.status, 400);
  });

  it('shows a flavor in detail with Nova field names', async () => {
    const r = await call(h, h.member, 'GET', '/v2.1/flavors/2');
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body.flavor).sort(), [
      'OS-FLV-DISABLED:disabled', 'OS-FLV-EXT-DATA:ephemeral', 'disk', 'id', 'links', 'name', 'os-flavor-access:is_public', 'ram',
      'rxtx_factor', 'swap', 'vcpus',
    ]);
    assert.equal(r.body.flavor.swap, '');
    assert.equal(r.body.flavor.rxtx_factor, 1);
    assert.equal(r.body.flavor['OS-FLV-DISABLED:disabled'], false);
    assert.equal(r.body.flavor['os-flavor-access:is_public'], true);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors/nope')).status, 404);
    assert.equal((await call(h, null, 'GET', '/v2.1/flavors/1')).status, 401);
  });

  it('filters by minRam and minDisk and rejects bad filters', async () => {
    const r = await call(h, h.member, 'GET', '/v2.1/flavors?minRam=4096&minDisk=50');
    assert.deepEqual(r.body.flavors.map((f: { name: string }) => f.name).sort(), ['m1.large', 'm1.xlarge']);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors?minRam=lots')).status, 400);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors?minDisk=x')).status, 400);
  });

  it('pages with limit and marker and links the next page', async () => {
    const first = await call(h, h.member, 'GET', '/v2.1/flavors?limit=3&sort_key=memory_mb&sort_dir=desc');
    assert.equal(first.status, 200);
    assert.deepEqual(first.body.flavors.map((f: { name: string }) => f.name), ['m1.xlarge', 'm1.large', 'm1.medium']);
    const next = first.body.flavors_links[0];
    assert.equal(next.rel, 'next');
    const nextUrl = new URL(next.href);
    assert.equal(nextUrl.pathname, '/v2.1/flavors');
    assert.equal(nextUrl.searchParams.get('marker'), '3');
    assert.equal(nextUrl.searchParams.get('sort_key'), 'memory_mb');
    const second = await call(h, h.member, 'GET', `${nextUrl.pathname}${nextUrl.search}`);
    assert.deepEqual(second.body.flavors.map((f: { name: string }) => f.name), ['m1.small', 'm1.tiny', 'm1.micro']);
    const last = await call(h, h.member, 'GET', '/v2.1/flavors?limit=3&sort_key=memory_mb&sort_dir=desc&marker=84');
    assert.deepEqual(last.body.flavors.map((f: { name: string }) => f.name), ['m1.nano']);
    assert.equal(last.body.flavors_links, undefined);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors?marker=nope')).status, 400);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors?limit=-1')).status, 400);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors?limit=two')).status, 400);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors?sort_key=color')).status, 400);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors?sort_dir=up')).status, 400);
  });

  it('creates flavors (admin only) with Nova defaults and validation', async () => {
    const body = { flavor: { name: 'test.small', ram: 1024, vcpus: 2, disk: 10, id: 'test-1' } };
    assert.equal((await call(h, h.member, 'POST', '/v2.1/flavors', body)).status, 403);
    const r = await call(h, h.admin, 'POST', '/v2.1/flavors', body);
    assert.equal(r.status, 200);
    assert.equal(r.body.flavor.id, 'test-1');
    assert.equal(r.body.flavor['OS-FLV-EXT-DATA:ephemeral'], 0);
    assert.equal(r.body.flavor['os-flavor-access:is_public'], true);
    assert.equal(r.body.flavor.rxtx_factor, 1);
    // an absent or null id becomes a UUID; strings of digits are accepted for sizes
    const auto = await call(h, h.admin, 'POST', '/v2.1/flavors', {
      flavor: { name: 'auto', ram: '256', vcpus: '1', disk: '0', id: null, swap: 512, 'OS-FLV-EXT-DATA:ephemeral': 5, rxtx_factor: '2.5' },
    });
    assert.equal(auto.status, 200);
    assert.match(auto.body.flavor.id, /^[0-9a-f-]{36}$/);
    assert.deepEqual([auto.body.flavor.ram, auto.body.flavor.swap, auto.body.flavor['OS-FLV-EXT-DATA:ephemeral'], auto.body.flavor.rxtx_factor], [256, 512, 5, 2.5]);
    const numericId = await call(h, h.admin, 'POST', '/v2.1/flavors', { flavor: { name: 'num', ram: 64, vcpus: 1, disk: 1, id: 777 } });
    assert.equal(numericId.body.flavor.id, '777');
  });

  it('refuses duplicate names and ids with 409', async () => {
    assert.equal((await call(h, h.admin, 'POST', '/v2.1/flavors', { flavor: { name: 'm1.tiny', ram: 1, vcpus: 1, disk: 1 } })).status, 409);
    assert.equal((await call(h, h.admin, 'POST', '/v2.1/flavors', { flavor: { name: 'fresh', ram: 1, vcpus: 1, disk: 1, id: '1' } })).status, 409);
  });

  it('answers 400 for malformed flavor bodies', async () => {
    const bad: unknown[] = [
      {},
      { flavor: { ram: 1, vcpus: 1, disk: 1 } },
      { flavor: { name: 'x', ram: 0, vcpus: 1, disk: 1 } },
      { flavor: { name: 'x', ram: '0', vcpus: 1, disk: 1 } },
      { flavor: { name: 'x', ram: 1, vcpus: -1, disk: 1 } },
      { flavor: { name: 'x', ram: 1, vcpus: 1, disk: -1 } },
      { flavor: { name: 'x', ram: 1.5, vcpus: 1, disk: 1 } },
      { flavor: { name: 'x', ram: 'lots', vcpus: 1, disk: 1 } },
      { flavor: { name: ' x', ram: 1, vcpus: 1, disk: 1 } },
      { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 1, id: 'bad/id' } },
      { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 1, rxtx_factor: 0 } },
      { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 1, 'os-flavor-access:is_public': 'maybe' } },
      { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 1, color: 'red' } },
      'not json',
    ];
    for (const body of bad) {
      const r = await call(h, h.admin, 'POST', '/v2.1/flavors', body);
      assert.equal(r.status, 400, `expected 400 for ${JSON.stringify(body)}, got ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.badRequest.code, 400);
    }
  });

  it('deletes flavors (admin only) with 202, then 404', async () => {
    await call(h, h.admin, 'POST', '/v2.1/flavors', { flavor: { name: 'doomed', ram: 64, vcpus: 1, disk: 1, id: 'doomed' } });
    await call(h, h.admin, 'POST', '/v2.1/flavors/doomed/os-extra_specs', { extra_specs: { a: 'b' } });
    assert.equal((await call(h, h.member, 'DELETE', '/v2.1/flavors/doomed')).status, 403);
    const r = await call(h, h.admin, 'DELETE', '/v2.1/flavors/doomed');
    assert.equal(r.status, 202);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/flavors/doomed')).status, 404);
    assert.equal((await call(h, h.admin, 'DELETE', '/v2.1/flavors/doomed')).status, 404);
    // the id can be reused, without the old extra specs
    const again = await call(h, h.admin, 'POST', '/v2.1/flavors', { flavor: { name: 'doomed', ram: 64, vcpus: 1, disk: 1, id: 'doomed' } });
    assert.equal(again.status, 200);
    assert.deepEqual((await call(h, h.admin, 'GET', '/v2.1/flavors/doomed/os-extra_specs')).body, { extra_specs: {} });
  });

  it('manages extra specs: admins write, members read', async () => {
    const base = '/v2.1/flavors/3/os-extra_specs';
    assert.equal((await call(h, h.member, 'POST', base, { extra_specs: { 'hw:cpu_policy': 'dedicated' } })).status, 403);
    const created = await call(h, h.admin, 'POST', base, { extra_specs: { 'hw:cpu_policy': 'dedicated', 'quota:cpu_shares': 512, 'trait:HW_CPU_X86_AVX': 'required' } });
    assert.equal(created.status, 200);
    assert.deepEqual(created.body, { extra_specs: { 'hw:cpu_policy': 'dedicated', 'quota:cpu_shares': '512', 'trait:HW_CPU_X86_AVX': 'required' } });
    const list = await call(h, h.member, 'GET', base);
    assert.deepEqual(list.body.extra_specs, { 'hw:cpu_policy': 'dedicated', 'quota:cpu_shares': '512', 'trait:HW_CPU_X86_AVX': 'required' });
    assert.deepEqual((await call(h, h.member, 'GET', `${base}/hw:cpu_policy`)).body, { 'hw:cpu_policy': 'dedicated' });
    assert.equal((await call(h, h.member, 'GET', `${base}/missing`)).status, 404);

    const put = await call(h, h.admin, 'PUT', `${base}/hw:cpu_policy`, { 'hw:cpu_policy': 'shared' });
    assert.equal(put.status, 200);
    assert.deepEqual(put.body, { 'hw:cpu_policy': 'shared' });
    assert.equal((await call(h, h.member, 'PUT', `${base}/hw:cpu_policy`, { 'hw:cpu_policy': 'x' })).status, 403);
    assert.equal((await call(h, h.admin, 'PUT', `${base}/hw:cpu_policy`, { other: 'x' })).status, 400);
    assert.equal((await call(h, h.admin, 'PUT', `${base}/a`, { a: '1', b: '2' })).status, 400);

    assert.equal((await call(h, h.member, 'DELETE', `${base}/hw:cpu_policy`)).status, 403);
    // Nova answers an extra spec's DELETE with 200.
    assert.equal((await call(h, h.admin, 'DELETE', `${base}/hw:cpu_policy`)).status, 200);
    assert.equal((await call(h, h.admin, 'DELETE', `${base}/hw:cpu_policy`)).status, 404);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/flavors/nope/os-extra_specs')).status, 404);

    const flavor = await getFlavor(h.db, '3');
    assert.deepEqual(flavor?.extraSpecs, { 'quota:cpu_shares': '512', 'trait:HW_CPU_X86_AVX': 'required' });
    assert.equal(flavor?.memoryMb, 4096);
    assert.equal(await getFlavor(h.db, 'nope'), null);
  });

  it('validates extra spec keys, trait values and resources:<CLASS> amounts', async () => {
    const base = '/v2.1/flavors/4/os-extra_specs';
    for (const specs of [
      { 'trait:HW_CPU_X86_AVX': 'preferred' },
      { 'trait:lower_case': 'required' },
      { 'bad/key': 'x' },
      { key: true },
      { key: 'x'.repeat(256) },
      { 'resources:CUSTOM_lower': '1' },
      { 'resources:GOLD': '1' },
      { 'resources:VCPU': '-1' },
      { 'resources:VCPU': '1.5' },
      { 'resources:VCPU': 'two' },
      { 'resources:VCPU': '2147483648' },
      { 'resources1:VCPU': '1' },
    ]) {
      const r = await call(h, h.admin, 'POST', base, { extra_specs: specs });
      assert.equal(r.status, 400, JSON.stringify(specs));
      const [key] = Object.keys(specs);
      if (key!.startsWith('resources')) assert.match(r.body.badRequest.message, /extra spec resources/);
    }
    assert.equal((await call(h, h.admin, 'PUT', `${base}/trait:CUSTOM_GPU`, { 'trait:CUSTOM_GPU': 'yes' })).status, 400);
    assert.equal((await call(h, h.admin, 'PUT', `${base}/trait:CUSTOM_GPU`, { 'trait:CUSTOM_GPU': 'forbidden' })).status, 200);
    assert.equal((await call(h, h.admin, 'POST', base, { specs: {} })).status, 400);
  });

  it('keeps good resources:<CLASS> extra specs, as strings', async () => {
    const base = '/v2.1/flavors/4/os-extra_specs';
    assert.equal((await call(h, h.admin, 'PUT', `${base}/resources:DISK_GB`, { 'resources:DISK_GB': 'x' })).status, 400);
    const good = { 'resources:CUSTOM_BAREMETAL_GOLD': 1, 'resources:VCPU': '0', 'resources:MEMORY_MB': 0, 'resources:PCPU': '2' };
    const r = await call(h, h.admin, 'POST', base, { extra_specs: good });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.extra_specs, { 'resources:CUSTOM_BAREMETAL_GOLD': '1', 'resources:VCPU': '0', 'resources:MEMORY_MB': '0', 'resources:PCPU': '2' });
    for (const key of Object.keys(good)) assert.equal((await call(h, h.admin, 'DELETE', `${base}/${key}`)).status, 200); // Nova: 200
  });

  it('hides private flavors from projects without access and manages access lists', async () => {
    const created = await call(h, h.admin, 'POST', '/v2.1/flavors', {
      flavor: { name: 'private.one', ram: 128, vcpus: 1, disk: 1, id: 'priv-1', 'os-flavor-access:is_public': false },
    });
    assert.equal(created.body.flavor['os-flavor-access:is_public'], false);
    const names = async (who: typeof h.member, q = ''): Promise<string[]> =>
      (await call(h, who, 'GET', `/v2.1/flavors${q}`)).body.flavors.map((f: { name: string }) => f.name);

    assert.ok(!(await names(h.member)).includes('private.one'));
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors/priv-1')).status, 404);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors/priv-1/os-extra_specs')).status, 404);
    // admins: public (default) lists do not include it; is_public=false and is_public=none do
    assert.ok(!(await names(h.admin)).includes('private.one'));
    assert.deepEqual(await names(h.admin, '?is_public=false'), ['private.one']);
    assert.ok((await names(h.admin, '?is_public=None')).includes('private.one'));
    assert.ok((await names(h.admin, '?is_public=None')).includes('m1.tiny'));
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/flavors?is_public=perhaps')).status, 400);
    // members cannot widen their view with is_public
    assert.ok(!(await names(h.member, '?is_public=none')).includes('private.one'));

    const action = '/v2.1/flavors/priv-1/action';
    assert.equal((await call(h, h.member, 'POST', action, { addTenantAccess: { tenant: h.member.projectId } })).status, 403);
    const added = await call(h, h.admin, 'POST', action, { addTenantAccess: { tenant: h.member.projectId } });
    assert.equal(added.status, 200);
    assert.deepEqual(added.body, { flavor_access: [{ flavor_id: 'priv-1', tenant_id: h.member.projectId }] });
    assert.equal((await call(h, h.admin, 'POST', action, { addTenantAccess: { tenant: h.member.projectId } })).status, 409);

    assert.ok((await names(h.member)).includes('private.one'));
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors/priv-1')).status, 200);
    assert.equal((await call(h, h.peer, 'GET', '/v2.1/flavors/priv-1')).status, 200);
    assert.ok(!(await names(h.other)).includes('private.one'));
    assert.equal((await call(h, h.other, 'GET', '/v2.1/flavors/priv-1')).status, 404);

    const list = await call(h, h.admin, 'GET', '/v2.1/flavors/priv-1/os-flavor-access');
    assert.deepEqual(list.body, { flavor_access: [{ flavor_id: 'priv-1', tenant_id: h.member.projectId }] });
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors/priv-1/os-flavor-access')).status, 403);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/flavors/1/os-flavor-access')).status, 404);

    const removed = await call(h, h.admin, 'POST', action, { removeTenantAccess: { tenant: h.member.projectId } });
    assert.deepEqual(removed.body, { flavor_access: [] });
    assert.equal((await call(h, h.admin, 'POST', action, { removeTenantAccess: { tenant: h.member.projectId } })).status, 404);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors/priv-1')).status, 404);

    assert.equal((await call(h, h.admin, 'POST', action, { grantEverything: {} })).status, 400);
    assert.equal((await call(h, h.admin, 'POST', action, { addTenantAccess: {} })).status, 400);
    assert.equal((await call(h, h.admin, 'POST', '/v2.1/flavors/nope/action', { addTenantAccess: { tenant: 'x' } })).status, 404);
  });

  it('refuses access lists on public flavors from 2.7', async () => {
    const action = '/v2.1/flavors/1/action';
    assert.equal((await call(h, h.admin, 'POST', action, { addTenantAccess: { tenant: h.other.projectId } }, '2.7')).status, 409);
    assert.equal((await call(h, h.admin, 'POST', action, { addTenantAccess: { tenant: h.other.projectId } }, '2.6')).status, 200);
  });

  it('does not bring back a default flavor an operator deleted', async () => {
    assert.equal((await call(h, h.admin, 'DELETE', '/v2.1/flavors/84')).status, 202);
    await seedFlavors(h.db);
    assert.equal((await call(h, h.admin, 'GET', '/v2.1/flavors/84')).status, 404);
  });

  it('shows disabled flavors only to admins in lists', async () => {
    await h.db.updateTable('flavors').set({ disabled: 1 }).where('flavorid', '=', '5').execute();
    const member = await call(h, h.member, 'GET', '/v2.1/flavors');
    assert.ok(!member.body.flavors.some((f: { id: string }) => f.id === '5'));
    const admin = await call(h, h.admin, 'GET', '/v2.1/flavors/detail');
    assert.equal(admin.body.flavors.find((f: { id: string }) => f.id === '5')['OS-FLV-DISABLED:disabled'], true);
    await h.db.updateTable('flavors').set({ disabled: 0 }).where('flavorid', '=', '5').execute();
  });
});
