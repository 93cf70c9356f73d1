// The libvirt driver's network plumbing (contract 1.3) on real guests, without the network
// service: two hosts in namespaces of their own (support/net-hosts.ts), each driver plugging
// its ports' bridge there. The test wires what the network agent would — a VXLAN device on each
// host's bridge with head-end replication to the other, and one dnsmasq on host 1 with a static
// lease per port (MTU, option 121 routes) — then boots a guest per host: each gets its address
// by DHCP (over VXLAN for host 2's), the MTU and the routes, and pings the other. An interface
// attached to the running guest is seen by it and gets its lease; detached, it goes. Plugging
// again recreates nothing; after destroy, unplug leaves the bridge (the agent's) alone.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bridgeNameOf, tapNameOf, type InstanceRef, type InstanceSpec, type VifInfo } from '@orrery/virt-api';
import { LibvirtDriver } from '@orrery/driver-libvirt';
import { moveImages, smallGuest, waitFor } from './support/move-images.js';
import { removeDomainsAt } from './support/move-hosts.js';
import { netHostsSkip, startNetHosts, type NetFabric, type NetHost } from './support/net-hosts.js';

const skip = netHostsSkip();
const BOOT_MS = 240_000;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

const NETWORK = randomUUID();
const BRIDGE = bridgeNameOf(NETWORK);
const GATEWAY = '10.251.0.1';

function port(i: number): VifInfo {
  const id = randomUUID();
  return {
    id, mac: `fa:16:3e:5a:00:${(16 + i).toString(16)}`, networkId: NETWORK, fixedIps: [`10.251.0.${10 + i}`], mtu: 1450,
    bridge: BRIDGE, devName: tapNameOf(id), vifType: 'bridge', subnets: [{ cidr: '10.251.0.0/24', gateway: GATEWAY, version: 4 }],
  };
}

