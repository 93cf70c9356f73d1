import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fakeBackendPath, openFakeBackend, type FakeBackend } from '@orrery/driver-fake';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

/**
 * The compute API's network proxies and the moves' port bindings, in the all-in-one with the
 * fake driver on two hosts (compute2's driver without interfaceAttach): the deprecated proxies
 * answer up to 2.35 and 404 from 2.36; addFloatingIp/removeFloatingIp go through the Network API
 * up to 2.43; a cold migration binds the server's port to the new host and plugs it there;
 * os-interface attach on a driver without the capability is 409 and leaves no port.
 */

const V = (v: string) => ({ 'openstack-api-version': `compute ${v}` });

describe('network proxies, floating IPs and moves (compute ↔ network)', () => {
  let cloud: TestCloud;
  let admin: Session;
  let imageId: string;
  let netId: string;
  let subnetId: string;
  const backends: Record<string, FakeBackend> = {};

  const net = (method: string, path: string, body?: unknown) => api(admin, method, `${cloud.urls.network}${path}`, body);
  const compute = (method: string, path: string, body?: unknown, mv = V('2.35')) => api(admin, method, `${cloud.urls.compute}/v2.1${path}`, body, mv);
  const show = async (id: string) => (await compute('GET', `/servers/${id}`, undefined, V('2.80'))).body.server;
  const settled = (id: string) => waitFor(`${id} to settle`, async () => {
    const v = await show(id);
    return v.status === 'BUILD' || v['OS-EXT-STS:task_state'] ? undefined : v;
  });
  const boot = async (name: string, zone?: string): Promise<string> => {
    const r = await compute('POST', '/servers', {
      server: { name, imageRef: imageId, flavorRef: '1', networks: [{ uuid: netId }], ...(zone ? { availability_zone: zone } : {}) },
    }, V('2.37'));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const s = await settled(r.body.server.id);
    assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
    return r.body.server.id;
  };
  const portOf = async (id: string) => (await net('GET', `/v2.0/ports?device_id=${id}`)).body.ports[0];

  before(async () => {
    cloud = await startTestCloud({
      DEFAULT: { compute_hosts: 'compute1,compute2', shelved_offload_time: '0' },
      fake: { live_migration_ms: '200' },
      'fake@compute2': { unsupported: 'interfaceAttach' },
    });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    imageId = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
    netId = (await net('POST', '/v2.0/networks', { network: { name: 'private' } })).body.network.id;
    subnetId = (await net('POST', '/v2.0/subnets', { subnet: { network_id: netId, cidr: '10.40.0.0/24', ip_version: 4 } })).body.subnet.id;
    for (const host of ['compute1', 'compute2']) backends[host] = openFakeBackend(fakeBackendPath(cloud.config.statePath('compute', host), host));
  });
  after(async () => {
    for (const b of Object.values(backends)) b.close();
    await cloud?.close();
  });

  it('os-networks and os-tenant-networks up to 2.35, 404 from 2.36', async () => {
    const list = await compute('GET', '/os-networks');
    assert.equal(list.status, 200);
    const mine = list.body.networks.find((n: any) => n.id === netId);
    assert.equal(mine.label, 'private');
    assert.equal(mine.cidr, null);
    assert.equal((await compute('GET', `/os-networks/${netId}`)).body.network.label, 'private');
    assert.equal((await compute('GET', '/os-networks/00000000-0000-4000-8000-000000000000')).status, 404);
    const tenant = await compute('GET', '/os-tenant-networks');
    assert.deepEqual(tenant.body.networks.find((n: any) => n.id === netId), { id: netId, cidr: 'None', label: 'private' });
    for (const path of ['/os-networks', '/os-tenant-networks', '/os-floating-ip-pools', '/os-floating-ips', '/os-security-groups']) {
      assert.equal((await compute('GET', path, undefined, V('2.36'))).status, 404, path);
    }
  });

  it('os-security-groups: the default group with its ingress rules; create, add a rule, delete', async () => {
    const list = await compute('GET', '/os-security-groups');
    assert.equal(list.status, 200, JSON.stringify(list.body));
    const made = await compute('POST', '/os-security-groups', { security_group: { name: 'web', description: 'http' } });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const g = made.body.security_group;
    assert.equal(g.name, 'web');
    assert.equal(g.tenant_id, admin.projectId);
    const rule = await compute('POST', '/os-security-group-rules', {
      security_group_rule: { parent_group_id: g.id, ip_protocol: 'tcp', from_port: 80, to_port: 80, cidr: '0.0.0.0/0' },
    });
    assert.equal(rule.status, 200, JSON.stringify(rule.body));
    assert.deepEqual({ ...rule.body.security_group_rule, id: 'x' }, {
      id: 'x', parent_group_id: g.id, ip_protocol: 'tcp', from_port: 80, to_port: 80, group: {}, ip_range: { cidr: '0.0.0.0/0' },
    });
    const dup = await compute('POST', '/os-security-group-rules', {
      security_group_rule: { parent_group_id: g.id, ip_protocol: 'tcp', from_port: 80, to_port: 80, cidr: '0.0.0.0/0' },
    });
    assert.equal(dup.status, 400, JSON.stringify(dup.body));
    const shown = await compute('GET', `/os-security-groups/${g.id}`);
    assert.equal(shown.body.security_group.rules.length, 1, 'the egress defaults are not shown');
    assert.equal((await compute('DELETE', `/os-security-group-rules/${rule.body.security_group_rule.id}`)).status, 202);
    assert.equal((await compute('DELETE', `/os-security-groups/${g.id}`)).status, 202);
    assert.equal((await compute('GET', `/os-security-groups/${g.id}`)).status, 404);
  });

  it('addFloatingIp / removeFloatingIp up to 2.43; os-floating-ips and pools', async () => {
    const ext = await net('POST', '/v2.0/networks', {
      network: { name: 'public', 'router:external': true, 'provider:network_type': 'flat', 'provider:physical_network': 'external' },
    });
    assert.equal(ext.status, 201, JSON.stringify(ext.body));
    await net('POST', '/v2.0/subnets', { subnet: { network_id: ext.body.network.id, cidr: '172.24.4.0/24', ip_version: 4, enable_dhcp: false } });
    const router = (await net('POST', '/v2.0/routers', { router: { name: 'r', external_gateway_info: { network_id: ext.body.network.id } } })).body.router;
    assert.equal((await net('PUT', `/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnetId })).status, 200);
    assert.deepEqual((await compute('GET', '/os-floating-ip-pools')).body, { floating_ip_pools: [{ name: 'public' }] });

    const fip = await compute('POST', '/os-floating-ips', { pool: 'public' });
    assert.equal(fip.status, 200, JSON.stringify(fip.body));
    const address = fip.body.floating_ip.ip;
    assert.match(address, /^172\.24\.4\./);
    assert.equal(fip.body.floating_ip.pool, 'public');
    assert.equal((await compute('POST', '/os-floating-ips', { pool: 'nope' })).status, 404);

    const id = await boot('floating');
    const add = await compute('POST', `/servers/${id}/action`, { addFloatingIp: { address } }, V('2.43'));
    assert.equal(add.status, 202, JSON.stringify(add.body));
    const withFip = await waitFor('the floating address', async () => {
      const a = (await show(id)).addresses.private as any[];
      return a.some((x) => x['OS-EXT-IPS:type'] === 'floating' && x.addr === address) ? a : undefined;
    });
    assert.equal(withFip.length, 2);
    const listed = (await compute('GET', '/os-floating-ips')).body.floating_ips.find((f: any) => f.ip === address);
    assert.equal(listed.instance_id, id);
    assert.equal(listed.fixed_ip, withFip[0].addr);

    assert.equal((await compute('POST', `/servers/${id}/action`, { addFloatingIp: { address } }, V('2.44'))).status, 404);
    const rm = await compute('POST', `/servers/${id}/action`, { removeFloatingIp: { address } }, V('2.43'));
    assert.equal(rm.status, 202, JSON.stringify(rm.body));
    await waitFor('the floating address gone', async () => ((await show(id)).addresses.private.length === 1 ? true : undefined));
    const again = await compute('POST', `/servers/${id}/action`, { removeFloatingIp: { address } }, V('2.43'));
    assert.equal(again.status, 409);
    assert.equal((await compute('DELETE', `/os-floating-ips/${fip.body.floating_ip.id}`)).status, 202);
    await compute('DELETE', `/servers/${id}`);
  });

  it('a cold migration binds the port to the new host and plugs it there', async () => {
    const id = await boot('mover', 'nova:compute1');
    const before = await portOf(id);
    assert.equal(before['binding:host_id'], 'compute1');
    const mig = await compute('POST', `/servers/${id}/action`, { migrate: { host: 'compute2' } }, V('2.56'));
    assert.equal(mig.status, 202, JSON.stringify(mig.body));
    await waitFor('VERIFY_RESIZE', async () => ((await show(id)).status === 'VERIFY_RESIZE' ? true : undefined), 20_000);
    assert.equal((await portOf(id))['binding:host_id'], 'compute2');
    assert.deepEqual(backends.compute2!.vifs.nics(id).map((n) => n.id), [before.id]);
    assert.ok(backends.compute2!.vifs.calls(id).some((c) => c.op === 'plugVifs'));
    assert.equal((await compute('POST', `/servers/${id}/action`, { confirmResize: null }, V('2.56'))).status, 204);
    await waitFor('ACTIVE', async () => ((await show(id)).status === 'ACTIVE' ? true : undefined), 20_000);
    assert.ok(backends.compute1!.vifs.calls(id).some((c) => c.op === 'unplugVifs'), 'the source unplugged it');

    // compute2's driver cannot hot-plug: 409, and the port made for the attempt is gone.
    const att = await compute('POST', `/servers/${id}/os-interface`, { interfaceAttachment: { net_id: netId } }, V('2.80'));
    assert.equal(att.status, 409, JSON.stringify(att.body));
    assert.equal((await net('GET', `/v2.0/ports?device_id=${id}`)).body.ports.length, 1);
    await compute('DELETE', `/servers/${id}`);
    await waitFor('its port to go', async () => ((await net('GET', `/v2.0/ports?device_id=${id}`)).body.ports.length === 0 ? true : undefined));
  });

  it('a live migration plugs on the destination first, binds there once it runs there', async () => {
    const id = await boot('live', 'nova:compute1');
    const port = await portOf(id);
    const res = await compute('POST', `/servers/${id}/action`, { 'os-migrateLive': { host: 'compute2', block_migration: 'auto' } }, V('2.30'));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    await waitFor('on compute2', async () => {
      const s = await show(id);
      return s.status === 'ACTIVE' && s['OS-EXT-SRV-ATTR:host'] === 'compute2' ? true : undefined;
    }, 20_000);
    assert.equal((await portOf(id))['binding:host_id'], 'compute2');
    assert.ok(backends.compute2!.vifs.calls(id).some((c) => c.op === 'plugVifs'));
    assert.equal((await portOf(id)).id, port.id);
    await compute('DELETE', `/servers/${id}`);
  });

  it('shelve-offload unbinds the port, unshelve binds it where the server lands; deleting an offloaded server deletes its port', async () => {
    const id = await boot('shelver');
    const port = await portOf(id);
    assert.equal((await compute('POST', `/servers/${id}/action`, { shelve: null })).status, 202);
    await waitFor('SHELVED_OFFLOADED', async () => ((await show(id)).status === 'SHELVED_OFFLOADED' ? true : undefined), 20_000);
    const offloaded = await portOf(id);
    assert.equal(offloaded.id, port.id, 'the port stays the server\'s');
    assert.equal(offloaded['binding:host_id'], '');
    assert.equal((await compute('POST', `/servers/${id}/action`, { unshelve: null })).status, 202);
    const s = await waitFor('ACTIVE again', async () => {
      const v = await show(id);
      return v.status === 'ACTIVE' && !v['OS-EXT-STS:task_state'] ? v : undefined;
    }, 20_000);
    assert.equal((await portOf(id))['binding:host_id'], s['OS-EXT-SRV-ATTR:host']);
    assert.deepEqual(backends[s['OS-EXT-SRV-ATTR:host']]!.vifs.nics(id).map((n) => n.id), [port.id]);
    assert.equal(s.addresses.private[0].addr, port.fixed_ips[0].ip_address);

    // Offloaded again, then deleted: no compute has it, the API releases its port.
    assert.equal((await compute('POST', `/servers/${id}/action`, { shelve: null })).status, 202);
    await waitFor('SHELVED_OFFLOADED', async () => ((await show(id)).status === 'SHELVED_OFFLOADED' ? true : undefined), 20_000);
    assert.equal((await compute('DELETE', `/servers/${id}`)).status, 204);
    assert.equal((await net('GET', `/v2.0/ports/${port.id}`)).status, 404);
  });

  it('a reverted migration binds the port back to the source; an evacuation binds it to the new host', async () => {
    const id = await boot('reverter', 'nova:compute1');
    assert.equal((await compute('POST', `/servers/${id}/action`, { migrate: { host: 'compute2' } }, V('2.56'))).status, 202);
    await waitFor('VERIFY_RESIZE', async () => ((await show(id)).status === 'VERIFY_RESIZE' ? true : undefined), 20_000);
    assert.equal((await portOf(id))['binding:host_id'], 'compute2');
    assert.equal((await compute('POST', `/servers/${id}/action`, { revertResize: null }, V('2.56'))).status, 202);
    await waitFor('ACTIVE on compute1', async () => {
      const v = await show(id);
      return v.status === 'ACTIVE' && !v['OS-EXT-STS:task_state'] && v['OS-EXT-SRV-ATTR:host'] === 'compute1' ? true : undefined;
    }, 20_000);
    assert.equal((await portOf(id))['binding:host_id'], 'compute1');

    // compute1 forced down: evacuated to compute2, the port follows.
    const svc = (await compute('GET', '/os-services?host=compute1&binary=nova-compute', undefined, V('2.53'))).body.services[0];
    assert.equal((await compute('PUT', `/os-services/${svc.id}`, { forced_down: true }, V('2.53'))).status, 200);
    try {
      const ev = await compute('POST', `/servers/${id}/action`, { evacuate: {} }, V('2.68'));
      assert.equal(ev.status, 200, JSON.stringify(ev.body));
      await waitFor('ACTIVE on compute2', async () => {
        const v = await show(id);
        return v.status === 'ACTIVE' && !v['OS-EXT-STS:task_state'] && v['OS-EXT-SRV-ATTR:host'] === 'compute2' ? true : undefined;
      }, 20_000);
      assert.equal((await portOf(id))['binding:host_id'], 'compute2');
      assert.ok(backends.compute2!.vifs.nics(id).length === 1);
    } finally {
      await compute('PUT', `/os-services/${svc.id}`, { forced_down: false }, V('2.53'));
    }
    await compute('DELETE', `/servers/${id}`);
  });

  it('addSecurityGroup / removeSecurityGroup change the groups of the server\'s ports', async () => {
    const g = (await net('POST', '/v2.0/security-groups', { security_group: { name: 'extra' } })).body.security_group;
    const id = await boot('grouped');
    const add = await compute('POST', `/servers/${id}/action`, { addSecurityGroup: { name: 'extra' } }, V('2.80'));
    assert.equal(add.status, 202, JSON.stringify(add.body));
    assert.ok((await portOf(id)).security_groups.includes(g.id));
    const listed = await compute('GET', `/servers/${id}/os-security-groups`, undefined, V('2.80'));
    assert.ok(listed.body.security_groups.some((x: any) => x.name === 'extra'));
    assert.equal((await compute('POST', `/servers/${id}/action`, { addSecurityGroup: { name: 'nope' } }, V('2.80'))).status, 404);
    assert.equal((await compute('POST', `/servers/${id}/action`, { removeSecurityGroup: { name: 'extra' } }, V('2.80'))).status, 202);
    assert.equal((await portOf(id)).security_groups.includes(g.id), false);
    assert.equal((await compute('POST', `/servers/${id}/action`, { removeSecurityGroup: { name: 'extra' } }, V('2.80'))).status, 400);
    await compute('DELETE', `/servers/${id}`);
  });

  it('addFixedIp / removeFixedIp (multinic) up to 2.43', async () => {
    const id = await boot('multinic');
    const add = await compute('POST', `/servers/${id}/action`, { addFixedIp: { networkId: netId } }, V('2.43'));
    assert.equal(add.status, 202, JSON.stringify(add.body));
    const two = await waitFor('two fixed IPs', async () => {
      const a = (await show(id)).addresses.private as any[];
      return a.length === 2 ? a : undefined;
    });
    assert.equal((await portOf(id)).fixed_ips.length, 2);
    assert.equal((await compute('POST', `/servers/${id}/action`, { addFixedIp: { networkId: '00000000-0000-4000-8000-000000000000' } }, V('2.43'))).status, 400);
    const rm = await compute('POST', `/servers/${id}/action`, { removeFixedIp: { address: two[1].addr } }, V('2.43'));
    assert.equal(rm.status, 202, JSON.stringify(rm.body));
    assert.equal((await show(id)).addresses.private.length, 1);
    assert.equal((await compute('POST', `/servers/${id}/action`, { removeFixedIp: { address: two[1].addr } }, V('2.43'))).status, 400);
    assert.equal((await compute('POST', `/servers/${id}/action`, { addFixedIp: { networkId: netId } }, V('2.44'))).status, 404);
    await compute('DELETE', `/servers/${id}`);
  });
});
