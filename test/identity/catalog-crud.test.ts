import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';
import { api, login, memberOfNewProject, startTestCloud, type Session, type TestCloud } from '../support/cloud.js';
import { userWithRole } from '../support/tenants.js';
import { CatalogStore, catalogService } from '../../src/identity/catalog.js';

/** Regions, services and endpoints through the Identity API, and the token catalog following them. */
for (const engine of ['sqlite', 'postgresql'] as const) {
describe(`the catalog API (regions, services, endpoints) on ${engine}`, { skip: engine === 'postgresql' ? pgSkip : false }, () => {
  let pg: TestPgDatabase | undefined;
  let cloud: TestCloud;
  let admin: Session;
  let member: Session;
  let reader: Session;
  const url = (p: string): string => `${cloud.urls.identity}/v3${p}`;
  /** The catalog of a token issued now. */
  const tokenCatalog = async (): Promise<Array<{ type: string; name: string; id: string; endpoints: any[] }>> =>
    (await login(cloud, 'admin', 'secret', 'admin').then((s) => api(s, 'GET', url('/auth/catalog')))).body.catalog;

  before(async () => {
    if (engine === 'postgresql') pg = await createPgDatabase();
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: '' }, ...(pg ? { database: { connection: pg.url } } : {}) });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    member = await memberOfNewProject(cloud, admin, 'cat-p', 'cat-u');
    reader = await userWithRole(cloud, admin, { project: 'admin', user: 'cat-r', role: 'reader' });
  });
  after(async () => {
    await cloud?.close();
    await pg?.drop();
  });

  it('lists the services the process runs, seeded as rows, as the token catalog has them', async () => {
    const services = await api(admin, 'GET', url('/services'));
    assert.equal(services.status, 200);
    assert.deepEqual(services.body.services.map((s: any) => s.type).sort(), ['baremetal', 'compute', 'dashboard', 'identity', 'image', 'network', 'placement']);
    for (const s of services.body.services) {
      assert.equal(s.enabled, true);
      assert.match(s.links.self, new RegExp(`/v3/services/${s.id}$`));
    }
    const endpoints = await api(admin, 'GET', url('/endpoints'));
    assert.equal(endpoints.body.endpoints.length, 21);
    const compute = endpoints.body.endpoints.find((e: any) => e.interface === 'public' && e.url.endsWith('/v2.1'));
    assert.equal(compute.url, `${cloud.urls.compute}/v2.1`);
    assert.equal(compute.region_id, 'RegionOne');
    assert.equal(compute.region, 'RegionOne');
    const regions = await api(reader, 'GET', url('/regions'));
    assert.equal(regions.status, 200, 'anyone reads regions');
    assert.deepEqual(regions.body.regions.map((r: any) => r.id), ['RegionOne']);
    const cat = await tokenCatalog();
    assert.deepEqual(cat.map((s) => s.type).sort(), ['baremetal', 'compute', 'dashboard', 'identity', 'image', 'network', 'placement']);
    assert.deepEqual(Object.keys(cat[0]!.endpoints[0]).sort(), ['id', 'interface', 'region', 'region_id', 'url']);
  });

  it('seeding again (a restart) keeps the rows and brings a moved URL up to date', async () => {
    const store = new CatalogStore(cloud.db);
    const moved = catalogService('image', 'glance', 'http://127.0.0.1:1/moved', 'RegionOne');
    await store.seed([moved], 'RegionOne');
    const image = (await api(admin, 'GET', url('/endpoints?interface=public'))).body.endpoints.filter((e: any) => e.service_id === moved.id);
    assert.deepEqual(image.map((e: any) => e.url), ['http://127.0.0.1:1/moved']);
    await store.seed([catalogService('image', 'glance', cloud.urls.image, 'RegionOne')], 'RegionOne');
    assert.equal((await api(admin, 'GET', url('/endpoints'))).body.endpoints.length, 21);
    assert.equal((await api(admin, 'GET', url('/services'))).body.services.length, 7);
  });

  it('creates a child region, an external service and its endpoint, which the next token carries', async () => {
    const region = await api(admin, 'POST', url('/regions'), { region: { id: 'RegionOne-east', parent_region_id: 'RegionOne', description: 'east', rack: 'r7' } });
    assert.equal(region.status, 201, JSON.stringify(region.body));
    assert.deepEqual({ ...region.body.region, links: undefined }, { id: 'RegionOne-east', parent_region_id: 'RegionOne', description: 'east', rack: 'r7', links: undefined });
    const children = await api(admin, 'GET', url('/regions?parent_region_id=RegionOne'));
    assert.deepEqual(children.body.regions.map((r: any) => r.id), ['RegionOne-east']);

    const svc = await api(admin, 'POST', url('/services'), { service: { type: 'object-store', name: 'swift', description: 'Objects' } });
    assert.equal(svc.status, 201);
    assert.equal(svc.body.service.description, 'Objects');
    assert.equal(svc.body.service.enabled, true);
    const ep = await api(admin, 'POST', url('/endpoints'), {
      endpoint: { service_id: svc.body.service.id, interface: 'public', url: 'https://swift.example.net:8080/v1', region_id: 'RegionOne-east' },
    });
    assert.equal(ep.status, 201, JSON.stringify(ep.body));
    assert.equal(ep.body.endpoint.region, 'RegionOne-east');
    assert.equal(ep.body.endpoint.enabled, true);

    let swift = (await tokenCatalog()).find((s) => s.type === 'object-store');
    assert.deepEqual(swift, {
      id: svc.body.service.id, type: 'object-store', name: 'swift',
      endpoints: [{ id: ep.body.endpoint.id, interface: 'public', region_id: 'RegionOne-east', region: 'RegionOne-east', url: 'https://swift.example.net:8080/v1' }],
    });
    const filtered = await api(admin, 'GET', url(`/endpoints?service_id=${svc.body.service.id}&interface=public`));
    assert.deepEqual(filtered.body.endpoints.map((e: any) => e.id), [ep.body.endpoint.id]);
    assert.equal((await api(admin, 'GET', url('/endpoints?region_id=RegionOne-east'))).body.endpoints.length, 1);
    assert.equal((await api(admin, 'GET', url('/services?type=object-store'))).body.services.length, 1);
    assert.equal((await api(admin, 'GET', url('/services?name=swift'))).body.services.length, 1);

    // A disabled endpoint leaves the catalog; a changed URL shows at once.
    const off = await api(admin, 'PATCH', url(`/endpoints/${ep.body.endpoint.id}`), { endpoint: { enabled: false } });
    assert.equal(off.body.endpoint.enabled, false);
    swift = (await tokenCatalog()).find((s) => s.type === 'object-store');
    assert.deepEqual(swift?.endpoints, []);
    await api(admin, 'PATCH', url(`/endpoints/${ep.body.endpoint.id}`), { endpoint: { enabled: true, url: 'https://swift2.example.net/v1' } });
    swift = (await tokenCatalog()).find((s) => s.type === 'object-store');
    assert.equal(swift?.endpoints[0].url, 'https://swift2.example.net/v1');
    // A disabled service leaves it whole.
    await api(admin, 'PATCH', url(`/services/${svc.body.service.id}`), { service: { enabled: false } });
    assert.equal((await tokenCatalog()).find((s) => s.type === 'object-store'), undefined);
    await api(admin, 'PATCH', url(`/services/${svc.body.service.id}`), { service: { enabled: true, name: 'swift-renamed' } });
    assert.equal((await tokenCatalog()).find((s) => s.type === 'object-store')?.name, 'swift-renamed');

    // A region holding endpoints (itself or below) is not deleted.
    const busy = await api(admin, 'DELETE', url('/regions/RegionOne-east'));
    assert.equal(busy.status, 403);
    assert.match(busy.body.error.message, /associated endpoints/);
    // Deleting the service takes its endpoints; then the region goes.
    assert.equal((await api(admin, 'DELETE', url(`/services/${svc.body.service.id}`))).status, 204);
    assert.equal((await api(admin, 'GET', url(`/endpoints/${ep.body.endpoint.id}`))).status, 404);
    assert.equal((await tokenCatalog()).find((s) => s.type === 'object-store'), undefined);
    assert.equal((await api(admin, 'DELETE', url('/regions/RegionOne-east'))).status, 204);
    assert.equal((await api(admin, 'GET', url('/regions/RegionOne-east'))).status, 404);
  });

  it('keeps the region tree sound: duplicates, missing parents, cycles; a delete takes the regions below', async () => {
    assert.equal((await api(admin, 'PUT', url('/regions/top'), { region: { description: 'top' } })).status, 201);
    assert.equal((await api(admin, 'PUT', url('/regions/top'), { region: {} })).status, 409);
    assert.equal((await api(admin, 'PUT', url('/regions/mid'), { region: { parent_region_id: 'top' } })).status, 201);
    assert.equal((await api(admin, 'PUT', url('/regions/leaf'), { region: { parent_region_id: 'mid' } })).status, 201);
    assert.equal((await api(admin, 'PUT', url('/regions/x'), { region: { id: 'y' } })).status, 400);
    assert.equal((await api(admin, 'POST', url('/regions'), { region: { parent_region_id: 'nowhere' } })).status, 404);
    const cycle = await api(admin, 'PATCH', url('/regions/top'), { region: { parent_region_id: 'leaf' } });
    assert.equal(cycle.status, 400);
    assert.match(cycle.body.error.message, /circular region hierarchy/);
    assert.equal((await api(admin, 'PATCH', url('/regions/top'), { region: { parent_region_id: 'top' } })).status, 400);
    const patched = await api(admin, 'PATCH', url('/regions/leaf'), { region: { description: 'the leaf' } });
    assert.equal(patched.body.region.description, 'the leaf');
    assert.equal(patched.body.region.parent_region_id, 'mid');
    const generated = await api(admin, 'POST', url('/regions'), { region: {} });
    assert.match(generated.body.region.id, /^[0-9a-f]{32}$/);
    assert.equal((await api(admin, 'DELETE', url('/regions/top'))).status, 204);
    for (const id of ['top', 'mid', 'leaf']) assert.equal((await api(admin, 'GET', url(`/regions/${id}`))).status, 404);
  });

  it('refuses bad endpoints with 400 and creates a legacy region', async () => {
    const svc = (await api(admin, 'GET', url('/services?type=image'))).body.services[0];
    const bad = [
      { service_id: 'nope', interface: 'public', url: 'http://x' },
      { service_id: svc.id, interface: 'public', url: 'http://x', region_id: 'nowhere' },
      { service_id: svc.id, interface: 'sideways', url: 'http://x' },
      { service_id: svc.id, interface: 'public', url: 'no scheme' },
      { service_id: svc.id, interface: 'public', url: 'http://x/$(project_id)s' },
      { service_id: svc.id, interface: 'public' },
    ];
    for (const endpoint of bad) {
      const r = await api(admin, 'POST', url('/endpoints'), { endpoint });
      assert.equal(r.status, 400, JSON.stringify(endpoint));
      assert.equal(r.body.error.code, 400);
    }
    const legacy = await api(admin, 'POST', url('/endpoints'), { endpoint: { service_id: svc.id, interface: 'internal', url: 'http://10.0.0.1:9292', region: 'Legacy' } });
    assert.equal(legacy.status, 201);
    assert.equal(legacy.body.endpoint.region_id, 'Legacy');
    assert.equal((await api(admin, 'GET', url('/regions/Legacy'))).status, 200);
    assert.equal((await api(admin, 'DELETE', url(`/endpoints/${legacy.body.endpoint.id}`))).status, 204);
    assert.equal((await api(admin, 'DELETE', url(`/endpoints/${legacy.body.endpoint.id}`))).status, 404);
    assert.equal((await api(admin, 'POST', url('/services'), { service: { name: 'typeless' } })).status, 400);
    assert.equal((await api(admin, 'PATCH', url(`/services/${svc.id}`), { service: {} })).status, 400);
  });

  it('lets only an admin change the catalog, keeping a name of the body as data', async () => {
    for (const [method, path, body] of [
      ['POST', '/regions', { region: {} }], ['POST', '/services', { service: { type: 't' } }],
      ['POST', '/endpoints', { endpoint: { service_id: 'x', interface: 'public', url: 'http://x' } }], ['DELETE', '/regions/RegionOne', undefined],
    ] as const) {
      const r = await api(member, method, url(path), body);
      assert.equal(r.status, 403, `${method} ${path}`);
      assert.match(r.body.error.message, /identity:(create|delete)_/);
    }
    const proto = await api(admin, 'POST', url('/services'), '{"service": {"type": "x-proto", "__proto__": {"polluted": true}, "constructor": "c"}}');
    assert.equal(proto.status, 201);
    assert.equal(proto.status, 201, JSON.stringify(proto.body));
    assert.ok(Object.hasOwn(proto.body.service, '__proto__'));
    assert.equal(proto.body.service.constructor, 'c');
    assert.equal(({} as any).polluted, undefined);
    assert.equal((await api(admin, 'DELETE', url(`/services/${proto.body.service.id}`))).status, 204);
  });
});
}
