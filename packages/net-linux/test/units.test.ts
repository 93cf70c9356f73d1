import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bridgeName, checkHostState, conntrackZone, zoneRules, dhcpNamespace, dnsmasqFiles, firewallRules, ruleMatches, tapName, vxlanName, CommandRunner,
  type HostSecurityGroup, type HostPort, type SecurityGroupRule,
} from '@orrery/net-linux';

const NET = '6a1f0c2e-8c1d-4a52-9a44-0d3f4f0e9a11';
const SUB = 'b0c1d2e3-0000-4000-8000-000000000001';
const rule = (o: Partial<SecurityGroupRule>): SecurityGroupRule => ({
  id: 'r1', direction: 'ingress', ethertype: 'IPv4', protocol: null, port_range_min: null, port_range_max: null, remote_ip_prefix: null, remote_group_id: null, ...o,
});

describe('names', () => {
  it('follow the conventions of #13 and fit IFNAMSIZ', () => {
    assert.equal(bridgeName(NET), 'brq6a1f0c2e-8c');
    assert.equal(tapName(NET), 'tap6a1f0c2e-8c');
    assert.equal(vxlanName(16000), 'vxlan-16000');
    assert.equal(dhcpNamespace(NET), `qdhcp-${NET}`);
    assert.ok(bridgeName(NET).length <= 15 && tapName(NET).length <= 15);
  });
});

describe('CommandRunner', () => {
  it('prefixes nsenter for a namespace and runs argv without a shell', async () => {
    const r = new CommandRunner();
    assert.deepEqual(r.inNetns('/run/netns/x').argv('ip', ['link']), ['nsenter', '--net=/run/netns/x', '--', 'ip', 'link']);
    assert.equal((await r.run('echo', ['a;b', '$(x)'])).trim(), 'a;b $(x)');
    const bad = await r.tryRun('sh', ['-c', 'echo oops >&2; exit 3']);
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /oops/);
    await assert.rejects(r.run('sh', ['-c', 'exit 1']), /exit 1/);
    await assert.rejects(r.run('sleep', ['5'], { timeoutMs: 100 }), /timed out/);
    await assert.rejects(r.run('no-such-command-orrery', []), /ENOENT|no-such/);
  });
});

