import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Login } from '../identity/harness.js';
import { pgSkip } from '../support/postgres.js';
import { adminOf, net, startNet, userWith, type NetServices } from './harness.js';

for (const engine of ['sqlite', 'postgresql'] as const) {
describe(`network API: subnets, ports, security groups (${engine})`, { skip: engine === 'postgresql' ? pgSkip : false }, () => {
  let s: NetServices;
  let admin: Login;
  let alice: Login;
  let reader: Login;
  let bob: Login;
  let netId: string;
  let subnetId: string;
  before(async () => {
    s = await startNet(engine);
    admin = await adminOf(s);
    alice = await userWith(s, admin, 'alpha', 'alice', 'member');
    reader = await userWith(s, admin, 'alpha', 'rita', 'reader');
    bob = await userWith(s, admin, 'beta', 'bob', 'member');
    netId = (await net(s, alice, 'POST', '/v2.0/networks', { network: { name: 'n' } })).body.network.id;
  });
  after(async () => s?.close());

  it('computes pools from the CIDR minus the gateway; refuses host bits, overlaps and bad gateways', async () => {
    const r = await net(s, alice, 'POST', '/v2.0/subnets', {
      subnet: { network_id: netId, ip_version: 4, cidr: '10.0.0.0/24', gateway_ip: '10.0.0.10', dns_nameservers: ['8.8.8.8'], host_routes: [{ destination: '10.1.0.0/16', nexthop: '10.0.0.254' }] },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    subnetId = r.body.subnet.id;
    assert.deepEqual(r.body.subnet.allocation_pools, [{ start: '10.0.0.1', end: '10.0.0.9' }, { start: '10.0.0.11', end: '10.0.0.254' }]);
    assert.equal(r.body.subnet.enable_dhcp, true);
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ cidr: '10.0.0.5/24' }, 400, 'InvalidInput'],
      [{ cidr: '10.0.0.128/25' }, 400, 'InvalidInput'],
      [{ cidr: '10.2.0.0/24', gateway_ip: '10.3.0.1' }, 400, 'InvalidInput'],
      [{ cidr: '10.2.0.0/24', allocation_pools: [{ start: '10.2.0.1', end: '10.2.0.20' }] }, 409, 'GatewayConflictWithAllocationPools'],
      [{ cidr: '10.2.0.0/24', ip_version: 6 }, 400, 'InvalidInput'],
      [{ cidr: '10.2.0.0/24', dns_nameservers: ['1.1.1.1', '1.1.1.1'] }, 400, 'InvalidInput'],
    ];
    for (const [extra, status, type] of cases) {
      const x = await net(s, alice, 'POST', '/v2.0/subnets', { subnet: { network_id: netId, ip_version: 4, ...extra } });
      assert.equal(x.status, status, `${JSON.stringify(extra)} ${JSON.stringify(x.body)}`);
      assert.equal(x.body.NeutronError.type, type, JSON.stringify(extra));
    }
    const none = await net(s, alice, 'POST', '/v2.0/subnets', { subnet: { network_id: netId, ip_version: 4, cidr: '10.4.0.0/29', gateway_ip: null } });
    assert.equal(none.status, 201);
    assert.equal(none.body.subnet.gateway_ip, null);
    assert.deepEqual(none.body.subnet.allocation_pools, [{ start: '10.4.0.1', end: '10.4.0.6' }]);
    const v6 = await net(s, alice, 'POST', '/v2.0/subnets', { subnet: { network_id: netId, ip_version: 6, cidr: 'fd00:1::/64', ipv6_address_mode: 'slaac', ipv6_ra_mode: 'slaac' } });
    assert.equal(v6.status, 201, JSON.stringify(v6.body));
    assert.equal(v6.body.subnet.gateway_ip, 'fd00:1::1');
    assert.deepEqual(v6.body.subnet.allocation_pools, [{ start: 'fd00:1::2', end: 'fd00:1::ffff:ffff:ffff:ffff' }]);
    const list = await net(s, alice, 'GET', `/v2.0/networks/${netId}`);
    assert.equal(list.body.network.subnets.length, 3);
    assert.equal((await net(s, alice, 'DELETE', `/v2.0/subnets/${none.body.subnet.id}`)).status, 204);
    assert.equal((await net(s, bob, 'GET', `/v2.0/subnets/${subnetId}`)).status, 404);
    assert.equal((await net(s, reader, 'POST', '/v2.0/subnets', { subnet: { network_id: netId, ip_version: 4, cidr: '10.5.0.0/24' } })).status, 403);
  });

  it('makes a port: a v4 address from the pool, a SLAAC v6 one, a fa:16:3e MAC, the default group; binding hidden from non-admins', async () => {
    const r = await net(s, alice, 'POST', '/v2.0/ports', { port: { network_id: netId, name: 'p1' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const p = r.body.port;
    assert.match(p.mac_address, /^fa:16:3e(:[0-9a-f]{2}){3}$/);
    assert.equal(p.status, 'DOWN');
    assert.equal(p.fixed_ips.length, 2);
    // One of the first free addresses of the pool (the IPAM spreads concurrent creates over a few), never the gateway.
    assert.match(p.fixed_ips[0].ip_address, /^10\.0\.0\.([1-9])$/);
    assert.match(p.fixed_ips[1].ip_address, /^fd00:1::f816:3eff:fe/);
    assert.equal(p.security_groups.length, 1);
    assert.equal(p['binding:vif_type'], undefined);
    const groups = await net(s, alice, 'GET', '/v2.0/security-groups?name=default');
    assert.equal(groups.body.security_groups.length, 1);
    assert.equal(groups.body.security_groups[0].id, p.security_groups[0]);
    assert.equal(groups.body.security_groups[0].security_group_rules.length, 4);
    const byIp = await net(s, alice, 'GET', `/v2.0/ports?fixed_ips=ip_address=${p.fixed_ips[0].ip_address}`);
    assert.deepEqual(byIp.body.ports.map((x: { id: string }) => x.id), [p.id]);
    assert.equal((await net(s, bob, 'GET', `/v2.0/ports/${p.id}`)).status, 404);
  });

  it('binds a port for admin (linuxbridge vif), refuses binding to members, takes a given address and MAC once', async () => {
    const refused = await net(s, alice, 'POST', '/v2.0/ports', { port: { network_id: netId, 'binding:host_id': 'h1' } });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.NeutronError.message, '(rule:create_port:binding:host_id) is disallowed by policy');
    const r = await net(s, admin, 'POST', '/v2.0/ports', {
      port: { network_id: netId, project_id: alice.projectId, 'binding:host_id': 'h1', device_owner: 'compute:nova', device_id: 'vm1',
        mac_address: 'FA:16:3E:00:00:01', fixed_ips: [{ ip_address: '10.0.0.50' }] },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.port['binding:vif_type'], 'bridge');
    assert.deepEqual(r.body.port['binding:vif_details'], { bridge_name: `brq${netId.slice(0, 11)}`, port_filter: true, connectivity: 'l2' });
    assert.equal(r.body.port.mac_address, 'fa:16:3e:00:00:01');
    assert.equal(r.body.port.fixed_ips.length, 1);
    const again = await net(s, alice, 'POST', '/v2.0/ports', { port: { network_id: netId, fixed_ips: [{ ip_address: '10.0.0.50' }] } });
    assert.equal(again.status, 409);
    assert.equal(again.body.NeutronError.type, 'IpAddressInUse');
    const mac = await net(s, alice, 'POST', '/v2.0/ports', { port: { network_id: netId, mac_address: 'fa:16:3e:00:00:01' } });
    assert.equal(mac.status, 409);
    assert.equal(mac.body.NeutronError.type, 'MacAddressInUse');
    const gw = await net(s, alice, 'POST', '/v2.0/ports', { port: { network_id: netId, fixed_ips: [{ ip_address: '10.0.0.10' }] } });
    assert.equal(gw.status, 409);
    const outside = await net(s, alice, 'POST', '/v2.0/ports', { port: { network_id: netId, fixed_ips: [{ ip_address: '192.168.0.1' }] } });
    assert.equal(outside.status, 400);
    assert.equal(outside.body.NeutronError.type, 'InvalidIpForNetwork');
    // Changing the fixed IPs of a server's port tells Nova.
    const u = await net(s, admin, 'PUT', `/v2.0/ports/${r.body.port.id}`, { port: { fixed_ips: [{ ip_address: '10.0.0.51' }] } });
    assert.equal(u.status, 200, JSON.stringify(u.body));
    assert.deepEqual(u.body.port.fixed_ips.map((f: { ip_address: string }) => f.ip_address), ['10.0.0.51']);
    await s.notifier.drain();
    assert.deepEqual(s.events.at(-1), { name: 'network-changed', server_uuid: 'vm1', tag: r.body.port.id });
    // The freed address can be had again.
    assert.equal((await net(s, alice, 'POST', '/v2.0/ports', { port: { network_id: netId, fixed_ips: [{ ip_address: '10.0.0.50' }] } })).status, 201);
    assert.equal((await net(s, alice, 'DELETE', `/v2.0/ports/${r.body.port.id}`)).status, 204);
    await s.notifier.drain();
    assert.equal(s.events.length, 2);
    const inUse = await net(s, alice, 'DELETE', `/v2.0/subnets/${subnetId}`);
    assert.equal(inUse.status, 409);
    assert.equal(inUse.body.NeutronError.type, 'SubnetInUse');
    const netInUse = await net(s, alice, 'DELETE', `/v2.0/networks/${netId}`);
    assert.equal(netInUse.status, 409);
    assert.equal(netInUse.body.NeutronError.type, 'NetworkInUse');
  });

  it('port security off: no groups, no address pairs; address pairs validated', async () => {
    const off = await net(s, alice, 'POST', '/v2.0/ports', { port: { network_id: netId, port_security_enabled: false } });
    assert.equal(off.status, 201, JSON.stringify(off.body));
    assert.deepEqual(off.body.port.security_groups, []);
    const bad = await net(s, alice, 'POST', '/v2.0/ports', { port: { network_id: netId, port_security_enabled: false, allowed_address_pairs: [{ ip_address: '10.0.0.99' }] } });
    assert.equal(bad.status, 409);
    const pairs = await net(s, alice, 'POST', '/v2.0/ports', { port: { network_id: netId, allowed_address_pairs: [{ ip_address: '10.0.0.0/28' }, { ip_address: '10.0.0.99', mac_address: 'fa:16:3e:aa:bb:cc' }] } });
    assert.equal(pairs.status, 201, JSON.stringify(pairs.body));
    assert.equal(pairs.body.port.allowed_address_pairs.length, 2);
    assert.equal((await net(s, alice, 'POST', '/v2.0/ports', { port: { network_id: netId, allowed_address_pairs: [{ ip_address: 'nope' }] } })).status, 400);
  });

  it('security groups and rules: validation, duplicates, the default group protected, cross-project 404', async () => {
    const g = await net(s, alice, 'POST', '/v2.0/security-groups', { security_group: { name: 'web' } });
    assert.equal(g.status, 201, JSON.stringify(g.body));
    assert.equal(g.body.security_group.security_group_rules.length, 2);
    const gid = g.body.security_group.id;
    const rule = { security_group_id: gid, direction: 'ingress', protocol: 'tcp', port_range_min: 80, port_range_max: 80, remote_ip_prefix: '0.0.0.0/0' };
    const r = await net(s, alice, 'POST', '/v2.0/security-group-rules', { security_group_rule: rule });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.security_group_rule.ethertype, 'IPv4');
    const dup = await net(s, alice, 'POST', '/v2.0/security-group-rules', { security_group_rule: rule });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.NeutronError.type, 'SecurityGroupRuleExists');
    const bad: Array<Record<string, unknown>> = [
      { protocol: 'bogus' }, { protocol: 'tcp', port_range_min: 90, port_range_max: 80 }, { port_range_min: 80 },
      { protocol: 'gre', port_range_min: 1, port_range_max: 2 }, { remote_ip_prefix: '::/0' },
      { remote_ip_prefix: '10.0.0.0/8', remote_group_id: gid }, { protocol: 'icmp', ethertype: 'IPv6' }, { protocol: '300' },
    ];
    for (const b of bad) {
      const x = await net(s, alice, 'POST', '/v2.0/security-group-rules', { security_group_rule: { security_group_id: gid, direction: 'ingress', ...b } });
      assert.equal(x.status, 400, `${JSON.stringify(b)} ${JSON.stringify(x.body)}`);
    }
    const icmp = await net(s, alice, 'POST', '/v2.0/security-group-rules', { security_group_rule: { security_group_id: gid, direction: 'ingress', protocol: 'icmp', remote_group_id: gid } });
    assert.equal(icmp.status, 201);
    assert.equal((await net(s, bob, 'GET', `/v2.0/security-groups/${gid}`)).status, 404);
    assert.equal((await net(s, bob, 'POST', '/v2.0/security-group-rules', { security_group_rule: { security_group_id: gid, direction: 'ingress' } })).status, 404);
    assert.equal((await net(s, reader, 'POST', '/v2.0/security-groups', { security_group: { name: 'x' } })).status, 403);
    const def = (await net(s, alice, 'GET', '/v2.0/security-groups?name=default')).body.security_groups[0].id;
    const rename = await net(s, alice, 'PUT', `/v2.0/security-groups/${def}`, { security_group: { name: 'other' } });
    assert.equal(rename.status, 409);
    const del = await net(s, alice, 'DELETE', `/v2.0/security-groups/${def}`);
    assert.equal(del.status, 409);
    assert.equal((await net(s, alice, 'POST', '/v2.0/security-groups', { security_group: { name: 'default' } })).status, 409);
    const port = await net(s, alice, 'POST', '/v2.0/ports', { port: { network_id: netId, security_groups: [gid] } });
    assert.deepEqual(port.body.port.security_groups, [gid]);
    assert.equal((await net(s, alice, 'DELETE', `/v2.0/security-groups/${gid}`)).status, 409);
    assert.equal((await net(s, alice, 'DELETE', `/v2.0/ports/${port.body.port.id}`)).status, 204);
    assert.equal((await net(s, alice, 'DELETE', `/v2.0/security-group-rules/${r.body.security_group_rule.id}`)).status, 204);
    assert.equal((await net(s, alice, 'DELETE', `/v2.0/security-groups/${gid}`)).status, 204);
  });
});
}