describe('libvirt guests on a bridge of their host (contract 1.3, real guests)', { skip, timeout: 20 * 60_000 }, () => {
  let fabric: NetFabric;
  let hosts: NetHost[];
  const drivers: LibvirtDriver[] = [];
  let dnsmasq: ChildProcess | null = null;
  const ports = [port(1), port(2), port(3)];
  const guests: InstanceSpec[] = [];
  const refOf = (s: InstanceSpec): InstanceRef => ({ uuid: s.uuid, node: s.node });
  const consoleOf = (i: number) => drivers[i]!.getConsoleOutput(refOf(guests[i]!));
  const seen = (i: number, re: RegExp, what: string, ms = BOOT_MS) =>
    waitFor(`guest ${i + 1}: ${what}`, ms, async () => re.exec(await consoleOf(i).catch(() => '')));
  const ifindex = (h: NetHost, dev: string) => Number(/^(\d+):/.exec(h.exec('ip', ['-o', 'link', 'show', 'dev', dev]))?.[1]);

  before(async () => {
    fabric = await startNetHosts(2, 'hg');
    hosts = fabric.hosts;
    const { images, root } = moveImages('console=ttyS0 quiet');
    for (const h of hosts) {
      const d = new LibvirtDriver();
      await d.init({
        host: h.name, stateDir: h.stateDir, images, log: silent,
        config: { connection_uri: h.uri, host_netns: h.netnsPath, instances_path: h.instancesPath, image_cache_manager_interval: '0' },
      });
      drivers.push(d);
    }
    // Guest i pings the other guest's address (orrery.ping on its kernel command line).
    for (const [i, h] of hosts.entries()) {
      const other = ports[1 - i]!.fixedIps[0]!;
      const s = smallGuest(h.name, { ...root, properties: { ...root.properties, os_command_line: `console=ttyS0 quiet orrery.ping=${other}` } });
      guests.push({ ...s, network: { ports: [ports[i]!] } });
    }
  });

  after(async () => {
    dnsmasq?.kill('SIGTERM');
    for (const [i, d] of drivers.entries()) {
      await d.shutdown().catch(() => undefined);
      removeDomainsAt(hosts[i]!.uri, hosts[i]!.name);
    }
    fabric?.stop();
  });

  it('plugVifs makes the bridge in the host namespace once, and leaves it alone after', async () => {
    for (const [i, d] of drivers.entries()) {
      await d.plugVifs(refOf(guests[i]!), [ports[i]!]);
      const first = ifindex(hosts[i]!, BRIDGE);
      assert.match(hosts[i]!.exec('ip', ['-d', 'link', 'show', 'dev', BRIDGE]), /bridge/);
      await d.plugVifs(refOf(guests[i]!), [ports[i]!]);
      assert.equal(ifindex(hosts[i]!, BRIDGE), first, 'plugged again: the same bridge');
    }
    // What the network agent does: VXLAN with head-end replication to the other host on each bridge.
    for (const [i, h] of hosts.entries()) {
      h.exec('ip', ['link', 'add', 'vxlan-4242', 'type', 'vxlan', 'id', '4242', 'local', h.tunnelingIp, 'dstport', '4789', 'nolearning', 'dev', 'underlay0']);
      h.exec('bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxlan-4242', 'dst', hosts[1 - i]!.tunnelingIp]);
      h.exec('ip', ['link', 'set', 'vxlan-4242', 'master', BRIDGE, 'up']);
    }
    // ... and its DHCP: static leases for the ports, on host 1 only (host 2's guest is served over VXLAN).
    const h1 = hosts[0]!;
    h1.exec('ip', ['addr', 'add', `${GATEWAY}/24`, 'dev', BRIDGE]);
    const hostsFile = join(h1.stateDir, 'dhcp-hosts');
    writeFileSync(hostsFile, ports.map((p) => `${p.mac},${p.fixedIps[0]}`).join('\n') + '\n');
    dnsmasq = spawn('ip', ['netns', 'exec', h1.ns, 'dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts', '--port=0', '--user=root',
      '--bind-interfaces', `--interface=${BRIDGE}`, '--except-interface=lo', `--dhcp-range=10.251.0.0,static,255.255.255.0,12h`,
      `--dhcp-hostsfile=${hostsFile}`, `--dhcp-leasefile=${join(h1.stateDir, 'leases')}`, `--pid-file=${join(h1.stateDir, 'dnsmasq.pid')}`,
      '--dhcp-option=26,1450', `--dhcp-option=121,169.254.169.254/32,${GATEWAY},0.0.0.0/0,${GATEWAY}`, '--log-dhcp', '--log-facility=-'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  });

  it('boots a guest per host: each gets its address, MTU and routes by DHCP and pings the other over VXLAN', async () => {
    await Promise.all(guests.map((s, i) => drivers[i]!.spawn(s)));
    for (const [i, h] of hosts.entries()) {
      const tap = ports[i]!.devName!;
      assert.match(h.exec('ip', ['-d', 'link', 'show', 'dev', tap]), new RegExp(`mtu 1450 .*master ${BRIDGE}`, 's'), 'the tap is on the bridge, MTU 1450');
      assert.deepEqual(await drivers[i]!.guestMacs(refOf(guests[i]!)), [ports[i]!.mac]);
    }
    for (const i of [0, 1]) {
      const ip = ports[i]!.fixedIps[0]!;
      await seen(i, new RegExp(`ORRERY-IP ${ip.replace(/\./g, '\\.')}\\b`), `address ${ip}`);
      const net = await seen(i, /ORRERY-NET eth0 (\S+) mtu=(\d+) router=\S+ routes=(\S*)/, 'its network');
      assert.deepEqual([net[1], net[2]], [`${ip}/24`, '1450']);
      assert.match(net[3]!, /169\.254\.169\.254\/32,10\.251\.0\.1/, 'the metadata route of option 121');
      await seen(i, new RegExp(`ORRERY-PING ${ports[1 - i]!.fixedIps[0]!.replace(/\./g, '\\.')} ok`), 'a ping of the other guest answered');
    }
  });

  it('attaches an interface to the running guest (it sees it and gets its lease), then detaches it', async () => {
    const d = drivers[0]!;
    const ref = refOf(guests[0]!);
    const extra = ports[2]!;
    await d.plugVifs(ref, [extra]);
    await d.attachInterface(ref, extra);
    await d.attachInterface(ref, extra);
    assert.deepEqual(await d.guestMacs(ref), [ports[0]!.mac, extra.mac]);
    assert.deepEqual(await d.guestMacs(ref, false), [ports[0]!.mac, extra.mac], 'persistent: in the definition too');
    await seen(0, new RegExp(`ORRERY-NIC-ADDED eth1 ${extra.mac}`), 'the hot-plugged NIC');
    await seen(0, /ORRERY-IP 10\.251\.0\.13\b/, 'the new NIC\'s lease', 120_000);
    await d.detachInterface(ref, extra);
    await d.detachInterface(ref, extra);
    assert.deepEqual(await d.guestMacs(ref), [ports[0]!.mac]);
    assert.deepEqual(await d.guestMacs(ref, false), [ports[0]!.mac]);
    await seen(0, /ORRERY-NIC-REMOVED eth1/, 'the NIC gone', 60_000);
    await d.unplugVifs(ref, [extra]);
  });

  it('after destroy, unplug leaves no tap and the bridge in place', async () => {
    for (const [i, d] of drivers.entries()) {
      const bridge = ifindex(hosts[i]!, BRIDGE);
      await d.destroy(refOf(guests[i]!));
      await d.unplugVifs(refOf(guests[i]!), [ports[i]!]);
      await d.unplugVifs(refOf(guests[i]!), [ports[i]!]);
      assert.throws(() => hosts[i]!.exec('ip', ['link', 'show', 'dev', ports[i]!.devName!]), /does not exist/);
      assert.equal(ifindex(hosts[i]!, BRIDGE), bridge, 'the bridge stays: the network agent owns it');
    }
  });
});
