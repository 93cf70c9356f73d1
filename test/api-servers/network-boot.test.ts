import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fakeBackendPath, openFakeBackend, type FakeBackend } from '@orrery/driver-fake';
import { api, login, memberOfNewProject, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

/**
 * The compute side of networking in the all-in-one with the fake driver (issue #13): ports made
 * and bound at boot, the driver handed typed VIFs (contract 1.3), `addresses` and /ips from the
 * info cache, a failed boot and a delete leaving no port, the user's port unbound (kept), the
 * requested networks validated against the Network API with the user's token.
 */

const MV = { 'openstack-api-version': 'compute 2.37' };
const UUID0 = '00000000-0000-4000-8000-000000000000';

describe('servers on networks (compute ↔ network)', () => {
  let cloud: TestCloud;
  let admin: Session;
  let member: Session;
  let imageId: string;
  let netId: string;
  let subnetId: string;
  const backends: Record<string, FakeBackend> = {};

  const net = (s: Session, method: string, path: string, body?: unknown) => api(s, method, `${cloud.urls.network}${path}`, body);
  const compute = (s: Session, method: string, path: string, body?: unknown, mv = MV) => api(s, method, `${cloud.urls.compute}/v2.1${path}`, body, mv);
  const server = async (s: Session, id: string) => (await compute(s, 'GET', `/servers/${id}`)).body.server;
  const settled = (s: Session, id: string) => waitFor(`${id} to settle`, async () => {
    const v = await server(s, id);
    return v.status === 'BUILD' || v['OS-EXT-STS:task_state'] ? undefined : v;
  });
  const boot = async (s: Session, name: string, networks: unknown, extra: Record<string, unknown> = {}) =>
    compute(s, 'POST', '/servers', { server: { name, imageRef: imageId, flavorRef: '1', networks, ...extra } });
  const portsOf = async (deviceId: string) => (await net(admin, 'GET', `/v2.0/ports?device_id=${deviceId}`)).body.ports as Array<Record<string, any>>;
  const gone = (s: Session, id: string) => waitFor(`${id} to go`, async () => ((await compute(s, 'GET', `/servers/${id}`)).status === 404 ? true : undefined));

  before(async () => {
    cloud = await startTestCloud({ fake: { watch_interval_ms: '100' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    member = await memberOfNewProject(cloud, admin, 'netproj', 'netuser');
    imageId = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
    const n = await net(member, 'POST', '/v2.0/networks', { network: { name: 'private' } });
    assert.equal(n.status, 201, JSON.stringify(n.body));
    netId = n.body.network.id;
    const sn = await net(member, 'POST', '/v2.0/subnets', { subnet: { network_id: netId, cidr: '10.20.0.0/24', ip_version: 4, name: 'private-v4' } });
    assert.equal(sn.status, 201, JSON.stringify(sn.body));
    subnetId = sn.body.subnet.id;
    for (const host of ['compute1', 'compute2']) backends[host] = openFakeBackend(fakeBackendPath(cloud.config.statePath('compute', host), host));
  });
  after(async () => {
    for (const b of Object.values(backends)) b.close();
    await cloud?.close();
  });

  it('a boot on a network makes a bound port, hands the driver its VIF and shows the address', async () => {
    const r = await boot(member, 'on-net', [{ uuid: netId }]);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.server.id;
    const s = await settled(member, id);
    assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
    const host = (await server(admin, id))['OS-EXT-SRV-ATTR:host'];

    const ports = await portsOf(id);
    assert.equal(ports.length, 1);
    const p = ports[0]!;
    assert.equal(p.device_owner, 'compute:nova');
    assert.equal(p.project_id, member.projectId);
    assert.equal(p['binding:host_id'], host);
    assert.equal(p.network_id, netId);
    const ip = p.fixed_ips[0].ip_address as string;
    assert.match(ip, /^10\.20\.0\.\d+$/);

    assert.deepEqual(s.addresses, {
      private: [{ version: 4, addr: ip, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': p.mac_address }],
    });
    const ips = await compute(member, 'GET', `/servers/${id}/ips`);
    assert.deepEqual(ips.body, { addresses: { private: [{ version: 4, addr: ip }] } });
    assert.deepEqual((await compute(member, 'GET', `/servers/${id}/ips/private`)).body, { private: [{ version: 4, addr: ip }] });
    assert.equal((await compute(member, 'GET', `/servers/${id}/ips/other`)).status, 404);

    // The driver got the typed VIF (contract 1.3) and was asked to plug it before the spawn.
    const nics = backends[host]!.vifs.nics(id);
    assert.equal(nics.length, 1);
    assert.equal(nics[0]!.id, p.id);
    assert.equal(nics[0]!.mac, p.mac_address);
    assert.equal(nics[0]!.bridge, `brq${netId.slice(0, 11)}`);
    assert.equal(nics[0]!.devName, `tap${p.id.slice(0, 11)}`);
    assert.equal(nics[0]!.mtu, 1450);
    assert.deepEqual(nics[0]!.subnets, [{ cidr: '10.20.0.0/24', gateway: '10.20.0.1', version: 4 }]);
    assert.ok(backends[host]!.vifs.calls(id).some((c) => c.op === 'plugVifs'));

    // Delete: the port it made goes with it.
    assert.equal((await compute(member, 'DELETE', `/servers/${id}`)).status, 204);
    await gone(member, id);
    await waitFor('its port to go', async () => ((await portsOf(id)).length === 0 ? true : undefined));
  });

  it("a user's port is bound at boot and unbound, not deleted, with the server", async () => {
    const made = await net(member, 'POST', '/v2.0/ports', { port: { network_id: netId, name: 'mine' } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const portId = made.body.port.id;
    const r = await boot(member, 'with-port', [{ port: portId }]);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.server.id;
    assert.equal((await settled(member, id)).status, 'ACTIVE');
    const bound = (await net(admin, 'GET', `/v2.0/ports/${portId}`)).body.port;
    assert.equal(bound.device_id, id);
    assert.ok(bound['binding:host_id']);

    // In use: another server cannot take it (Nova's PortInUse, 409).
    const again = await boot(member, 'steal', [{ port: portId }]);
    assert.equal(again.status, 409, JSON.stringify(again.body));

    assert.equal((await compute(member, 'DELETE', `/servers/${id}`)).status, 204);
    await gone(member, id);
    const kept = await waitFor('the port to be unbound', async () => {
      const p = await net(admin, 'GET', `/v2.0/ports/${portId}`);
      return p.status === 200 && p.body.port.device_id === '' ? p.body.port : undefined;
    });
    assert.equal(kept.device_owner, '');
    assert.equal(kept['binding:host_id'], '');
  });

  it('a failed boot leaves no port', async () => {
    for (const b of Object.values(backends)) b.injectFault({ op: 'spawn', kind: 'error', code: 'BackendUnavailable', times: null });
    try {
      const r = await boot(member, 'doomed', [{ uuid: netId }]);
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const s = await settled(member, r.body.server.id);
      assert.equal(s.status, 'ERROR');
      assert.deepEqual(await portsOf(r.body.server.id), []);
      // Nothing else left on the network either: only the DHCP ports the hosts may have.
      const left = (await net(admin, 'GET', `/v2.0/ports?network_id=${netId}`)).body.ports.filter((p: any) => p.device_owner.startsWith('compute:'));
      assert.deepEqual(left, []);
    } finally {
      for (const b of Object.values(backends)) b.clearFaults();
    }
  });

  it('requested networks are checked with the user\'s token', async () => {
    // Unknown (or another project's) network: 400 NetworkNotFound.
    const unknown = await boot(member, 'x', [{ uuid: UUID0 }]);
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.badRequest.message, /Network 00000000-0000-4000-8000-000000000000 could not be found/);
    const other = await net(admin, 'POST', '/v2.0/networks', { network: { name: 'admins-only' } });
    const hidden = await boot(member, 'x', [{ uuid: other.body.network.id }]);
    assert.equal(hidden.status, 400);
    // Unknown port: 400.
    assert.equal((await boot(member, 'x', [{ port: UUID0 }])).status, 400);
    // A fixed IP outside every subnet of the network: 400.
    assert.equal((await boot(member, 'x', [{ uuid: netId, fixed_ip: '192.168.9.9' }])).status, 400);
    // 2.37: networks required.
    const none = await compute(member, 'POST', '/servers', { server: { name: 'x', imageRef: imageId, flavorRef: '1' } });
    assert.equal(none.status, 400);
    // Unknown security group: 400.
    const sg = await boot(member, 'x', [{ uuid: netId }], { security_groups: [{ name: 'nope' }] });
    assert.equal(sg.status, 400, JSON.stringify(sg.body));
    // Nothing was made by any of these.
    const left = (await net(admin, 'GET', `/v2.0/ports?network_id=${netId}`)).body.ports.filter((p: any) => p.device_owner.startsWith('compute:'));
    assert.deepEqual(left, []);
  });

  it('auto: the one network there is; two are ambiguous (409)', async () => {
    const r = await boot(member, 'auto-one', 'auto');
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const s = await settled(member, r.body.server.id);
    assert.equal(s.status, 'ACTIVE');
    assert.deepEqual(Object.keys(s.addresses), ['private']);
    const second = await net(member, 'POST', '/v2.0/networks', { network: { name: 'second' } });
    const amb = await boot(member, 'auto-two', 'auto');
    assert.equal(amb.status, 409, JSON.stringify(amb.body));
    // Below 2.37, nothing given is auto-if-one: ambiguous too.
    const old = await compute(member, 'POST', '/servers', { server: { name: 'old', imageRef: imageId, flavorRef: '1' } }, { 'openstack-api-version': 'compute 2.36' });
    assert.equal(old.status, 409);
    await net(member, 'DELETE', `/v2.0/networks/${second.body.network.id}`);
    await compute(member, 'DELETE', `/servers/${r.body.server.id}`);
    await gone(member, r.body.server.id);
  });

  it('os-interface: attach by network, list, show, detach', async () => {
    const r = await boot(member, 'ifaces', [{ uuid: netId }]);
    const id = r.body.server.id;
    assert.equal((await settled(member, id)).status, 'ACTIVE');
    const list = await compute(member, 'GET', `/servers/${id}/os-interface`);
    assert.equal(list.status, 200);
    assert.equal(list.body.interfaceAttachments.length, 1);
    const first = list.body.interfaceAttachments[0];
    assert.equal(first.net_id, netId);
    assert.deepEqual(Object.keys(first).sort(), ['fixed_ips', 'mac_addr', 'net_id', 'port_id', 'port_state']);

    const both = await compute(member, 'POST', `/servers/${id}/os-interface`, { interfaceAttachment: { net_id: netId, port_id: first.port_id } });
    assert.equal(both.status, 400);
    const att = await compute(member, 'POST', `/servers/${id}/os-interface`, { interfaceAttachment: { net_id: netId, fixed_ips: [{ ip_address: '10.20.0.200' }] } });
    assert.equal(att.status, 200, JSON.stringify(att.body));
    const added = att.body.interfaceAttachment;
    assert.deepEqual(added.fixed_ips.map((f: any) => f.ip_address), ['10.20.0.200']);
    const s = await server(member, id);
    assert.equal(s.addresses.private.length, 2);
    const host = (await server(admin, id))['OS-EXT-SRV-ATTR:host'];
    assert.equal(backends[host]!.vifs.nics(id).length, 2);
    assert.equal((await compute(member, 'GET', `/servers/${id}/os-interface/${added.port_id}`)).body.interfaceAttachment.port_id, added.port_id);
    assert.equal((await compute(member, 'GET', `/servers/${id}/os-interface/${UUID0}`)).status, 404);

    assert.equal((await compute(member, 'DELETE', `/servers/${id}/os-interface/${added.port_id}`)).status, 202);
    assert.equal(backends[host]!.vifs.nics(id).length, 1);
    // Made for the attach: deleted at detach.
    assert.equal((await net(admin, 'GET', `/v2.0/ports/${added.port_id}`)).status, 404);
    assert.equal((await server(member, id)).addresses.private.length, 1);
    await compute(member, 'DELETE', `/servers/${id}`);
    await gone(member, id);
  });

  it('network-changed refreshes the info cache', async () => {
    const r = await boot(member, 'changing', [{ uuid: netId }]);
    const id = r.body.server.id;
    assert.equal((await settled(member, id)).status, 'ACTIVE');
    const [p] = await portsOf(id);
    const upd = await net(admin, 'PUT', `/v2.0/ports/${p!.id}`, { port: { fixed_ips: [{ subnet_id: subnetId, ip_address: '10.20.0.77' }] } });
    assert.equal(upd.status, 200, JSON.stringify(upd.body));
    // The network service notifies (H1's notifier); the event is posted here too, as Neutron would.
    const ev = await compute(admin, 'POST', '/os-server-external-events', { events: [{ name: 'network-changed', server_uuid: id, tag: p!.id }] });
    assert.equal(ev.status, 200);
    await waitFor('the new address in the cache', async () =>
      ((await server(member, id)).addresses.private?.[0]?.addr === '10.20.0.77' ? true : undefined));
    await compute(member, 'DELETE', `/servers/${id}`);
    await gone(member, id);
  });
});
