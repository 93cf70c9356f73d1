import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, castSpec, instanceRow, serverBody, startHarness, waitForCast, type Harness } from './harness.js';
import type { Session } from '../support/http.js';

/** POST /servers from 2.38 to 2.93: each microversion's field at its version and refused below it. */
describe('server create microversions', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ quota: { instances: '100', cores: '200', ram: '1000000' } });
  });
  after(async () => h.close());

  const create = (extra: Record<string, unknown>, mv: string, who: Session = h.member) =>
    call(h, who, 'POST', '/v2.1/servers', serverBody(h, { ...(mv === '2.1' ? {} : { networks: 'none' }), ...extra }), mv);
  const unexpected = (res: { status: number; body: any }, field: string): void => { // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(res.body.badRequest.message, new RegExp(`'${field}' was unexpected`));
  };

  it('2.42 device tags: a network tag is refused at 2.41 and accepted (validated) at 2.42', async () => {
    unexpected(await create({ networks: [{ uuid: crypto.randomUUID(), tag: 'nic1' }] }, '2.41'), 'tag');
    const at242 = await create({ networks: [{ uuid: crypto.randomUUID(), tag: 'nic1' }] }, '2.42');
    assert.equal(at242.status, 400);
    assert.match(at242.body.badRequest.message, /^Network .* could not be found\.$/, 'the tag passes; the network is what is missing');
    unexpected(await create({ block_device_mapping_v2: [{ source_type: 'image', uuid: h.images.active, boot_index: 0, destination_type: 'local', tag: 'root' }] }, '2.41'), 'tag');
    assert.equal((await create({ block_device_mapping_v2: [{ source_type: 'image', uuid: h.images.active, boot_index: 0, destination_type: 'local', tag: 'root' }] }, '2.42')).status, 202);
  });

  it('2.52 tags on create: stored from 2.52, refused at 2.51', async () => {
    unexpected(await create({ tags: ['a'] }, '2.51'), 'tags');
    const res = await create({ tags: ['blue', 'green'] }, '2.52');
    assert.equal(res.status, 202);
    assert.deepEqual(JSON.parse((await instanceRow(h, res.body.server.id)).tags), ['blue', 'green']);
    assert.equal((await create({ tags: Array.from({ length: 51 }, (_, i) => `t${i}`) }, '2.52')).status, 400);
  });

  it('2.57 personality removed: refused as unknown from 2.57; validated and refused as unsupported at 2.56', async () => {
    const files = [{ path: '/etc/motd', contents: Buffer.from('hi').toString('base64') }];
    unexpected(await create({ personality: files }, '2.57'), 'personality');
    const at256 = await create({ personality: files }, '2.56');
    assert.equal(at256.status, 400);
    assert.match(at256.body.badRequest.message, /injection is not supported/);
    assert.match((await create({ personality: [{ path: '/x', contents: '!!' }] }, '2.56')).body.badRequest.message, /cannot be decoded/);
  });

  it('2.63 trusted_image_certificates: refused at 2.62; validated at 2.63 and answered as unavailable', async () => {
    unexpected(await create({ trusted_image_certificates: ['cert-1'] }, '2.62'), 'trusted_image_certificates');
    assert.equal((await create({ trusted_image_certificates: [] }, '2.63')).status, 400, 'minItems 1');
    const at263 = await create({ trusted_image_certificates: ['cert-1'] }, '2.63');
    assert.equal(at263.status, 400);
    assert.match(at263.body.badRequest.message, /certificate validation is not available/);
    assert.equal((await create({ trusted_image_certificates: null }, '2.63')).status, 202);
  });

  it('2.67 volume_type in block_device_mapping_v2: refused at 2.66; at 2.67 volumes answer as unavailable', async () => {
    const bdm = [{ source_type: 'image', uuid: h.images.active, destination_type: 'volume', boot_index: 0, volume_size: 1, volume_type: 'ssd' }];
    unexpected(await create({ block_device_mapping_v2: bdm }, '2.66'), 'volume_type');
    const at267 = await create({ block_device_mapping_v2: bdm }, '2.67');
    assert.equal(at267.status, 400);
    assert.match(at267.body.badRequest.message, /volumes are unavailable/);
  });

  it('2.74 host and hypervisor_hostname: refused at 2.73; admin only at 2.74, checked, and passed to the scheduler', async () => {
    unexpected(await create({ host: h.node.host }, '2.73', h.admin), 'host');
    assert.equal((await create({ host: h.node.host }, '2.74')).status, 403);
    assert.equal((await create({ host: 'no-such-host' }, '2.74', h.admin)).status, 400);
    assert.equal((await create({ host: h.node.host, availability_zone: 'nova:compute1' }, '2.74', h.admin)).status, 400);
    h.casts.length = 0;
    const ok = await create({ host: h.node.host }, '2.74', h.admin);
    assert.equal(ok.status, 202);
    const cast = await waitForCast(h, (c) => c.method === 'build_instances');
    assert.equal(castSpec(cast).forceHost, h.node.host);
  });

  it('2.90 hostname: refused at 2.89; kept at 2.90, one server only', async () => {
    unexpected(await create({ hostname: 'web01' }, '2.89'), 'hostname');
    const res = await create({ hostname: 'web01' }, '2.90');
    assert.equal(res.status, 202);
    assert.equal((await instanceRow(h, res.body.server.id)).hostname, 'web01');
    assert.equal((await create({ hostname: 'web01', max_count: 2 }, '2.90')).status, 400);
    assert.equal((await create({ hostname: 'bad_name' }, '2.90')).status, 400);
  });

  it('OS-DCF:diskConfig is kept (AUTO shows AUTO) and accessIPv6 is stored in canonical form', async () => {
    const res = await create({ 'OS-DCF:diskConfig': 'AUTO', accessIPv6: '2001:DB8:0:0:0::1', accessIPv4: '192.0.2.7' }, '2.1');
    assert.equal(res.status, 202);
    assert.equal(res.body.server['OS-DCF:diskConfig'], 'AUTO');
    const show = await call(h, h.member, 'GET', `/v2.1/servers/${res.body.server.id}`);
    assert.equal(show.body.server['OS-DCF:diskConfig'], 'AUTO');
    assert.equal(show.body.server.accessIPv6, '2001:db8::1');
    assert.equal(show.body.server.accessIPv4, '192.0.2.7');
    assert.equal((await create({ accessIPv4: '300.1.1.1' }, '2.1')).status, 400);
    assert.equal((await create({ accessIPv6: 'zz::1' }, '2.1')).status, 400);
  });
});
