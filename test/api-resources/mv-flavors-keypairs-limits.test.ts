import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as flavors from '../../src/api/flavors.js';
import * as keypairs from '../../src/api/keypairs.js';
import * as limits from '../../src/api/limits.js';
import * as quotaSets from '../../src/api/quota-sets.js';
import { seedFlavors } from '../../src/db/flavors.js';
import { call, startHarness, type Harness } from './harness.js';

/** Microversions 2.38–2.93 of flavors, key pairs, limits and quota sets: each at its version and the one below. */
describe('microversions of flavors, keypairs, limits and quota sets', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness([flavors.register, keypairs.register, limits.register, quotaSets.register]);
    await seedFlavors(h.db);
  });
  after(async () => h.close());

  const newFlavor = (name: string, extra: Record<string, unknown> = {}) => ({ flavor: { name, ram: 256, vcpus: 1, disk: 1, ...extra } });

  it('2.55 flavor description', async () => {
    const r = await call(h, h.admin, 'POST', '/v2.1/flavors', newFlavor('described', { id: 'd1', description: 'for tests' }), '2.55');
    assert.equal(r.status, 200);
    assert.equal(r.body.flavor.description, 'for tests');
    const list = await call(h, h.member, 'GET', '/v2.1/flavors', undefined, '2.55');
    assert.equal(list.body.flavors.find((f: { id: string }) => f.id === 'd1').description, 'for tests');
    const put = await call(h, h.admin, 'PUT', '/v2.1/flavors/d1', { flavor: { description: 'changed' } }, '2.55');
    assert.equal(put.status, 200);
    assert.equal(put.body.flavor.description, 'changed');
    assert.equal((await call(h, h.member, 'PUT', '/v2.1/flavors/d1', { flavor: { description: 'x' } }, '2.55')).status, 403);
    assert.equal((await call(h, h.admin, 'PUT', '/v2.1/flavors/nope', { flavor: { description: 'x' } }, '2.55')).status, 404);
    assert.equal((await call(h, h.admin, 'PUT', '/v2.1/flavors/d1', { flavor: { name: 'x' } }, '2.55')).status, 400);
    assert.equal((await call(h, h.admin, 'PUT', '/v2.1/flavors/d1', { flavor: { description: 'bell\u0007' } }, '2.55')).status, 400);
  });

  it('2.54 flavor without description', async () => {
    const show = await call(h, h.member, 'GET', '/v2.1/flavors/1', undefined, '2.54');
    assert.equal(Object.hasOwn(show.body.flavor, 'description'), false);
    assert.equal((await call(h, h.admin, 'POST', '/v2.1/flavors', newFlavor('old', { description: 'x' }), '2.54')).status, 400);
    assert.equal((await call(h, h.admin, 'PUT', '/v2.1/flavors/1', { flavor: { description: 'x' } }, '2.54')).status, 404);
  });

  it('2.61 extra specs in the flavor', async () => {
    assert.equal((await call(h, h.admin, 'POST', '/v2.1/flavors/2/os-extra_specs', { extra_specs: { 'hw:cpu_policy': 'dedicated' } })).status, 200);
    const show = await call(h, h.member, 'GET', '/v2.1/flavors/2', undefined, '2.61');
    assert.deepEqual(show.body.flavor.extra_specs, { 'hw:cpu_policy': 'dedicated' });
    const detail = await call(h, h.member, 'GET', '/v2.1/flavors/detail', undefined, '2.61');
    assert.deepEqual(detail.body.flavors.find((f: { id: string }) => f.id === '1').extra_specs, {});
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors', undefined, '2.61')).body.flavors[0].extra_specs, undefined);
  });

  it('2.60 flavor without extra specs', async () => {
    const show = await call(h, h.member, 'GET', '/v2.1/flavors/2', undefined, '2.60');
    assert.equal(Object.hasOwn(show.body.flavor, 'extra_specs'), false);
  });

  it('2.75 flavor swap 0 and unknown query parameters refused', async () => {
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors/1', undefined, '2.75')).body.flavor.swap, 0);
    const bad = await call(h, h.member, 'GET', '/v2.1/flavors?bogus=1', undefined, '2.75');
    assert.equal(bad.status, 400);
    assert.match(bad.body.badRequest.message, /bogus/);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/os-keypairs?bogus=1', undefined, '2.75')).status, 400);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/limits?bogus=1', undefined, '2.75')).status, 400);
    assert.equal((await call(h, h.member, 'GET', `/v2.1/os-quota-sets/${h.member.projectId}?bogus=1`, undefined, '2.75')).status, 400);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors?minRam=1', undefined, '2.75')).status, 200);
  });

  it('2.74 flavor swap "" and unknown query parameters ignored', async () => {
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors/1', undefined, '2.74')).body.flavor.swap, '');
    assert.equal((await call(h, h.member, 'GET', '/v2.1/flavors?bogus=1', undefined, '2.74')).status, 200);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/os-keypairs?bogus=1', undefined, '2.74')).status, 200);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/limits?bogus=1', undefined, '2.74')).status, 200);
  });

  it('2.86 flavor extra spec validation', async () => {
    const bad = await call(h, h.admin, 'POST', '/v2.1/flavors/3/os-extra_specs', { extra_specs: { 'hw:cpu_policy': 'bogus' } }, '2.86');
    assert.equal(bad.status, 400);
    assert.match(bad.body.badRequest.message, /hw:cpu_policy/);
    const unknown = await call(h, h.admin, 'POST', '/v2.1/flavors/3/os-extra_specs', { extra_specs: { 'hw:no_such_key': '1' } }, '2.86');
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.badRequest.message, /does not exist/);
    assert.equal((await call(h, h.admin, 'PUT', '/v2.1/flavors/3/os-extra_specs/quota:cpu_shares', { 'quota:cpu_shares': 'many' }, '2.86')).status, 400);
    // Operators' own namespaces pass; known keys with good values pass.
    const ok = await call(h, h.admin, 'POST', '/v2.1/flavors/3/os-extra_specs', { extra_specs: { 'hw:cpu_policy': 'shared', 'acme:tier': 'gold', 'resources:VCPU': '2' } }, '2.86');
    assert.equal(ok.status, 200);
  });

  it('2.85 flavor extra specs unchecked but traits', async () => {
    assert.equal((await call(h, h.admin, 'POST', '/v2.1/flavors/4/os-extra_specs', { extra_specs: { 'hw:cpu_policy': 'bogus', 'hw:no_such_key': '1' } }, '2.85')).status, 200);
    assert.equal((await call(h, h.admin, 'POST', '/v2.1/flavors/4/os-extra_specs', { extra_specs: { 'trait:HW_CPU_X86_AVX': 'maybe' } }, '2.85')).status, 400);
  });

  const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDUVUKEh7cTMbv0RxMd8W9JgDpZbyoFxvOJBTbqUcZqz test@example';

  it('2.92 keypair import required and names with @ and .', async () => {
    const gen = await call(h, h.member, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'gen292' } }, '2.92');
    assert.equal(gen.status, 400);
    assert.match(gen.body.badRequest.message, /public_key/);
    const imp = await call(h, h.member, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'me@host.example', public_key: SSH_KEY } }, '2.92');
    assert.equal(imp.status, 201);
    assert.equal(imp.body.keypair.private_key, undefined);
  });

  it('2.91 keypair generated and @ refused', async () => {
    const gen = await call(h, h.member, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'gen291' } }, '2.91');
    assert.equal(gen.status, 201);
    assert.match(gen.body.keypair.private_key, /PRIVATE KEY/);
    assert.equal((await call(h, h.member, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'me@host', public_key: SSH_KEY } }, '2.91')).status, 400);
  });

  it('2.39 limits without maxImageMeta', async () => {
    const r = await call(h, h.member, 'GET', '/v2.1/limits', undefined, '2.39');
    assert.equal(r.body.limits.absolute.maxImageMeta, undefined);
    assert.equal(r.body.limits.absolute.maxServerMeta, 128);
  });

  it('2.38 limits with maxImageMeta', async () => {
    assert.equal((await call(h, h.member, 'GET', '/v2.1/limits', undefined, '2.38')).body.limits.absolute.maxImageMeta, 128);
  });

  it('2.57 limits and quota sets without personality', async () => {
    const l = await call(h, h.member, 'GET', '/v2.1/limits', undefined, '2.57');
    assert.equal(l.body.limits.absolute.maxPersonality, undefined);
    assert.equal(l.body.limits.absolute.maxPersonalitySize, undefined);
    const q = await call(h, h.member, 'GET', `/v2.1/os-quota-sets/${h.member.projectId}`, undefined, '2.57');
    for (const k of ['injected_files', 'injected_file_content_bytes', 'injected_file_path_bytes']) assert.equal(q.body.quota_set[k], undefined, k);
    assert.equal((await call(h, h.admin, 'PUT', `/v2.1/os-quota-sets/${h.member.projectId}`, { quota_set: { injected_files: 3 } }, '2.57')).status, 400);
  });

  it('2.56 limits and quota sets with personality', async () => {
    const l = await call(h, h.member, 'GET', '/v2.1/limits', undefined, '2.56');
    assert.equal(l.body.limits.absolute.maxPersonality, 5);
    const q = await call(h, h.member, 'GET', `/v2.1/os-quota-sets/${h.member.projectId}`, undefined, '2.56');
    assert.equal(q.body.quota_set.injected_files, 5);
  });
});
