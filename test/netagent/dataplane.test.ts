/**
 * The Linux data plane on two simulated hosts (namespaces joined by an underlay): DHCP from the
 * guest's own host, VXLAN between the hosts, security groups (including a flow under way when a
 * rule goes), a rebuild by a fresh data plane that changes nothing, and removal of everything.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bridgeName, dhcpNamespace, LinuxDataplane, netnsPath, tapName, vxlanName, type HostState, type HostSecurityGroup } from '@orrery/net-linux';
import { backendSkip } from '../support/backends.js';
import { defaultGroup, inNs, Lab, netnsAvailable, port, sh, tryNs, until, uuid } from './support.js';

const skip = backendSkip('root with ip/bridge/iptables/conntrack/dnsmasq/busybox (network namespaces)', netnsAvailable());

const ifindexes = (ns: string): Map<string, number> =>
  new Map((JSON.parse(sh(['ip', '-n', ns, '-j', 'link', 'show'])) as Array<{ ifname: string; ifindex: number }>).map((l) => [l.ifname, l.ifindex]));

describe('LinuxDataplane on two hosts', { skip }, () => {
  const lab = new Lab();
  const net = uuid();
  const sub = uuid();
  const sg = uuid();
  const vni = 3000 + Math.floor(Math.random() * 9000);
  let hosts: Array<{ ns: string; ip: string; prefix: string }>;
  const pA = port(net, sub, '10.77.0.10', [sg]);
  const pB = port(net, sub, '10.77.0.20', [sg]);
  const dA = { ...port(net, sub, '10.77.0.2', []), device_owner: 'network:dhcp' };
  const dB = { ...port(net, sub, '10.77.0.3', []), device_owner: 'network:dhcp' };
  let gA: string;
  let gB: string;
  const planes: LinuxDataplane[] = [];

  const stateFor = (i: 0 | 1, group: HostSecurityGroup): HostState => {
    const [p, d] = i === 0 ? [pA, dA] : [pB, dB];
    return {
      revision: 'x',
      networks: [{ id: net, name: 'n', mtu: 1450, network_type: 'vxlan', segmentation_id: vni, physical_network: null, vxlan_peers: hosts.map((h) => h.ip) }],
      subnets: [{ id: sub, network_id: net, ip_version: 4, cidr: '10.77.0.0/24', gateway_ip: '10.77.0.1', enable_dhcp: true, dns_nameservers: ['10.77.0.53'], host_routes: [] }],
      ports: [p, d],
      dhcp: [{ network_id: net, port: { id: d.id, mac_address: d.mac_address, fixed_ips: d.fixed_ips }, hosts: [{ mac_address: p.mac_address, ip_address: p.fixed_ips[0]!.ip_address }] }],
      security_groups: [group],
      metadata: { enabled: true },
    };
  };
  const plane = (i: 0 | 1, trace?: (a: readonly string[]) => void) => new LinuxDataplane({
    netns: netnsPath(hosts[i]!.ns), tunnelingIp: hosts[i]!.ip, interfaceMappings: new Map([['external', 'ext0']]), stateDir: join(lab.dir, `state${i}`),
    namespacePrefix: hosts[i]!.prefix, trace,
    // stands in for the metadata proxy: an HTTP server on 169.254.169.254:80 inside the DHCP namespace
    metadataProxy: () => ['busybox', 'httpd', '-f', '-p', '169.254.169.254:80', '-h', join(lab.dir, 'www')],
  });

  before(() => {
    mkdirSync(join(lab.dir, 'www'), { mode: 0o755 });
    writeFileSync(join(lab.dir, 'www', 'user_data'), 'hello from the metadata address\n', { mode: 0o644 });
    hosts = lab.hosts(2);
    gA = lab.guest(hosts[0]!.ns, pA, 'ga');
    gB = lab.guest(hosts[1]!.ns, pB, 'gb');
    planes.push(plane(0), plane(1));
  });
  after(() => lab.cleanup());

  test('apply wires the ports, each guest gets its lease from its own host, guests ping over VXLAN', async () => {
    const group = defaultGroup(sg, ['10.77.0.10', '10.77.0.20']);
    const rA = await planes[0]!.apply(stateFor(0, group));
    const rB = await planes[1]!.apply(stateFor(1, group));
    assert.deepEqual(rA.problems, []);
    assert.deepEqual(rB.problems, []);
    assert.ok(rA.wired.has(pA.id) && rB.wired.has(pB.id), 'both guest ports wired');
    const links = JSON.parse(sh(['ip', '-n', hosts[0]!.ns, '-j', '-d', 'link', 'show', vxlanName(vni)]))[0];
    assert.equal(links.master, bridgeName(net));
    assert.equal(links.linkinfo.info_data.learning, false);
    const fdb = sh(['bridge', '-n', hosts[0]!.ns, 'fdb', 'show', 'dev', vxlanName(vni)]);
    assert.match(fdb, /00:00:00:00:00:00 dst 10\.250\.0\.2/);
    assert.doesNotMatch(fdb, /dst 10\.250\.0\.1\b/, 'no FDB entry towards itself');

    const leaseA = lab.dhcp(gA);
    assert.equal(leaseA.ip, '10.77.0.10');
    assert.equal(leaseA.serverid, '10.77.0.2', 'host A leases from its own DHCP port');
    assert.equal(leaseA.mtu, '1450');
    assert.equal(leaseA.dns, '10.77.0.53');
    assert.match(leaseA.staticroutes ?? '', /169\.254\.169\.254\/32 10\.77\.0\.2/);
    assert.match(leaseA.staticroutes ?? '', /0\.0\.0\.0\/0 10\.77\.0\.1/);
    const leaseB = lab.dhcp(gB);
    assert.equal(leaseB.ip, '10.77.0.20');
    assert.equal(leaseB.serverid, '10.77.0.3');
    // metadata address on the DHCP interface
    assert.match(inNs(dhcpNamespace(net, hosts[0]!.prefix), ['ip', 'addr']), /169\.254\.169\.254\/32/);
    assert.ok(tryNs(gA, ['busybox', 'ping', '-c', '2', '-W', '2', '10.77.0.20']), 'A pings B across the hosts');
    // the metadata route the lease gave, to the proxy started in the DHCP namespace
    inNs(gA, ['ip', 'route', 'add', '169.254.169.254/32', 'via', '10.77.0.2']);
    // (busybox 1.35's wget segfaults with -T: the deadline is timeout's)
    const wget = ['timeout', '3', 'busybox', 'wget', '-q', '-O', '-', 'http://169.254.169.254/user_data'];
    assert.ok(await until(() => tryNs(gA, wget), 5000, 200), 'the proxy answers on the metadata address');
    assert.equal(inNs(gA, wget), 'hello from the metadata address\n');
  });

  test('a spoofed source address leaves the guest no further than its tap', () => {
    inNs(gA, ['ip', 'addr', 'add', '10.77.0.99/24', 'dev', 'eth0']);
    try {
      assert.equal(tryNs(gA, ['busybox', 'ping', '-c', '2', '-W', '1', '-I', '10.77.0.99', '10.77.0.20']), false);
    } finally {
      inNs(gA, ['ip', 'addr', 'del', '10.77.0.99/24', 'dev', 'eth0']);
    }
  });

  test('ARP claiming an address that is not the port\'s gets no answer', () => {
    inNs(gA, ['ip', 'addr', 'add', '10.77.0.98/24', 'dev', 'eth0']);
    try {
      assert.ok(tryNs(gA, ['busybox', 'arping', '-c', '1', '-w', '2', '-I', 'eth0', '-s', '10.77.0.10', '10.77.0.20']), 'its own address is answered');
      assert.equal(tryNs(gA, ['busybox', 'arping', '-c', '2', '-w', '2', '-I', 'eth0', '-s', '10.77.0.98', '10.77.0.20']), false);
    } finally {
      inNs(gA, ['ip', 'addr', 'del', '10.77.0.98/24', 'dev', 'eth0']);
    }
  });

  test('removing the ingress rule stops a ping under way within seconds; adding it back resumes it', async () => {
    const ping = lab.pinger(gA, '10.77.0.20');
    try {
      assert.ok(await until(() => ping.replies() >= 3, 5000), 'ping flowing');
      assert.match(inNs(hosts[1]!.ns, ['conntrack', '-L', '-w', String(vni)]), /icmp.*src=10\.77\.0\.10/, "the flow is tracked in its network's zone");
      const egressOnly = defaultGroup(sg, ['10.77.0.10', '10.77.0.20']);
      egressOnly.rules = egressOnly.rules.filter((r) => r.direction === 'egress');
      const t0 = Date.now();
      await planes[1]!.apply(stateFor(1, egressOnly));
      const applyMs = Date.now() - t0;
      await new Promise((r) => setTimeout(r, 1000));
      const n = ping.replies();
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(ping.replies(), n, `no reply once the rule is gone (apply took ${applyMs} ms)`);
      await planes[1]!.apply(stateFor(1, defaultGroup(sg, ['10.77.0.10', '10.77.0.20'])));
      const back = Date.now();
      assert.ok(await until(() => ping.replies() > n, 4000), 'ping resumes');
      console.log(`# rule removal: apply ${applyMs} ms; resumed ${Date.now() - back} ms after re-adding`);
    } finally {
      ping.stop();
    }
  });

  test('a fresh data plane (an agent restart) changes nothing that is already right', async () => {
    const before = ifindexes(hosts[0]!.ns);
    const dhcpNs = dhcpNamespace(net, hosts[0]!.prefix);
    const beforeNs = ifindexes(dhcpNs);
    const pid = sh(['ip', 'netns', 'pids', dhcpNs]).trim();
    const mutations: string[] = [];
    const fresh = plane(0, (a) => {
      const s = a.join(' ');
      if (/ link (add|del|set)| addr (add|del)| fdb (append|del)|netns (add|del)|dnsmasq/.test(s)) mutations.push(s);
    });
    const r = await fresh.apply(stateFor(0, defaultGroup(sg, ['10.77.0.10', '10.77.0.20'])));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(mutations, []);
    assert.deepEqual(ifindexes(hosts[0]!.ns), before);
    assert.deepEqual(ifindexes(dhcpNs), beforeNs);
    assert.equal(sh(['ip', 'netns', 'pids', dhcpNs]).trim(), pid, 'dnsmasq kept');
    planes[0] = fresh;
  });

  test('a new host entry is served after a SIGHUP, not a restart', async () => {
    const dhcpNs = dhcpNamespace(net, hosts[0]!.prefix);
    const pid = sh(['ip', 'netns', 'pids', dhcpNs]).trim();
    const pC = port(net, sub, '10.77.0.11', [sg]);
    const s = stateFor(0, defaultGroup(sg, ['10.77.0.10', '10.77.0.11', '10.77.0.20']));
    s.ports.push(pC);
    s.dhcp[0]!.hosts.push({ mac_address: pC.mac_address, ip_address: '10.77.0.11' });
    const r = await planes[0]!.apply(s);
    assert.ok(!r.wired.has(pC.id), 'no tap yet: not wired');
    // the hypervisor makes the tap after the apply: the next cheap pass attaches it
    const gC = lab.guest(hosts[0]!.ns, pC, 'gc');
    assert.ok((await planes[0]!.wire()).has(pC.id));
    assert.equal(lab.dhcp(gC).ip, '10.77.0.11');
    assert.equal(sh(['ip', 'netns', 'pids', dhcpNs]).trim(), pid);
    // admin down: the tap goes down and the port is no longer wired; up again, it is
    pC.admin_state_up = false;
    assert.ok(!(await planes[0]!.apply(s)).wired.has(pC.id));
    assert.doesNotMatch(sh(['ip', '-n', hosts[0]!.ns, 'link', 'show', tapName(pC.id)]), /[<,]UP[,>]/);
    pC.admin_state_up = true;
    assert.ok((await planes[0]!.apply(s)).wired.has(pC.id));
  });

  test('a flat network bridges the mapped physical interface', async () => {
    const ext = lab.ns('ext');
    sh(['ip', '-n', hosts[0]!.ns, 'link', 'add', 'ext0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ext]);
    inNs(ext, ['ip', 'addr', 'add', '10.66.0.1/24', 'dev', 'eth0']);
    inNs(ext, ['ip', 'link', 'set', 'eth0', 'up']);
    const flatNet = uuid();
    const flatSub = uuid();
    const pF = port(flatNet, flatSub, '10.66.0.10', [sg]);
    const dF = { ...port(flatNet, flatSub, '10.66.0.2', []), device_owner: 'network:dhcp' };
    const gF = lab.guest(hosts[0]!.ns, pF, 'gf');
    const s = stateFor(0, defaultGroup(sg, ['10.77.0.10', '10.77.0.20', '10.66.0.10']));
    s.networks.push({ id: flatNet, mtu: 1500, network_type: 'flat', segmentation_id: null, physical_network: 'external', vxlan_peers: [] });
    s.subnets.push({ id: flatSub, network_id: flatNet, ip_version: 4, cidr: '10.66.0.0/24', gateway_ip: '10.66.0.1', enable_dhcp: true, dns_nameservers: [], host_routes: [] });
    s.ports.push(pF, dF);
    s.dhcp.push({ network_id: flatNet, port: { id: dF.id, mac_address: dF.mac_address, fixed_ips: dF.fixed_ips }, hosts: [{ mac_address: pF.mac_address, ip_address: '10.66.0.10' }] });
    const r = await planes[0]!.apply(s);
    assert.deepEqual(r.problems, []);
    assert.ok(r.wired.has(pF.id));
    const l = JSON.parse(sh(['ip', '-n', hosts[0]!.ns, '-j', 'link', 'show', 'ext0']))[0];
    assert.equal(l.master, bridgeName(flatNet));
    const lease = lab.dhcp(gF);
    assert.equal(lease.ip, '10.66.0.10');
    assert.equal(lease.mtu, '1500');
    assert.ok(tryNs(gF, ['busybox', 'ping', '-c', '2', '-W', '2', '10.66.0.1']), 'the guest reaches the physical network');
  });

  test('an empty state removes the bridge, VXLAN device, DHCP namespace and the port chains, and nothing else', async () => {
    const dhcpNs = dhcpNamespace(net, hosts[0]!.prefix);
    const empty = { revision: 'e', networks: [], subnets: [], ports: [], dhcp: [], security_groups: [], metadata: { enabled: true } };
    const r = await planes[0]!.apply(empty);
    assert.deepEqual(r.problems, []);
    let names = [...ifindexes(hosts[0]!.ns).keys()];
    assert.ok(!names.includes(vxlanName(vni)));
    assert.ok(names.includes(tapName(pA.id)), "the hypervisor's tap stays");
    assert.ok(names.includes(bridgeName(net)), 'a bridge still holding a guest tap stays (the hypervisor may have just plugged it)');
    // the hypervisor unplugs its guests (its taps go): the next apply removes the bridges
    // (the DHCP taps may still be listed: a deleted namespace's veth pairs go asynchronously)
    for (const t of [...ifindexes(hosts[0]!.ns).keys()].filter((n) => n.startsWith('tap'))) try { sh(['ip', '-n', hosts[0]!.ns, 'link', 'del', t]); } catch { /* gone with its namespace */ }
    assert.deepEqual((await planes[0]!.apply(empty)).problems, []);
    names = [...ifindexes(hosts[0]!.ns).keys()];
    assert.ok(!names.some((n) => n.startsWith('brq')), 'no bridge left');
    assert.ok(names.includes('eth0'), 'the underlay stays');
    assert.ok(names.includes('ext0'), 'the physical interface stays');
    assert.equal(existsSync(netnsPath(dhcpNs)), false, 'the DHCP namespace is gone (with its dnsmasq and proxy)');
    assert.doesNotMatch(inNs(hosts[0]!.ns, ['iptables', '-S']), /orrery-[ios][0-9a-f]/);
  });
});
