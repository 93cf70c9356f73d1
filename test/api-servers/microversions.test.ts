import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { activeServer, call, startHarness, type Harness } from './harness.js';

/** fetch() may not set Host; node:http may. */
function getWithHost(url: string, host: string): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('compute API versions and microversions', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h.close());

  it('serves the version documents without a token, with links from the Host header', async () => {
    const root = await call(h, null, 'GET', '/');
    assert.equal(root.status, 200);
    assert.deepEqual(root.body.versions.map((v: { id: string }) => v.id), ['v2.1']);
    const v = root.body.versions[0];
    assert.equal(v.version, '2.93');
    assert.equal(v.min_version, '2.1');
    assert.equal(v.status, 'CURRENT');
    assert.deepEqual(v.links, [{ rel: 'self', href: `${h.url}/v2.1/` }]);

    const one = await getWithHost(`${h.url}/v2.1`, 'compute.example:8774');
    assert.equal(one.status, 200);
    assert.equal(one.body.version.id, 'v2.1');
    assert.equal(one.body.version.links[0].href, 'http://compute.example:8774/v2.1/');
    assert.deepEqual(one.body.version['media-types'], [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }]);
    assert.equal((await call(h, null, 'GET', '/v2.1/')).status, 200);
  });

  it('negotiates: none means 2.1, "latest" the maximum, the legacy header works, and answers carry the headers', async () => {
    const none = await call(h, h.member, 'GET', '/v2.1/servers');
    assert.equal(none.status, 200);
    assert.equal(none.headers.get('openstack-api-version'), 'compute 2.1');
    assert.equal(none.headers.get('x-openstack-nova-api-version'), '2.1');
    assert.match(none.headers.get('vary') ?? '', /OpenStack-API-Version/);
    assert.match(none.headers.get('vary') ?? '', /X-OpenStack-Nova-API-Version/);

    const latest = await call(h, h.member, 'GET', '/v2.1/servers', undefined, 'latest');
    assert.equal(latest.headers.get('openstack-api-version'), 'compute 2.93');
    const legacy = await call(h, h.member, 'GET', '/v2.1/servers', undefined, undefined, { 'x-openstack-nova-api-version': '2.19' });
    assert.equal(legacy.headers.get('x-openstack-nova-api-version'), '2.19');
    const other = await call(h, h.member, 'GET', '/v2.1/servers', undefined, undefined, { 'openstack-api-version': 'volume 3.5, compute 2.9' });
    assert.equal(other.headers.get('openstack-api-version'), 'compute 2.9');

    // errors carry the negotiated version too
    const missing = await call(h, h.member, 'GET', `/v2.1/servers/${crypto.randomUUID()}`, undefined, '2.3');
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('openstack-api-version'), 'compute 2.3');
  });

  it('refuses versions out of range with 406 and malformed ones with 400, in Nova\'s body', async () => {
    const high = await call(h, h.member, 'GET', '/v2.1/servers', undefined, '2.94');
    assert.equal(high.status, 406);
    assert.deepEqual(high.body, { computeFault: { code: 406, message: 'Version 2.94 is not supported by the API. Minimum is 2.1 and maximum is 2.93.' } });
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers', undefined, '3.0')).status, 406);
    const bad = await call(h, h.member, 'GET', '/v2.1/servers', undefined, '2.x');
    assert.equal(bad.status, 400);
    assert.match(bad.body.badRequest.message, /API Version String 2\.x is of invalid format/);
    // authentication comes first, as behind keystonemiddleware
    assert.equal((await call(h, null, 'GET', '/v2.1/servers', undefined, '2.99')).status, 401);
  });

  it('shows each microversion\'s fields only from that version on', async () => {
    const id = await activeServer(h, h.member);
    const fields = async (mv: string, who = h.member): Promise<Record<string, unknown>> =>
      (await call(h, who, 'GET', `/v2.1/servers/${id}`, undefined, mv)).body.server;

    const v21 = await fields('2.1');
    for (const k of ['locked', 'description', 'tags', 'host_status', 'OS-EXT-SRV-ATTR:host']) assert.ok(!(k in v21), k);
    const v29 = await fields('2.9');
    assert.equal(v29.locked, false);
    assert.ok(!('description' in v29));
    const v219 = await fields('2.19');
    assert.equal(v219.description, null);
    assert.ok(!('tags' in v219));
    assert.deepEqual((await fields('2.26')).tags, []);

    const admin21 = await fields('2.1', h.admin);
    assert.equal(admin21['OS-EXT-SRV-ATTR:host'], h.node.host);
    assert.equal(admin21['OS-EXT-SRV-ATTR:hypervisor_hostname'], h.node.name);
    assert.match(String(admin21['OS-EXT-SRV-ATTR:instance_name']), /^instance-[0-9a-f]{8}$/);
    assert.ok(!('OS-EXT-SRV-ATTR:reservation_id' in admin21));
    const admin23 = await fields('2.3', h.admin);
    assert.match(String(admin23['OS-EXT-SRV-ATTR:reservation_id']), /^r-[0-9a-z]{8}$/);
    assert.equal(admin23['OS-EXT-SRV-ATTR:launch_index'], 0);
    assert.equal(admin23['OS-EXT-SRV-ATTR:hostname'], 'vm');
    for (const k of ['kernel_id', 'ramdisk_id', 'root_device_name', 'user_data']) assert.ok(`OS-EXT-SRV-ATTR:${k}` in admin23, k);
    assert.ok(!('host_status' in admin23));
    assert.equal((await fields('2.16', h.admin)).host_status, 'UP');
    assert.ok(!('host_status' in (await fields('2.16'))), 'host_status is for admins');
  });

  it('serves every route under /v2.1/{project_id} too, and refuses another project\'s id in the URL', async () => {
    const mine = await call(h, h.member, 'GET', `/v2.1/${h.member.projectId}/servers`);
    assert.equal(mine.status, 200);
    const theirs = await call(h, h.member, 'GET', `/v2.1/${h.other.projectId}/servers`);
    assert.equal(theirs.status, 400);
    assert.match(theirs.body.badRequest.message, /Malformed request URL: URL's project_id/);
  });
});
