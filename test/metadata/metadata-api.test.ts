import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { signInstanceId } from '../../src/common/metadata-secret.js';
import { updateInstanceRow } from '../../src/db/instances.js';
import type { CachedVif } from '../../src/db/schema-network.js';
import { api, login, memberOfNewProject, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

/**
 * Nova's metadata API on the all-in-one, called as the forwarder calls it: signed instance ids,
 * each document of both flavours, user data decoded, and one instance never seeing another's.
 */
const SECRET = 'test-shared-secret';
const USER_DATA = '#!/bin/sh\necho hello from user data\n';

describe('the metadata API', () => {
  let cloud: TestCloud;
  let admin: Session;
  let other: Session;
  let mine: { id: string; projectId: string };
  let theirs: { id: string; projectId: string };
  let publicKey: string;
  let ndServer: { id: string; projectId: string };

  const vif = (port: string, address: string): CachedVif => ({
    port_id: port, network_id: 'net-0000-1111', network_label: 'private', mac: 'fa:16:3e:00:00:01', mtu: 1450, created_by_compute: true,
    fixed_ips: [{ address, version: 4, subnet_id: 'subnet-unknown', floating_ips: ['172.24.4.10'] }],
  });

  /** A GET of the metadata API as the forwarder makes it (headers overridable). */
  const md = (path: string, who: { id: string; projectId: string }, headers: Record<string, string | undefined> = {}): Promise<Response> => {
    const h: Record<string, string> = {};
    const all: Record<string, string | undefined> = {
      'x-instance-id': who.id, 'x-tenant-id': who.projectId, 'x-instance-id-signature': signInstanceId(SECRET, who.id),
      'x-forwarded-for': '10.0.0.5', ...headers,
    };
    for (const [k, v] of Object.entries(all)) if (v !== undefined) h[k] = v;
    return fetch(`${cloud.urls.metadata}${path}`, { headers: h });
  };
  const text = async (path: string, who = mine): Promise<string> => {
    const r = await md(path, who);
    assert.equal(r.status, 200, `${path}: ${r.status}`);
    return r.text();
  };

  async function boot(session: Session, name: string, extra: Record<string, unknown>): Promise<{ id: string; projectId: string }> {
    const c = cloud.urls;
    const image = await api(session, 'GET', `${c.image}/v2/images?name=orrery-tiny`);
    const r = await api(session, 'POST', `${c.compute}/v2.1/servers`, {
      server: { name, imageRef: image.body.images[0].id, flavorRef: '1', networks: 'none', ...extra },
    }, { 'openstack-api-version': 'compute 2.37' });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.server.id as string;
    await waitFor('ACTIVE', async () => ((await api(session, 'GET', `${c.compute}/v2.1/servers/${id}`)).body.server.status === 'ACTIVE' ? true : undefined));
    return { id, projectId: session.projectId };
  }

  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' }, neutron: { metadata_proxy_shared_secret: SECRET } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    other = await memberOfNewProject(cloud, admin, 'md-other', 'md-other-u');
    const kp = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/os-keypairs`, { keypair: { name: 'md-key' } });
    publicKey = kp.body.keypair.public_key;
    mine = await boot(admin, 'md-vm', { key_name: 'md-key', user_data: Buffer.from(USER_DATA).toString('base64'), metadata: { role: 'web', __proto__x: 'y' } });
    theirs = await boot(other, 'their-vm', {});
    await updateInstanceRow(cloud.db, mine.id, { network_info: JSON.stringify([vif('0123456789abcdef-port', '10.0.0.5')]) });
  });
  after(async () => {
    await cloud?.close();
  });

  it('refuses a missing or wrong signature with 403, missing ids with 400', async () => {
    assert.equal((await md('/openstack/latest/meta_data.json', mine, { 'x-instance-id-signature': undefined })).status, 403);
    assert.equal((await md('/openstack/latest/meta_data.json', mine, { 'x-instance-id-signature': signInstanceId('wrong', mine.id) })).status, 403);
    assert.equal((await md('/openstack/latest/meta_data.json', mine, { 'x-instance-id-signature': 'short' })).status, 403);
    // A valid signature of another instance's id does not open this one.
    assert.equal((await md('/openstack/latest/meta_data.json', mine, { 'x-instance-id-signature': signInstanceId(SECRET, theirs.id) })).status, 403);
    assert.equal((await md('/openstack/latest/meta_data.json', mine, { 'x-instance-id': undefined })).status, 400);
    assert.equal((await md('/openstack/latest/meta_data.json', mine, { 'x-tenant-id': undefined })).status, 400);
    assert.equal((await fetch(`${cloud.urls.metadata}/openstack/latest/user_data`)).status, 400);
  });

  it('answers 404 for an unknown instance and for an instance of another project than the one signed', async () => {
    const ghost = { id: '00000000-0000-4000-8000-000000000000', projectId: admin.projectId };
    assert.equal((await md('/openstack/latest/meta_data.json', ghost)).status, 404);
    assert.equal((await md('/openstack/latest/meta_data.json', { id: theirs.id, projectId: admin.projectId })).status, 404);
    assert.equal((await md('/openstack/latest/nope', mine)).status, 404);
    assert.equal((await md('/openstack/1999-01-01/meta_data.json', mine)).status, 404);
    assert.equal((await md('/latest/meta-data/nope', mine)).status, 404);
    assert.equal((await md('/openstack/latest/%E0%A4%A', mine)).status, 400);
  });

  it('lists the versions of both flavours', async () => {
    assert.equal(await text('/openstack'), '2012-08-10\n2013-04-04\n2013-10-17\n2015-10-15\n2016-06-30\n2016-10-06\n2017-02-22\n2018-08-27\nlatest');
    assert.equal(await text('/'), '1.0\n2007-01-19\n2007-03-01\n2007-08-29\n2007-10-10\n2007-12-15\n2008-02-01\n2008-09-01\n2009-04-04\nlatest');
    assert.equal(await text('/openstack/latest'), 'meta_data.json\nuser_data\npassword\nvendor_data.json\nnetwork_data.json\nvendor_data2.json');
    assert.equal(await text('/openstack/2012-08-10/'), 'meta_data.json\nuser_data');
    assert.equal(await text('/openstack/latest', theirs), 'meta_data.json\npassword\nvendor_data.json\nnetwork_data.json\nvendor_data2.json');
  });

  it('serves meta_data.json with the instance, its keys and metadata', async () => {
    const r = await md('/openstack/latest/meta_data.json', mine);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
    const doc = await r.json() as Record<string, any>;
    assert.equal(doc.uuid, mine.id);
    assert.equal(doc.name, 'md-vm');
    assert.equal(doc.hostname, 'md-vm.novalocal');
    assert.equal(doc.project_id, admin.projectId);
    assert.equal(doc.availability_zone, 'nova');
    assert.equal(doc.launch_index, 0);
    assert.deepEqual(doc.public_keys, { 'md-key': publicKey });
    assert.deepEqual(doc.keys, [{ name: 'md-key', type: 'ssh', data: publicKey }]);
    assert.deepEqual(doc.meta, { role: 'web', __proto__x: 'y' });
    assert.deepEqual(doc.devices, []);
    assert.equal(Buffer.from(doc.random_seed, 'base64').length, 512);
    // Older versions have fewer fields, as Nova's.
    const folsom = await (await md('/openstack/2012-08-10/meta_data.json', mine)).json() as Record<string, unknown>;
    assert.equal(folsom.project_id, undefined);
    assert.equal(folsom.random_seed, undefined);
    assert.equal(folsom.devices, undefined);
  });

  it('serves the user data decoded, and 404 when the server has none', async () => {
    assert.equal(await text('/openstack/latest/user_data'), USER_DATA);
    assert.equal(await text('/latest/user-data'), USER_DATA);
    assert.equal((await md('/openstack/latest/user_data', theirs)).status, 404);
    assert.equal((await md('/latest/user-data', theirs)).status, 404);
  });

  it('serves vendor data as {} and network_data.json from the info cache', async () => {
    assert.deepEqual(await (await md('/openstack/latest/vendor_data.json', mine)).json(), {});
    assert.deepEqual(await (await md('/openstack/latest/vendor_data2.json', mine)).json(), {});
    const nd = await (await md('/openstack/latest/network_data.json', mine)).json() as Record<string, any>;
    assert.deepEqual(nd.links, [{ id: 'tap0123456789a', vif_id: '0123456789abcdef-port', type: 'bridge', mtu: 1450, ethernet_mac_address: 'fa:16:3e:00:00:01' }]);
    // The subnet is unknown to the Network API: the address is described as DHCP-configured.
    assert.deepEqual(nd.networks, [{ id: 'network0', type: 'ipv4_dhcp', link: 'tap0123456789a', network_id: 'net-0000-1111' }]);
    assert.deepEqual(await (await md('/openstack/latest/network_data.json', theirs)).json(), { links: [], networks: [], services: [] });
  });

  it('network_data.json and security-groups come from the Network API: the subnets of the fixed IPs, the groups of the ports', async () => {
    const c = cloud.urls;
    const net = await api(admin, 'POST', `${c.network}/v2.0/networks`, { network: { name: 'md-nd' } });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    const sub = await api(admin, 'POST', `${c.network}/v2.0/subnets`, {
      subnet: { network_id: net.body.network.id, ip_version: 4, cidr: '10.66.0.0/24', enable_dhcp: false, dns_nameservers: ['10.66.0.53'], host_routes: [{ destination: '192.168.7.0/24', nexthop: '10.66.0.254' }] },
    });
    assert.equal(sub.status, 201, JSON.stringify(sub.body));
    const server = await boot(admin, 'md-nd-vm', {});
    const port = await api(admin, 'POST', `${c.network}/v2.0/ports`, {
      port: { network_id: net.body.network.id, device_id: server.id, device_owner: 'compute:nova', fixed_ips: [{ subnet_id: sub.body.subnet.id }] },
    });
    assert.equal(port.status, 201, JSON.stringify(port.body));
    const p = port.body.port;
    await updateInstanceRow(cloud.db, server.id, {
      network_info: JSON.stringify([{
        port_id: p.id, network_id: p.network_id, network_label: 'md-nd', mac: p.mac_address, mtu: 1450, created_by_compute: true,
        fixed_ips: [{ address: p.fixed_ips[0].ip_address, version: 4, subnet_id: sub.body.subnet.id, floating_ips: [] }],
      }]),
    });
    const nd = await (await md('/openstack/latest/network_data.json', server)).json() as Record<string, any>;
    assert.deepEqual(nd, {
      links: [{ id: `tap${p.id.slice(0, 11)}`, vif_id: p.id, type: 'bridge', mtu: 1450, ethernet_mac_address: p.mac_address }],
      networks: [{
        id: 'network0', type: 'ipv4', link: `tap${p.id.slice(0, 11)}`, ip_address: p.fixed_ips[0].ip_address, netmask: '255.255.255.0',
        routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '10.66.0.1' }, { network: '192.168.7.0', netmask: '255.255.255.0', gateway: '10.66.0.254' }],
        network_id: net.body.network.id, services: [{ type: 'dns', address: '10.66.0.53' }],
      }],
      services: [{ type: 'dns', address: '10.66.0.53' }],
    });
    assert.equal(await text('/latest/meta-data/local-ipv4', server), p.fixed_ips[0].ip_address);
    ndServer = server;
  });

  it("EC2's security-groups names the groups of the instance's ports", async (t) => {
    if ((await api(admin, 'GET', `${cloud.urls.network}/v2.0/security-groups`)).status === 404) {
      t.skip('this Network API has no security-groups collection yet');
      return;
    }
    assert.equal(await text('/latest/meta-data/security-groups', ndServer), 'default');
  });

  it('serves the EC2 flavour', async () => {
    assert.equal(await text('/latest'), 'meta-data/\nuser-data');
    const listing = (await text('/latest/meta-data/')).split('\n');
    for (const k of ['instance-id', 'hostname', 'local-ipv4', 'public-ipv4', 'public-keys/', 'placement/', 'ami-launch-index', 'instance-type']) assert.ok(listing.includes(k), `${k} in ${listing.join(',')}`);
    assert.match(await text('/latest/meta-data/instance-id'), /^i-[0-9a-f]{8}$/);
    assert.equal(await text('/latest/meta-data/hostname'), 'md-vm.novalocal');
    assert.equal(await text('/latest/meta-data/local-ipv4'), '10.0.0.5');
    assert.equal(await text('/latest/meta-data/public-ipv4'), '172.24.4.10');
    assert.equal(await text('/latest/meta-data/public-keys'), '0=md-key');
    assert.equal(await text('/latest/meta-data/public-keys/0'), 'openssh-key');
    assert.equal(await text('/latest/meta-data/public-keys/0/openssh-key'), publicKey);
    assert.equal(await text('/latest/meta-data/placement/availability-zone'), 'nova');
    assert.equal(await text('/2009-04-04/meta-data/instance-type'), 'm1.tiny');
    // 1.0 has no placement, and no public-ipv4.
    assert.equal((await md('/1.0/meta-data/placement/availability-zone', mine)).status, 404);
    assert.equal((await md('/1.0/meta-data/public-ipv4', mine)).status, 404);
    // Path tokens are data: no property of Object.prototype is reachable.
    for (const p of ['/latest/meta-data/constructor', '/latest/meta-data/__proto__', '/openstack/latest/toString', '/latest/meta-data/public-keys/0/hasOwnProperty']) {
      assert.equal((await md(p, mine)).status, 404, p);
    }
  });

  it('takes the password a guest posts once, as Nova: 400 when too long, 409 once set; the owner reads it', async () => {
    const post = (body: string, who = theirs, path = '/openstack/latest/password'): Promise<Response> => fetch(`${cloud.urls.metadata}${path}`, {
      method: 'POST', body, headers: {
        'content-type': 'text/plain', 'x-instance-id': who.id, 'x-tenant-id': who.projectId, 'x-instance-id-signature': signInstanceId(SECRET, who.id),
      },
    });
    assert.equal((await post('x'.repeat(257))).status, 400);
    assert.equal((await post('pw', theirs, '/openstack/2012-08-10/password')).status, 404);
    assert.equal((await post('pw', theirs, '/openstack/latest/meta_data.json')).status, 404);
    assert.equal((await post('ZW5jcnlwdGVk')).status, 200);
    assert.equal((await post('again')).status, 409);
    assert.equal(await text('/openstack/latest/password', theirs), 'ZW5jcnlwdGVk');
    const shown = await api(other, 'GET', `${cloud.urls.compute}/v2.1/servers/${theirs.id}/os-server-password`);
    assert.deepEqual(shown.body, { password: 'ZW5jcnlwdGVk' });
    // Unsigned, it changes nothing.
    const unsigned = await fetch(`${cloud.urls.metadata}/openstack/latest/password`, { method: 'POST', body: 'x', headers: { 'x-instance-id': mine.id, 'x-tenant-id': mine.projectId } });
    assert.equal(unsigned.status, 403);
    assert.equal(await text('/openstack/latest/password'), '');
  });

  it('isolates instances: each signed id sees only its own documents', async () => {
    const a = await (await md('/openstack/latest/meta_data.json', mine)).json() as { uuid: string; name: string };
    const b = await (await md('/openstack/latest/meta_data.json', theirs)).json() as { uuid: string; name: string; public_keys?: unknown };
    assert.equal(a.uuid, mine.id);
    assert.equal(b.uuid, theirs.id);
    assert.equal(b.name, 'their-vm');
    assert.equal(b.public_keys, undefined);
  });

  it('a deleted server is gone from the metadata service', async () => {
    const gone = await boot(other, 'short-lived', {});
    assert.equal((await md('/openstack/latest/meta_data.json', gone)).status, 200);
    assert.equal((await api(other, 'DELETE', `${cloud.urls.compute}/v2.1/servers/${gone.id}`)).status, 204);
    await waitFor('gone', async () => ((await md('/openstack/latest/meta_data.json', gone)).status === 404 ? true : undefined));
  });
});