describe('checkHostState', () => {
  it('keeps what is usable and names what it drops', () => {
    const { state, problems } = checkHostState({
      revision: 'r',
      networks: [
        { id: NET, mtu: 1450, network_type: 'vxlan', segmentation_id: 7, physical_network: null, vxlan_peers: ['10.0.0.1', 'x; rm -rf /', '::1'] },
        { id: 'bad id with spaces', mtu: 1450, network_type: 'vxlan', segmentation_id: 8 },
        { id: 'n2', mtu: 1500, network_type: 'geneve', segmentation_id: 9 },
        { id: 'n3', mtu: 1500, network_type: 'flat', physical_network: null },
      ],
      subnets: [
        { id: SUB, network_id: NET, ip_version: 4, cidr: '10.1.0.0/24', gateway_ip: '10.1.0.1', dns_nameservers: ['8.8.8.8', 'evil\nline'], host_routes: [{ destination: '1.2.3.0/24', nexthop: '10.1.0.9' }, { destination: 'x', nexthop: 'y' }] },
        { id: 's2', network_id: NET, ip_version: 6, cidr: '10.1.0.0/24', gateway_ip: null },
      ],
      ports: [
        { id: 'p1', network_id: NET, mac_address: 'FA:16:3E:00:00:01', fixed_ips: [{ subnet_id: SUB, ip_address: '10.1.0.5' }, { subnet_id: 'nope', ip_address: '10.1.0.6' }], device_owner: 'compute:nova', security_group_ids: ['g1', 'bad\u0000id'], allowed_address_pairs: [{ ip_address: '10.9.0.0/16' }, { ip_address: 'zzz' }] },
        { id: 'p2', network_id: NET, mac_address: 'not-a-mac' },
      ],
      dhcp: [{ network_id: NET, port: { id: 'd1', mac_address: 'fa:16:3e:00:00:02', fixed_ips: [] }, hosts: [{ mac_address: 'fa:16:3e:00:00:01', ip_address: '10.1.0.5', hostname: 'bad host,name' }] }],
      security_groups: [{ id: 'g1', rules: [rule({ remote_ip_prefix: '10.0.0.0/8' }), rule({ id: 'r2', remote_ip_prefix: '::/0' }), rule({ id: 'r3', port_range_min: 70000 })], member_ips: ['10.1.0.5', '1.2.3'] }],
    });
    assert.deepEqual(state.networks.map((n) => n.id), [NET]);
    assert.deepEqual(state.networks[0]!.vxlan_peers, ['10.0.0.1']);
    assert.deepEqual(state.subnets.map((s) => s.id), [SUB]);
    assert.deepEqual(state.subnets[0]!.dns_nameservers, ['8.8.8.8']);
    assert.equal(state.subnets[0]!.host_routes.length, 1);
    assert.deepEqual(state.ports.map((p) => p.id), ['p1']);
    assert.equal(state.ports[0]!.mac_address, 'fa:16:3e:00:00:01');
    assert.equal(state.ports[0]!.fixed_ips.length, 1);
    assert.deepEqual(state.ports[0]!.security_group_ids, ['g1']);
    assert.equal(state.ports[0]!.allowed_address_pairs.length, 1);
    assert.equal(state.dhcp[0]!.hosts[0]!.hostname, undefined);
    assert.deepEqual(state.security_groups[0]!.rules.map((r) => r.id), ['r1']);
    assert.deepEqual(state.security_groups[0]!.member_ips, ['10.1.0.5']);
    assert.equal(problems.length, 7);
  });
  it('bounds every list', () => {
    const many = Array.from({ length: 5000 }, (_, i) => ({ id: `p${i}`, network_id: NET, mac_address: 'fa:16:3e:00:00:01' }));
    const { state } = checkHostState({ networks: [{ id: NET, mtu: 1450, network_type: 'vxlan', segmentation_id: 7 }], ports: many });
    assert.equal(state.ports.length, 4000);
  });
  it('survives garbage', () => {
    for (const g of [null, 7, 'x', [], { networks: 'x' }, { networks: [null, 1] }]) assert.equal(checkHostState(g).state.networks.length, 0);
  });
});

describe('dnsmasqFiles', () => {
  it('writes static hosts and router, dns, mtu and 121 routes with the metadata route', () => {
    const { hosts, opts } = dnsmasqFiles(
      { network_id: NET, port: { id: 'd', mac_address: 'fa:16:3e:00:00:02', fixed_ips: [{ subnet_id: SUB, ip_address: '10.1.0.2' }] }, hosts: [{ mac_address: 'fa:16:3e:00:00:01', ip_address: '10.1.0.5' }, { mac_address: 'fa:16:3e:00:00:03', ip_address: '10.1.0.6', hostname: 'vm-1' }] },
      [{ id: SUB, network_id: NET, ip_version: 4, cidr: '10.1.0.0/24', gateway_ip: '10.1.0.1', enable_dhcp: true, dns_nameservers: ['10.1.0.53'], host_routes: [{ destination: '192.168.0.0/16', nexthop: '10.1.0.7' }] }],
      1450, true);
    assert.equal(hosts, 'fa:16:3e:00:00:01,host-10-1-0-5,10.1.0.5\nfa:16:3e:00:00:03,vm-1,10.1.0.6\n');
    const t = `tag:subnet-${SUB}`;
    assert.equal(opts, [
      `${t},option:router,10.1.0.1`,
      `${t},option:classless-static-route,192.168.0.0/16,10.1.0.7,169.254.169.254/32,10.1.0.2,0.0.0.0/0,10.1.0.1`,
      `${t},option:dns-server,10.1.0.53`,
      `${t},option:mtu,1450`, ''].join('\n'));
  });
});

