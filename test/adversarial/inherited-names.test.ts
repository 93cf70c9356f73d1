import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { INHERITED_NAMES } from './schema-cases.js';

/**
 * Names every plain object inherits, used where a name is data: each is stored, listed, shown
 * and deleted exactly as `foo` is — never lost, never invisible, never a 500 (the sweep checks
 * the answers' status; this checks what was kept).
 */
const NAMES = [...INHERITED_NAMES, 'foo'];
const MV = { 'openstack-api-version': 'compute 2.37' };

describe('names of Object.prototype are data like any other', () => {
  let cloud: TestCloud;
  let admin: Session;
  let compute: (p: string) => string;
  let serverId: string;
  let imageId: string;

  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    compute = (p) => `${cloud.urls.compute}/v2.1${p}`;
    imageId = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
    const metadata = Object.fromEntries(NAMES.map((n) => [n, `at-create-${n}`]));
    const r = await api(admin, 'POST', compute('/servers'), { server: { name: 'names', imageRef: imageId, flavorRef: '1', networks: 'none', metadata } }, MV);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    serverId = r.body.server.id;
    await waitFor('ACTIVE', async () => ((await api(admin, 'GET', compute(`/servers/${serverId}`))).body.server.status === 'ACTIVE' ? true : undefined));
  });
  after(async () => {
    await cloud?.close();
  });

  it('is no server action', async () => {
    for (const n of NAMES) {
      const r = await api(admin, 'POST', compute(`/servers/${serverId}/action`), `{${JSON.stringify(n)}: null}`);
      assert.equal(r.status, 400, `${n}: ${JSON.stringify(r.body)}`);
      assert.match(r.body.badRequest.message, /There is no such action/);
    }
  });

  it('server metadata: kept at create, set, shown, listed and deleted one by one', async () => {
    const shown = await api(admin, 'GET', compute(`/servers/${serverId}`));
    for (const n of NAMES) assert.equal(Object.hasOwn(shown.body.server.metadata, n) && shown.body.server.metadata[n], `at-create-${n}`, n);
    for (const n of NAMES) {
      const put = await api(admin, 'PUT', compute(`/servers/${serverId}/metadata/${encodeURIComponent(n)}`), `{"meta": {${JSON.stringify(n)}: "v-${n}"}}`);
      assert.equal(put.status, 200, `${n}: ${JSON.stringify(put.body)}`);
      const one = await api(admin, 'GET', compute(`/servers/${serverId}/metadata/${encodeURIComponent(n)}`));
      assert.equal(one.status, 200, n);
      assert.equal(one.body.meta[n], `v-${n}`);
    }
    const all = await api(admin, 'GET', compute(`/servers/${serverId}/metadata`));
    assert.deepEqual(Object.keys(all.body.metadata).sort(), [...NAMES].sort());
    for (const n of NAMES) {
      assert.equal((await api(admin, 'DELETE', compute(`/servers/${serverId}/metadata/${encodeURIComponent(n)}`))).status, 204, n);
      assert.equal((await api(admin, 'GET', compute(`/servers/${serverId}/metadata/${encodeURIComponent(n)}`))).status, 404, n);
    }
    assert.deepEqual((await api(admin, 'GET', compute(`/servers/${serverId}/metadata`))).body.metadata, {});
  });

  it('a missing metadata key of an inherited name is not found', async () => {
    for (const n of NAMES) {
      assert.equal((await api(admin, 'GET', compute(`/servers/${serverId}/metadata/${encodeURIComponent(n)}`))).status, 404, n);
      assert.equal((await api(admin, 'DELETE', compute(`/servers/${serverId}/metadata/${encodeURIComponent(n)}`))).status, 404, n);
    }
  });

  it('flavor extra specs: set, shown, listed and deleted', async () => {
    const specs = `{"extra_specs": {${NAMES.map((n) => `${JSON.stringify(n)}: "s-${n}"`).join(', ')}}}`;
    const set = await api(admin, 'POST', compute('/flavors/1/os-extra_specs'), specs);
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const all = await api(admin, 'GET', compute('/flavors/1/os-extra_specs'));
    for (const n of NAMES) {
      assert.equal(Object.hasOwn(all.body.extra_specs, n) && all.body.extra_specs[n], `s-${n}`, n);
      const one = await api(admin, 'GET', compute(`/flavors/1/os-extra_specs/${encodeURIComponent(n)}`));
      assert.equal(one.status, 200, n);
      assert.equal(one.body[n], `s-${n}`);
      assert.equal((await api(admin, 'DELETE', compute(`/flavors/1/os-extra_specs/${encodeURIComponent(n)}`))).status, 200, n); // Nova: 200
      assert.equal((await api(admin, 'GET', compute(`/flavors/1/os-extra_specs/${encodeURIComponent(n)}`))).status, 404, n);
    }
    assert.deepEqual((await api(admin, 'GET', compute('/flavors/1/os-extra_specs'))).body.extra_specs, {});
  });

  it('image properties: created, patched, filtered on and removed', async () => {
    const created = await api(admin, 'POST', `${cloud.urls.image}/v2/images`,
      `{"name": "props", "disk_format": "raw", "container_format": "bare", ${NAMES.map((n) => `${JSON.stringify(n)}: "p-${n}"`).join(', ')}}`);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    for (const n of NAMES) assert.equal(Object.hasOwn(created.body, n) && created.body[n], `p-${n}`, n);
    const patch = NAMES.map((n) => ({ op: 'replace', path: `/${n}`, value: `q-${n}` }));
    const patched = await api(admin, 'PATCH', `${cloud.urls.image}/v2/images/${id}`, JSON.stringify(patch), { 'content-type': 'application/openstack-images-v2.1-json-patch' });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    for (const n of NAMES) {
      assert.equal(patched.body[n], `q-${n}`, n);
      const found = await api(admin, 'GET', `${cloud.urls.image}/v2/images?${encodeURIComponent(n)}=${encodeURIComponent(`q-${n}`)}`);
      assert.equal(found.status, 200, `${n}: ${JSON.stringify(found.body)}`);
      assert.deepEqual(found.body.images.map((i: { id: string }) => i.id), [id], n);
    }
    const removed = await api(admin, 'PATCH', `${cloud.urls.image}/v2/images/${id}`, JSON.stringify(NAMES.map((n) => ({ op: 'remove', path: `/${n}` }))),
      { 'content-type': 'application/openstack-images-v2.1-json-patch' });
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    for (const n of NAMES) assert.equal(Object.hasOwn(removed.body, n), false, n);
  });

  it('aggregate metadata: set, shown and unset', async () => {
    const agg = await api(admin, 'POST', compute('/os-aggregates'), { aggregate: { name: 'names' } });
    const id = agg.body.aggregate.id;
    const set = await api(admin, 'POST', compute(`/os-aggregates/${id}/action`),
      `{"set_metadata": {"metadata": {${NAMES.map((n) => `${JSON.stringify(n)}: "a-${n}"`).join(', ')}}}}`);
    assert.equal(set.status, 200, JSON.stringify(set.body));
    for (const n of NAMES) assert.equal(Object.hasOwn(set.body.aggregate.metadata, n) && set.body.aggregate.metadata[n], `a-${n}`, n);
    const unset = await api(admin, 'POST', compute(`/os-aggregates/${id}/action`),
      `{"set_metadata": {"metadata": {${NAMES.map((n) => `${JSON.stringify(n)}: null`).join(', ')}}}}`);
    assert.equal(unset.status, 200, JSON.stringify(unset.body));
    for (const n of NAMES) assert.equal(Object.hasOwn(unset.body.aggregate.metadata, n), false, n);
  });
});
