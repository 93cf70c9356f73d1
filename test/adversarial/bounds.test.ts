import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, login, memberOfNewProject, startTestCloud, type Session, type TestCloud } from '../support/cloud.js';
import { nested } from './schema-cases.js';

const MV = { 'openstack-api-version': 'compute 2.37' };

/** Bounds that protect the process, and lookups that must not tell one project about another's. */
describe('bounds and existence oracles', () => {
  let cloud: TestCloud;
  let admin: Session;
  let other: Session;
  let imageId: string;
  let compute: (p: string) => string;

  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' }, image: { image_size_cap: '65536' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    compute = (p) => `${cloud.urls.compute}/v2.1${p}`;
    other = await memberOfNewProject(cloud, admin, 'other', 'other-u');
    imageId = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
  });
  after(async () => {
    await cloud?.close();
  });

  it('a multi-create beyond [api] max_servers_per_request is refused before anything is made, even under an unlimited quota', async () => {
    const q = await api(admin, 'PUT', compute(`/os-quota-sets/${admin.projectId}`), { quota_set: { instances: -1, cores: -1, ram: -1 } });
    assert.equal(q.status, 200, JSON.stringify(q.body));
    for (const body of [{ max_count: 2147483647 }, { min_count: 1001, max_count: 1001 }, { max_count: '2147483647' }]) {
      const r = await api(admin, 'POST', compute('/servers'), { server: { name: 'many', imageRef: imageId, flavorRef: '1', networks: 'none', ...body } }, MV);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(r.body.badRequest.message, /maximum of 1000/);
    }
    const listed = await api(admin, 'GET', compute('/servers'));
    assert.deepEqual(listed.body.servers, []);
  });

  it('a body nested deeper than 32 levels is a 400 in each API\'s own format', async () => {
    // Built as text: JSON.stringify itself recurses.
    const deep = `{"server": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const r = await api(admin, 'POST', compute('/servers'), deep);
    assert.equal(r.status, 400);
    assert.match(r.body.badRequest.message, /nested more than 32 levels/);
    const k = await api(null, 'POST', `${cloud.urls.identity}/v3/auth/tokens`, JSON.stringify({ auth: nested(64) }));
    assert.equal(k.status, 400);
    assert.equal(k.body.error.code, 400);
  });

  it('NUL and lone surrogates are refused at validation wherever they are: path, query, key, value, an unauthenticated login', async () => {
    const cases: Array<[string, string, unknown]> = [
      ['POST', compute('/servers'), { server: { name: 'a\u0000b', imageRef: imageId, flavorRef: '1', networks: 'none' } }],
      ['POST', compute('/servers'), { server: { name: 'ok', imageRef: imageId, flavorRef: '1', networks: 'none', metadata: { 'k\u0000': 'v' } } }],
      ['GET', compute('/servers?name=a%00b'), undefined],
      ['GET', compute('/os-keypairs/a%00b'), undefined],
      ['POST', compute('/flavors'), { flavor: { name: 'x\ud800', ram: 64, vcpus: 1, disk: 1 } }],
      ['POST', `${cloud.urls.image}/v2/images`, { name: 'i\u0000' }],
    ];
    for (const [method, url, body] of cases) {
      const r = await api(admin, method, url, body, MV);
      assert.equal(r.status, 400, `${method} ${url}: ${JSON.stringify(r.body)}`);
    }
    const login = await api(null, 'POST', `${cloud.urls.identity}/v3/auth/tokens`, {
      auth: { identity: { methods: ['password'], password: { user: { name: 'ad\u0000min', domain: { id: 'default' }, password: 'x' } } } },
    });
    assert.equal(login.status, 400, JSON.stringify(login.body));
    assert.equal(login.body.error.code, 400);
  });

  it('an image upload past [image] image_size_cap is refused as it streams, and leaves the image queued and no file', async () => {
    const img = await api(admin, 'POST', `${cloud.urls.image}/v2/images`, { name: 'big', disk_format: 'raw', container_format: 'bare' });
    const put = await api(admin, 'PUT', `${cloud.urls.image}/v2/images/${img.body.id}/file`, new Uint8Array(65537), { 'content-type': 'application/octet-stream' });
    assert.equal(put.status, 413, JSON.stringify(put.body));
    const shown = await api(admin, 'GET', `${cloud.urls.image}/v2/images/${img.body.id}`);
    assert.equal(shown.body.status, 'queued');
    const { readdirSync } = await import('node:fs');
    assert.deepEqual(readdirSync(cloud.config.str('image', 'store_path')).filter((f) => f.includes(img.body.id)), []);
    const fits = await api(admin, 'PUT', `${cloud.urls.image}/v2/images/${img.body.id}/file`, new Uint8Array(65536), { 'content-type': 'application/octet-stream' });
    assert.equal(fits.status, 204);
  });

  it("more image properties than Glance's image_property_quota (128) is a 413, at create and at patch", async () => {
    const props = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`p${i}`, 'v']));
    const created = await api(admin, 'POST', `${cloud.urls.image}/v2/images`, { name: 'props', ...props });
    assert.equal(created.status, 413, JSON.stringify(created.body));
    const { p128: _dropped, ...fits } = props;
    const ok = await api(admin, 'POST', `${cloud.urls.image}/v2/images`, { name: 'props', ...fits });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const patched = await api(admin, 'PATCH', `${cloud.urls.image}/v2/images/${ok.body.id}`, JSON.stringify([{ op: 'add', path: '/one-more', value: 'v' }]),
      { 'content-type': 'application/openstack-images-v2.1-json-patch' });
    assert.equal(patched.status, 413, JSON.stringify(patched.body));
    assert.equal(Object.hasOwn((await api(admin, 'GET', `${cloud.urls.image}/v2/images/${ok.body.id}`)).body, 'one-more'), false);
  });

  it("another project's server as a marker answers exactly as a random id", async () => {
    const mine = await api(admin, 'POST', compute('/servers'), { server: { name: 'mine', imageRef: imageId, flavorRef: '1', networks: 'none' } }, MV);
    assert.equal(mine.status, 202);
    const random = '0b5f5c3e-1d2a-4c4b-9e8f-7a6b5c4d3e2f';
    for (const path of ['/servers', '/servers/detail']) {
      const foreign = await api(other, 'GET', compute(`${path}?marker=${mine.body.server.id}`));
      const unknown = await api(other, 'GET', compute(`${path}?marker=${random}`));
      assert.equal(foreign.status, unknown.status);
      assert.equal(foreign.status, 400);
      assert.equal(JSON.stringify(foreign.body).replace(mine.body.server.id, 'ID'), JSON.stringify(unknown.body).replace(random, 'ID'));
    }
    // The owner may page from it.
    assert.equal((await api(admin, 'GET', compute(`/servers?marker=${mine.body.server.id}`))).status, 200);
  });
});
