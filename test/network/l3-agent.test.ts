import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkHostState, l3Extension, LinuxDataplane, netnsPath, routerNamespace, type ApplyResult } from '@orrery/net-linux';
import type { Login } from '../identity/harness.js';
import { backendSkip, commandExists } from '../support/backends.js';
import { inNs, Lab, netnsAvailable, sh, tryNs } from '../netagent/support.js';
import { adminOf, net, startNet, userWith, type NetServices } from './harness.js';
import { network, subnet } from './l3-fixtures.js';

/**
 * Routers and floating IPs end to end: the Network API answers the agent report of an L3 host,
 * and the agent's LinuxDataplane (L2, DHCP, security groups) with the L3 extension converges a
 * host namespace to it. A guest namespace on the project network (its address by DHCP from the
 * host's dnsmasq) reaches an "external" namespace on the flat external network through the
 * router's SNAT; a floating IP makes the guest reachable from outside, and stops when removed.
 */

const skip = backendSkip('root with ip/bridge/iptables/nft/conntrack/dnsmasq/busybox (network namespaces)', netnsAvailable() && commandExists('nft'));

describe('L3 through the agent: router, SNAT and floating IPs from the API to the kernel', { skip }, () => {
  const lab = new Lab();
  let s: NetServices;
  let admin: Login;
  let alice: Login;
  let hostNs: string;
  let extNs: string;
  let guest: string;
  const hostName = `l3host-${lab.sfx}`;
  let plane: LinuxDataplane;
  let ext: { networkId: string; subnetId: string };
  let routerId: string;
  let serverPort: string;
  let fipAddress: string;
  let fipId: string;

  /** One agent report, then the answer applied (as the agent's loop does). */
  const cycle = async (devicesUp: string[] = []): Promise<{ result: ApplyResult; state: Record<string, any> }> => {
    const r = await net(s, admin, 'POST', '/v2.0/agents/report', {
      agent: {
        host: hostName, agent_type: 'Linux bridge agent', binary: 'orrery-network-agent', availability_zone: 'nova',
        configurations: { tunneling_ip: '10.250.0.1', interface_mappings: { external: 'ext0' }, dhcp: true, l3: true, metadata: false },
        devices_up: devicesUp, devices_down: [],
      },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const checked = checkHostState(r.body.host_state);
    assert.deepEqual(checked.problems, []);
    const result = await plane.apply(checked.state);
    assert.deepEqual(result.problems, []);
    return { result, state: r.body.host_state };
  };

  before(async () => {
    s = await startNet();
    admin = await adminOf(s);
    alice = await userWith(s, admin, 'alpha', 'alice', 'member');
    hostNs = lab.ns('h');
    extNs = lab.ns('x');
    // The host's physical interface on the external network: ext0, its far end the external machine.
    sh(['ip', '-n', hostNs, 'link', 'add', 'ext0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', extNs]);
    inNs(extNs, ['ip', 'addr', 'add', '172.31.77.100/24', 'dev', 'eth0']);
    inNs(extNs, ['ip', 'link', 'set', 'eth0', 'up']);
    // The host's underlay address (its VXLAN tunnels' local end; no peer host in this test).
    inNs(hostNs, ['ip', 'link', 'add', 'ul0', 'type', 'bridge']);
    inNs(hostNs, ['ip', 'addr', 'add', '10.250.0.1/24', 'dev', 'ul0']);
    inNs(hostNs, ['ip', 'link', 'set', 'ul0', 'up']);
    plane = new LinuxDataplane({
      netns: netnsPath(hostNs), tunnelingIp: '10.250.0.1', interfaceMappings: new Map([['external', 'ext0']]), stateDir: join(lab.dir, 'state'),
      namespacePrefix: `${hostNs}-`, extensions: [l3Extension()],
    });

    const extNet = await net(s, admin, 'POST', '/v2.0/networks', { network: {
      name: 'public', 'router:external': true, 'provider:network_type': 'flat', 'provider:physical_network': 'external',
    } });
    assert.equal(extNet.status, 201, JSON.stringify(extNet.body));
    ext = { networkId: extNet.body.network.id, subnetId: await subnet(s, admin, extNet.body.network.id, '172.31.77.0/24') };
    const aNet = await network(s, alice, { name: 'private' });
    const aSub = await subnet(s, alice, aNet, '10.62.0.0/24');
    // The agent is known (and alive) before the router is made, so the router is scheduled on it at once.
    await net(s, admin, 'POST', '/v2.0/agents/report', { agent: {
      host: hostName, agent_type: 'Linux bridge agent', binary: 'orrery-network-agent', availability_zone: 'nova',
      configurations: { l3: true }, devices_up: [], devices_down: [],
    } });
    const r = await net(s, alice, 'POST', '/v2.0/routers', { router: { name: 'r', external_gateway_info: { network_id: ext.networkId } } });
    routerId = r.body.router.id;
    assert.equal((await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: aSub })).status, 200);
    const p = await net(s, alice, 'POST', '/v2.0/ports', { port: { network_id: aNet, device_id: '5a3c1f0e-0000-4000-8000-0000000000c1', device_owner: 'compute:nova' } });
    serverPort = p.body.port.id;
    assert.equal((await net(s, admin, 'PUT', `/v2.0/ports/${serverPort}`, { port: { 'binding:host_id': hostName } })).status, 200);
    // Ping from anywhere may reach the guest (the default group only admits its own members).
    const groups = await net(s, alice, 'GET', '/v2.0/security-groups?name=default');
    const rule = await net(s, alice, 'POST', '/v2.0/security-group-rules', { security_group_rule: {
      security_group_id: groups.body.security_groups[0].id, direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp', remote_ip_prefix: '0.0.0.0/0',
    } });
    assert.equal(rule.status, 201, JSON.stringify(rule.body));
    guest = lab.guest(hostNs, p.body.port, 'g');
  });

  after(async () => {
    lab.cleanup();
    // The router namespace carries the host's prefix (so Lab.cleanup removes it); make sure.
    if (routerId) try { sh(['ip', 'netns', 'del', routerNamespace(routerId, `${hostNs}-`)]); } catch { /* gone */ }
    await s?.close();
  });

  it('wires the router: its ports in the bridges, the guest gets DHCP and reaches the external network through SNAT', async () => {
    const { result, state } = await cycle();
    const router = state.routers.find((x: { id: string }) => x.id === routerId);
    assert.ok(router, 'the router is in the host state');
    const ns = routerNamespace(routerId, `${hostNs}-`);
    assert.ok(existsSync(netnsPath(ns)), 'its namespace exists');
    assert.ok(result.wired.has(router.gateway.port_id) && result.wired.has(router.interfaces[0].port_id), 'router ports are reported wired');
    assert.ok(result.wired.has(serverPort));
    const lease = lab.dhcp(guest);
    assert.equal(lease.router, '10.62.0.1');
    inNs(guest, ['ip', 'route', 'add', 'default', 'via', lease.router!]);
    assert.ok(tryNs(guest, ['busybox', 'ping', '-c', '2', '-W', '2', '172.31.77.100']), 'the guest reaches the external machine');
    assert.ok(!tryNs(extNs, ['busybox', 'ping', '-c', '1', '-W', '1', lease.ip!]), 'the fixed address is not reachable from outside');
    await cycle([...result.wired]);
    const ports = await net(s, admin, 'GET', `/v2.0/ports?device_id=${routerId}`);
    assert.ok(ports.body.ports.every((x: { status: string }) => x.status === 'ACTIVE'), 'router ports ACTIVE once reported up');
  });

  it('a floating IP makes the guest reachable from the external network; disassociated, it is not', async () => {
    const f = await net(s, alice, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: ext.networkId, port_id: serverPort } });
    assert.equal(f.status, 201, JSON.stringify(f.body));
    fipId = f.body.floatingip.id;
    fipAddress = f.body.floatingip.floating_ip_address;
    await cycle();
    assert.ok(tryNs(extNs, ['busybox', 'ping', '-c', '2', '-W', '2', fipAddress]), 'the floating address answers');
    assert.equal((await net(s, alice, 'PUT', `/v2.0/floatingips/${fipId}`, { floatingip: { port_id: null } })).status, 200);
    await cycle();
    assert.ok(!tryNs(extNs, ['busybox', 'ping', '-c', '1', '-W', '1', fipAddress]), 'the floating address no longer answers');
    assert.ok(tryNs(guest, ['busybox', 'ping', '-c', '1', '-W', '2', '172.31.77.100']), 'SNAT still works');
  });

  it('a router deleted is removed from the host', async () => {
    const sub = (await net(s, alice, 'GET', '/v2.0/subnets?name=')).body.subnets.find((x: { cidr: string }) => x.cidr === '10.62.0.0/24');
    assert.equal((await net(s, alice, 'DELETE', `/v2.0/floatingips/${fipId}`)).status, 204);
    assert.equal((await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/remove_router_interface`, { subnet_id: sub.id })).status, 200);
    assert.equal((await net(s, alice, 'DELETE', `/v2.0/routers/${routerId}`)).status, 204);
    await cycle();
    assert.ok(!existsSync(netnsPath(routerNamespace(routerId, `${hostNs}-`))), 'the router namespace is gone');
    assert.ok(!tryNs(guest, ['busybox', 'ping', '-c', '1', '-W', '1', '172.31.77.100']));
  });
});
