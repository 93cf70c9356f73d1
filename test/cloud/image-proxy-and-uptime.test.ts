import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, login, memberOfNewProject, startTestCloud, type Session, type TestCloud } from '../support/cloud.js';

const mv = (v: string) => ({ 'openstack-api-version': `compute ${v}` });

/**
 * The Nova image proxy over the real image API (to 2.35, 404 from 2.36), Glance's draft-4
 * patch type, and a hypervisor's uptime as the fake driver reports its start.
 */
describe('image proxy, draft-4 image patches and hypervisor uptime', () => {
  let cloud: TestCloud;
  let admin: Session;
  let member: Session;
  let other: Session;
  let imageId: string;
  before(async () => {
    cloud = await startTestCloud();
    admin = await login(cloud, 'admin', 'secret', 'admin');
    member = await memberOfNewProject(cloud, admin, 'proxy-p', 'proxy-u');
    other = await memberOfNewProject(cloud, admin, 'proxy-q', 'proxy-v');
    const img = await api(member, 'POST', `${cloud.urls.image}/v2/images`, { name: 'proxied', disk_format: 'raw', container_format: 'bare', color: 'blue' });
    assert.equal(img.status, 201);
    imageId = img.body.id;
  });
  after(async () => cloud?.close());

  const compute = (path: string) => `${cloud.urls.compute}/v2.1${path}`;

  it('2.35 image proxy list, detail, show and metadata', async () => {
    const list = await api(member, 'GET', compute('/images'), undefined, mv('2.35'));
    assert.equal(list.status, 200);
    assert.ok(list.body.images.some((i: { id: string }) => i.id === imageId));
    const show = await api(member, 'GET', compute(`/images/${imageId}`), undefined, mv('2.35'));
    assert.deepEqual([show.body.image.name, show.body.image.status, show.body.image.progress, show.body.image.metadata], ['proxied', 'SAVING', 25, { color: 'blue' }]);
    const detail = await api(member, 'GET', compute('/images/detail?limit=1'), undefined, mv('2.35'));
    assert.equal(detail.body.images.length, 1);
    assert.equal(detail.body.images_links.length, 1);

    const meta = (path = '') => compute(`/images/${imageId}/metadata${path}`);
    assert.deepEqual((await api(member, 'POST', meta(), { metadata: { size_hint: 'small' } }, mv('2.35'))).body.metadata, { color: 'blue', size_hint: 'small' });
    assert.deepEqual((await api(member, 'PUT', meta(), { metadata: { shape: 'round' } }, mv('2.35'))).body.metadata, { shape: 'round' });
    assert.deepEqual((await api(member, 'PUT', meta('/shape'), { meta: { shape: 'square' } }, mv('2.35'))).body, { meta: { shape: 'square' } });
    assert.deepEqual((await api(member, 'GET', meta('/shape'), undefined, mv('2.35'))).body, { meta: { shape: 'square' } });
    assert.equal((await api(member, 'PUT', meta('/shape'), { meta: { other: 'x' } }, mv('2.35'))).status, 400);
    assert.equal((await api(member, 'POST', meta(), { metadata: { name: 'x' } }, mv('2.35'))).status, 400);
    assert.equal((await api(member, 'DELETE', meta('/shape'), undefined, mv('2.35'))).status, 204);
    assert.equal((await api(member, 'GET', meta('/shape'), undefined, mv('2.35'))).status, 404);
    assert.equal((await api(member, 'DELETE', meta('/shape'), undefined, mv('2.35'))).status, 404);
    // Another project's private image is not found.
    assert.equal((await api(other, 'GET', compute(`/images/${imageId}`), undefined, mv('2.35'))).status, 404);
    assert.equal((await api(other, 'POST', meta(), { metadata: { a: 'b' } }, mv('2.35'))).status, 404);
    assert.equal((await api(member, 'GET', compute('/images/00000000-0000-0000-0000-000000000000'), undefined, mv('2.35'))).status, 404);
  });

  it('2.36 image proxy gone', async () => {
    for (const path of ['/images', '/images/detail', `/images/${imageId}`, `/images/${imageId}/metadata`]) {
      assert.equal((await api(member, 'GET', compute(path), undefined, mv('2.36'))).status, 404, path);
    }
    assert.equal((await api(member, 'DELETE', compute(`/images/${imageId}`), undefined, mv('2.36'))).status, 404);
  });

  it('deletes through the proxy', async () => {
    const img = await api(member, 'POST', `${cloud.urls.image}/v2/images`, { name: 'doomed', disk_format: 'raw', container_format: 'bare' });
    assert.equal((await api(other, 'DELETE', compute(`/images/${img.body.id}`), undefined, mv('2.35'))).status, 404);
    assert.equal((await api(member, 'DELETE', compute(`/images/${img.body.id}`), undefined, mv('2.35'))).status, 204);
    assert.equal((await api(member, 'GET', `${cloud.urls.image}/v2/images/${img.body.id}`)).status, 404);
  });

  it("accepts Glance's draft-4 patch type beside draft 10", async () => {
    const url = `${cloud.urls.image}/v2/images/${imageId}`;
    const d4 = await api(member, 'PATCH', url, [{ replace: '/name', value: 'renamed' }, { add: '/mood', value: 'calm' }], { 'content-type': 'application/openstack-images-v2.0-json-patch' });
    assert.equal(d4.status, 200);
    assert.deepEqual([d4.body.name, d4.body.mood], ['renamed', 'calm']);
    assert.equal((await api(member, 'PATCH', url, [{ op: 'remove', path: '/mood' }], { 'content-type': 'application/openstack-images-v2.1-json-patch' })).status, 200);
    assert.equal((await api(member, 'PATCH', url, [{ jump: '/name' }], { 'content-type': 'application/openstack-images-v2.0-json-patch' })).status, 400);
    assert.equal((await api(member, 'PATCH', url, [{ replace: '/name', value: 'x' }], { 'content-type': 'application/json' })).status, 415);
  });

  it("reports a hypervisor's uptime from the fake driver's start", async () => {
    const list = await api(admin, 'GET', compute('/os-hypervisors'), undefined, mv('2.87'));
    const id = list.body.hypervisors[0].id;
    const up = await api(admin, 'GET', compute(`/os-hypervisors/${id}/uptime`), undefined, mv('2.87'));
    assert.equal(up.status, 200);
    assert.match(up.body.hypervisor.uptime, /^ \d\d:\d\d:\d\d up 0:\d\d$/);
    const detail = await api(admin, 'GET', compute(`/os-hypervisors/${id}`), undefined, mv('2.88'));
    assert.match(detail.body.hypervisor.uptime, / up 0:\d\d$/);
  });
});