describe('conntrack zones', () => {
  it('are the VNI when it fits, else a stable hash above it', () => {
    assert.equal(conntrackZone({ id: NET, network_type: 'vxlan', segmentation_id: 4242 }), 4242);
    const flat = conntrackZone({ id: NET, network_type: 'flat', segmentation_id: null });
    assert.ok(flat > 60000 && flat <= 65535);
    assert.equal(conntrackZone({ id: NET, network_type: 'flat', segmentation_id: null }), flat);
    assert.match(zoneRules([{ id: NET, mtu: 1450, network_type: 'vxlan', segmentation_id: 7, physical_network: null, vxlan_peers: [] }]),
      /^\*raw\n:orrery-ct-zones - \[0:0\]\n-A orrery-ct-zones -i brq6a1f0c2e-8c -j CT --zone 7\nCOMMIT\n$/);
  });
});

describe('firewallRules', () => {
  const port: HostPort = {
    id: '1234567890abcdef', network_id: NET, mac_address: 'fa:16:3e:00:00:01', fixed_ips: [{ subnet_id: SUB, ip_address: '10.1.0.5' }],
    device_owner: 'compute:nova', device_id: 'vm', admin_state_up: true, port_security_enabled: true,
    allowed_address_pairs: [{ ip_address: '10.9.0.0/16', mac_address: 'fa:16:3e:00:00:09' }], security_group_ids: ['g'],
  };
  const g: HostSecurityGroup = {
    id: 'g', stateful: true, member_ips: ['10.1.0.5', '10.1.0.6', 'fd00::1'],
    rules: [rule({ remote_group_id: 'g' }), rule({ id: 'r2', protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '0.0.0.0/0' }),
      rule({ id: 'r3', protocol: 'icmp', port_range_min: 8, port_range_max: 0 }), rule({ id: 'r4', direction: 'egress', protocol: '17', port_range_min: 53, port_range_max: 54 })],
  };
  const groups = new Map([['g', g]]);
  it('translates rules (remote groups expanded to members of the family, icmp type/code, numbered protocols)', () => {
    assert.deepEqual(ruleMatches(g.rules[0]!, 4, groups), ['-s 10.1.0.5/32', '-s 10.1.0.6/32']);
    assert.deepEqual(ruleMatches(g.rules[0]!, 6, groups), []);
    assert.deepEqual(ruleMatches(g.rules[1]!, 4, groups), ['-p tcp -m tcp --dport 22']);
    assert.deepEqual(ruleMatches(g.rules[2]!, 4, groups), ['-p icmp -m icmp --icmp-type 8/0']);
    assert.deepEqual(ruleMatches(g.rules[3]!, 4, groups), ['-p udp -m udp --dport 53:54']);
  });
  it('builds per-port chains with conntrack, DHCP, the source check and the stale chains removed', () => {
    const { text, perPort } = firewallRules([port, { ...port, id: 'dhcpport', device_owner: 'network:dhcp' }, { ...port, id: 'nosec', port_security_enabled: false }], groups, 4, ['orrery-iold', 'orrery-sg-chain', 'FORWARD']);
    assert.match(text, /-A orrery-sg-chain -m physdev --physdev-out tap1234567890a --physdev-is-bridged -j orrery-i1234567890/);
    assert.match(text, /-A orrery-i1234567890 -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN/);
    assert.match(text, /-A orrery-i1234567890 -s 10\.1\.0\.6\/32 -j RETURN/);
    assert.match(text, /-A orrery-s1234567890 -s 10\.1\.0\.5\/32 -m mac --mac-source fa:16:3e:00:00:01 -j RETURN/);
    assert.match(text, /-A orrery-s1234567890 -s 10\.9\.0\.0\/16 -m mac --mac-source fa:16:3e:00:00:09 -j RETURN/);
    assert.match(text, /-F orrery-iold[\s\S]*-X orrery-iold\nCOMMIT/);
    assert.doesNotMatch(text, /-X orrery-sg-chain|FORWARD/);
    assert.doesNotMatch(text, /tapdhcpport|tapnosec/, 'network ports and ports without port security are not filtered');
    assert.deepEqual([...perPort.keys()], ['1234567890abcdef']);
    assert.match(text.trim().split('\n').slice(-3)[0]!, /-A orrery-sg-chain -j ACCEPT|-X/);
  });
});
