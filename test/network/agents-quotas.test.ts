import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Login } from '../identity/harness.js';
import { pgSkip } from '../support/postgres.js';
import { adminOf, net, startNet, userWith, type NetServices } from './harness.js';

const report = (host: string, tunnel: string, extra: Record<string, unknown> = {}) => ({
  agent: {
    host, agent_type: 'Linux bridge agent', binary: 'orrery-network-agent', availability_zone: 'nova',
    configurations: { tunneling_ip: tunnel, interface_mappings: { external: 'ext0' }, dhcp: true, l3: true, metadata: true }, ...extra,
  },
});

for (const engine of ['sqlite', 'postgresql'] as const) {
describe(`network API: agents, the agent report and host state, quotas (${engine})`, { skip: engine === 'postgresql' ? pgSkip : false }, () => {
  let s: NetServices;
  let admin: Login;
  let alice: Login;
  let bob: Login;
  before(async () => {
    s = await startNet(engine);
    admin = await adminOf(s);
    alice = await userWith(s, admin, 'alpha', 'alice', 'member');
    bob = await userWith(s, admin, 'beta', 'bob', 'member');
  });
  after(async () => s?.close());

  it('answers each host its networks, VXLAN peers, ports, DHCP (its own port, its own hosts) and groups', async () => {
    const n = (await net(s, alice, 'POST', '/v2.0/networks', { network: { name: 'hs' } })).body.network;
    const sub = (await net(s, alice, 'POST', '/v2.0/subnets', { subnet: { network_id: n.id, ip_version: 4, cidr: '10.20.0.0/24', dns_nameservers: ['10.20.0.250'] } })).body.subnet;
    const port = async (host: string, vm: string) => (await net(s, admin, 'POST', '/v2.0/ports', {
      port: { network_id: n.id, project_id: alice.projectId, device_owner: 'compute:nova', device_id: vm, 'binding:host_id': host },
    })).body.port;
    const pa = await port('h1', 'vm-a');
    const pb = await port('h2', 'vm-b');
    assert.equal((await net(s, alice, 'POST', '/v2.0/agents/report', report('h1', '10.99.1.1'))).status, 403);
    const r2 = await net(s, admin, 'POST', '/v2.0/agents/report', report('h2', '10.99.1.2'));
    assert.equal(r2.status, 200, JSON.stringify(r2.body));
    const r1 = await net(s, admin, 'POST', '/v2.0/agents/report', report('h1', '10.99.1.1', { devices_up: [pa.id, pb.id] }));
    const hs = r1.body.host_state;
    assert.match(hs.revision, /^[0-9a-f]{32}$/);
    assert.equal(hs.networks.length, 1);
    assert.equal(hs.networks[0].bridge_name, `brq${n.id.slice(0, 11)}`);
    assert.equal(hs.networks[0].network_type, 'vxlan');
    assert.deepEqual(hs.networks[0].vxlan_peers, ['10.99.1.2']);
    assert.deepEqual(hs.subnets.map((x: { id: string }) => x.id), [sub.id]);
    const local = hs.ports.filter((p: { device_owner: string }) => p.device_owner === 'compute:nova');
    assert.deepEqual(local.map((p: { id: string }) => p.id), [pa.id]);
    assert.equal(local[0].tap_name, `tap${pa.id.slice(0, 11)}`);
    assert.equal(local[0].mtu, 1450);
    assert.equal(hs.dhcp.length, 1);
    assert.equal(hs.dhcp[0].namespace, `qdhcp-${n.id}`);
    assert.deepEqual(hs.dhcp[0].hosts, [{ mac_address: pa.mac_address, ip_address: pa.fixed_ips[0].ip_address, hostname: `host-${pa.fixed_ips[0].ip_address.replaceAll('.', '-')}` }]);
    const dport = hs.ports.find((p: { device_owner: string }) => p.device_owner === 'network:dhcp');
    assert.equal(dport.id, hs.dhcp[0].port.id);
    assert.equal(hs.dhcp[0].interface, `ns-${dport.id.slice(0, 11)}`);
    assert.equal(hs.security_groups.length, 1);
    assert.deepEqual(hs.security_groups[0].member_ips, [pa.fixed_ips[0].ip_address, pb.fixed_ips[0].ip_address].sort());
    assert.deepEqual(hs.metadata, { enabled: true });
    // Only the reporting host's ports turn ACTIVE.
    assert.equal((await net(s, admin, 'GET', `/v2.0/ports/${pa.id}`)).body.port.status, 'ACTIVE');
    assert.equal((await net(s, admin, 'GET', `/v2.0/ports/${pb.id}`)).body.port.status, 'DOWN');
    await s.notifier.drain();
    assert.deepEqual(s.events.filter((e) => e.name === 'network-vif-plugged'), [{ name: 'network-vif-plugged', server_uuid: 'vm-a', tag: pa.id, status: 'completed' }]);
    // The same state gives the same revision; a rule change changes it.
    const again = await net(s, admin, 'POST', '/v2.0/agents/report', report('h1', '10.99.1.1'));
    assert.equal(again.body.host_state.revision, hs.revision);
    const dhcpPorts = await net(s, admin, 'GET', `/v2.0/ports?network_id=${n.id}&device_owner=network:dhcp`);
    assert.equal(dhcpPorts.body.ports.length, 2, 'one DHCP port per host');
    await net(s, alice, 'POST', '/v2.0/security-group-rules', { security_group_rule: { security_group_id: pa.security_groups[0], direction: 'ingress', protocol: 'tcp', port_range_min: 22 } });
    const changed = await net(s, admin, 'POST', '/v2.0/agents/report', report('h1', '10.99.1.1'));
    assert.notEqual(changed.body.host_state.revision, hs.revision);
    // The host's last compute port gone: its DHCP port goes with it.
    assert.equal((await net(s, admin, 'DELETE', `/v2.0/ports/${pa.id}`)).status, 204);
    const empty = await net(s, admin, 'POST', '/v2.0/agents/report', report('h1', '10.99.1.1'));
    assert.deepEqual(empty.body.host_state.ports, []);
    assert.equal((await net(s, admin, 'GET', `/v2.0/ports?network_id=${n.id}&device_owner=network:dhcp`)).body.ports.length, 1);
  });

  it('lists agents for admin only, alive from the heartbeat; update and delete', async () => {
    assert.equal((await net(s, alice, 'GET', '/v2.0/agents')).status, 403);
    const list = await net(s, admin, 'GET', '/v2.0/agents?host=h1');
    assert.equal(list.status, 200);
    assert.equal(list.body.agents.length, 1);
    const a = list.body.agents[0];
    assert.equal(a.alive, true);
    assert.equal(a.configurations.tunneling_ip, '10.99.1.1');
    assert.match(a.heartbeat_timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    const u = await net(s, admin, 'PUT', `/v2.0/agents/${a.id}`, { agent: { admin_state_up: false, description: 'maint' } });
    assert.equal(u.body.agent.admin_state_up, false);
    assert.equal((await net(s, admin, 'DELETE', `/v2.0/agents/${a.id}`)).status, 204);
    assert.equal((await net(s, admin, 'GET', `/v2.0/agents/${a.id}`)).status, 404);
  });

  it("quotas: defaults, a project's own, details with usage, admin sets, OverQuota 409", async () => {
    const d = await net(s, bob, 'GET', `/v2.0/quotas/${bob.projectId}/default`);
    assert.deepEqual(d.body.quota, { network: 100, subnet: 100, port: 500, router: 10, floatingip: 50, security_group: 10, security_group_rule: 100 });
    assert.equal((await net(s, bob, 'GET', `/v2.0/quotas/${alice.projectId}`)).status, 403);
    assert.equal((await net(s, bob, 'GET', '/v2.0/quotas')).status, 403);
    assert.equal((await net(s, bob, 'PUT', `/v2.0/quotas/${bob.projectId}`, { quota: { network: 1 } })).status, 403);
    const set = await net(s, admin, 'PUT', `/v2.0/quotas/${bob.projectId}`, { quota: { network: 1 } });
    assert.equal(set.status, 200);
    assert.equal(set.body.quota.network, 1);
    assert.equal((await net(s, admin, 'PUT', `/v2.0/quotas/${bob.projectId}`, { quota: { bogus: 1 } })).status, 400);
    assert.equal((await net(s, bob, 'POST', '/v2.0/networks', { network: { name: 'one' } })).status, 201);
    const over = await net(s, bob, 'POST', '/v2.0/networks', { network: { name: 'two' } });
    assert.equal(over.status, 409);
    assert.equal(over.body.NeutronError.type, 'OverQuota');
    const details = await net(s, bob, 'GET', `/v2.0/quotas/${bob.projectId}/details`);
    assert.deepEqual(details.body.quota.network, { limit: 1, used: 1, reserved: 0 });
    const all = await net(s, admin, 'GET', '/v2.0/quotas');
    assert.ok(all.body.quotas.some((q: { project_id: string }) => q.project_id === bob.projectId));
    assert.equal((await net(s, admin, 'DELETE', `/v2.0/quotas/${bob.projectId}`)).status, 204);
    assert.equal((await net(s, bob, 'GET', `/v2.0/quotas/${bob.projectId}`)).body.quota.network, 100);
  });
});
}
