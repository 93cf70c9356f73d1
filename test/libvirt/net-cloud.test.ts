// Issue #13 end to end on real guests: the all-in-one in this process runs two libvirt computes,
// each on a host in a network namespace of its own (support/net-hosts.ts: libvirtd there, an
// underlay between the hosts, an external network shared with an "external" namespace), and a
// network agent per host (in this process, as `orrery network-agent` starts one) with the Linux
// data plane in that namespace (L2 + VXLAN, DHCP with the metadata proxy, security groups, L3). Through
// the APIs only: a project network with a router to the external network, two ports in one
// security group, a server on each host with user data asking it to ping the other. Each guest
// gets its port's address by DHCP from its own host, prints its user data fetched from the
// metadata service, and pings the other over VXLAN; removing the group's ICMP rule stops the
// pings within seconds and adding it back starts them again; a floating IP makes the first
// guest answer pings from the external namespace.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startNetworkAgent, type RunningNetworkAgent } from '../../src/cmd/network-agent.js';
import { createLogger } from '../../src/common/logging.js';
import { commandExists } from '../support/backends.js';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { removeDomainsAt } from './support/move-hosts.js';
import { netHostsSkip, startNetHosts, type NetFabric, type NetHost } from './support/net-hosts.js';
import { buildTestImage } from './support/test-image.js';

const AGENT_TOOLS = ['dnsmasq', 'iptables-restore', 'ip6tables-restore', 'conntrack', 'nft', 'busybox'];
const missing = AGENT_TOOLS.filter((t) => !commandExists(t));
const skip = netHostsSkip() || (missing.length > 0 ? `the network agent needs ${missing.join(', ')}` : false);
const BOOT_MS = 300_000;
const MV = { 'openstack-api-version': 'compute 2.80' };
const SECRET = randomBytes(16).toString('hex');
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('networking end to end on two libvirt hosts (real guests, #13)', { skip, timeout: 30 * 60_000 }, () => {
  const tag = randomBytes(3).toString('hex');
  let fabric: NetFabric;
  let hosts: NetHost[];
  let cloud: TestCloud;
  let admin: Session;
  const agents: RunningNetworkAgent[] = [];
  const servers: string[] = [];
  const ports: Array<{ id: string; ip: string }> = [];
  let sg = '';
  let icmpRule = '';
  let external = '';
  const net = (path: string) => `${cloud.urls.network}/v2.0${path}`;
  const compute = (path: string) => `${cloud.urls.compute}/v2.1${path}`;
  const ok = async (method: string, url: string, body: unknown, status: number) => {
    const r = await api(admin, method, url, body, MV);
    assert.equal(r.status, status, `${method} ${url}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const consoleOf = async (i: number): Promise<string> => {
    const r = await api(admin, 'POST', compute(`/servers/${servers[i]}/action`), { 'os-getConsoleOutput': {} }, MV);
    return r.status === 200 ? String(r.body.output) : '';
  };
  const seen = async (i: number, re: RegExp, what: string, ms = BOOT_MS): Promise<RegExpExecArray> => {
    try {
      return await waitFor(`guest ${i + 1}: ${what}`, async () => re.exec(await consoleOf(i)) ?? undefined, ms);
    } catch (err) {
      // What the guest said is what tells why.
      throw new Error(`${(err as Error).message}; its console ends with:\n${(await consoleOf(i)).split('\n').slice(-40).join('\n')}`);
    }
  };
  /** The agents' namespaces on each host and what runs and listens in them (printed with ORRERY_NET_DIAGNOSE=1). */
  const diagnose = (): string => hosts.map((h) => {
    const mine = (existsSync('/run/netns') ? readdirSync('/run/netns') : []).filter((x) => x.startsWith(`${h.name}-`));
    return [`host ${h.name}: ${mine.join(' ') || 'no agent namespaces'}`, ...mine.map((ns) => {
      const q = (args: string[]) => {
        try {
          return execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' }).trim();
        } catch (e) {
          return `(${(e as Error).message.split('\n')[0]})`;
        }
      };
      return `  ${ns}:\n${q(['ip', '-br', 'addr'])}\n${q(['ss', '-lntpu'])}`;
    })].join('\n');
  }).join('\n');

  /** The pings guest i reported: [n, ok] in order. */
  const pings = async (i: number): Promise<Array<[number, boolean]>> =>
    [...(await consoleOf(i)).matchAll(/ORRERY-PING \S+ (ok|fail) (\d+)/g)].map((m) => [Number(m[2]), m[1] === 'ok']);

  const upload = async (name: string, file: string, fields: Record<string, string>): Promise<string> => {
    const r = await api(admin, 'POST', `${cloud.urls.image}/v2/images`, { name, visibility: 'public', ...fields });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const put = await api(admin, 'PUT', `${cloud.urls.image}/v2/images/${r.body.id}/file`, readFileSync(file), { 'content-type': 'application/octet-stream' });
    assert.equal(put.status, 204, JSON.stringify(put.body));
    return String(r.body.id);
  };

  before(async () => {
    fabric = await startNetHosts(2, 'hr');
    hosts = fabric.hosts;
    const [h1, h2] = hosts as [NetHost, NetHost];
    cloud = await startTestCloud({
      DEFAULT: { compute_driver: 'libvirt', compute_hosts: `${h1.name},${h2.name}` },
      libvirt: {
        virt_type: 'qemu', image_cache_manager_interval: '0', connection_uri: h1.uri, host_netns: h1.netnsPath, instances_path: h1.instancesPath,
      },
      [`libvirt@${h2.name}`]: { connection_uri: h2.uri, host_netns: h2.netnsPath, instances_path: h2.instancesPath },
      // The agents are this test's (below): each in its host's namespace.
      network_agent: { in_process: 'false' },
      neutron: { metadata_proxy_shared_secret: SECRET },
    });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    const metadata = new URL(cloud.urls.metadata);
    for (const h of hosts) {
      const stateDir = join(h.stateDir, 'agent');
      const config = cloud.config.with({
        neutron: { endpoint_override: cloud.urls.network, metadata_proxy_shared_secret: SECRET },
        network_agent: {
          dataplane: 'linux', netns: h.netnsPath, tunneling_ip: h.tunnelingIp, interface_mappings: `external:${h.externalInterface}`,
          namespace_prefix: `${h.name}-`, state_path: stateDir, poll_interval: '0.5',
        },
        // Its own forwarder socket: the agents share the cloud's state_path.
        metadata_agent: { nova_metadata_host: metadata.hostname, nova_metadata_port: metadata.port, metadata_proxy_socket: join(stateDir, 'metadata.sock') },
      });
      const log = createLogger(`agent-${h.name}`, process.env.ORRERY_LOG_LEVEL ?? 'warn');
      agents.push(await startNetworkAgent(config, h.name, `${cloud.urls.identity}/v3`, log));
    }

    // The external network (flat, on every host's ext0) and a project network routed to it.
    const ext = await ok('POST', net('/networks'), {
      network: { name: `ext-${tag}`, 'router:external': true, 'provider:network_type': 'flat', 'provider:physical_network': 'external' },
    }, 201);
    external = ext.network.id;
    await ok('POST', net('/subnets'), {
      subnet: {
        network_id: external, ip_version: 4, cidr: fabric.external.cidr, gateway_ip: fabric.external.address, enable_dhcp: false,
        allocation_pools: [{ start: '172.30.0.50', end: '172.30.0.99' }],
      },
    }, 201);
    const n = await ok('POST', net('/networks'), { network: { name: `net-${tag}` } }, 201);
    const s = await ok('POST', net('/subnets'), { subnet: { network_id: n.network.id, ip_version: 4, cidr: '10.60.0.0/24' } }, 201);
    const router = await ok('POST', net('/routers'), { router: { name: `r-${tag}`, external_gateway_info: { network_id: external } } }, 201);
    await ok('PUT', net(`/routers/${router.router.id}/add_router_interface`), { subnet_id: s.subnet.id }, 200);
    // One group for both ports: egress open (a new group's defaults), ingress ICMP from anywhere.
    const group = await ok('POST', net('/security-groups'), { security_group: { name: `ping-${tag}` } }, 201);
    sg = group.security_group.id;
    icmpRule = (await ok('POST', net('/security-group-rules'), {
      security_group_rule: { security_group_id: sg, direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp', remote_ip_prefix: '0.0.0.0/0' },
    }, 201)).security_group_rule.id;
    for (let i = 0; i < 2; i++) {
      const p = await ok('POST', net('/ports'), { port: { network_id: n.network.id, name: `p${i}-${tag}`, security_groups: [sg] } }, 201);
      ports.push({ id: p.port.id, ip: p.port.fixed_ips[0].ip_address });
    }

    const files = buildTestImage();
    const kernel = await upload(`nc-kernel-${tag}`, files.kernel, { disk_format: 'aki', container_format: 'aki' });
    const ramdisk = await upload(`nc-ramdisk-${tag}`, files.ramdisk, { disk_format: 'ari', container_format: 'ari' });
    const image = await upload(`nc-guest-${tag}`, files.disk, {
      disk_format: 'ami', container_format: 'ami', kernel_id: kernel, ramdisk_id: ramdisk, os_command_line: 'console=ttyS0 quiet',
    });
    await ok('POST', compute('/flavors'), { flavor: { name: `nc-${tag}`, id: `nc-${tag}`, ram: 128, vcpus: 1, disk: 1 } }, 200);
    for (const [i, h] of hosts.entries()) {
      const userData = `ORRERY-PING=${ports[1 - i]!.ip}\nhello from guest ${i + 1} of ${tag}\n`;
      const r = await ok('POST', compute('/servers'), {
        server: {
          name: `nc${i + 1}-${tag}`, imageRef: image, flavorRef: `nc-${tag}`, networks: [{ port: ports[i]!.id }],
          availability_zone: `nova:${h.name}`, user_data: Buffer.from(userData).toString('base64'),
        },
      }, 202);
      servers.push(r.server.id);
    }
  });

  after(async () => {
    if (process.env.ORRERY_NET_DIAGNOSE === '1') console.log(diagnose());
    for (const id of servers) await api(admin, 'DELETE', compute(`/servers/${id}`), undefined, MV).catch(() => undefined);
    for (const a of agents) await a.stop().catch(() => undefined);
    await cloud?.close().catch(() => undefined);
    for (const h of hosts ?? []) {
      removeDomainsAt(h.uri, h.name);
      // The agents' own namespaces (qdhcp-, qrouter-) carry the host's prefix: their processes first.
      for (const ns of (existsSync('/run/netns') ? readdirSync('/run/netns') : []).filter((x) => x.startsWith(`${h.name}-`))) {
        try {
          for (const pid of execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
        try {
          execFileSync('ip', ['netns', 'del', ns]);
        } catch {
          // gone
        }
      }
    }
    fabric?.stop();
  });

  it('boots a server on each host; both go ACTIVE with their port ACTIVE and bound there', async () => {
    for (const [i, id] of servers.entries()) {
      const s = await waitFor(`server ${i + 1} ACTIVE`, async () => {
        const r = (await api(admin, 'GET', compute(`/servers/${id}`), undefined, MV)).body.server;
        if (r.status === 'ERROR') throw new Error(`server ${i + 1} went to ERROR: ${JSON.stringify(r.fault)}`);
        return r.status === 'ACTIVE' ? r : undefined;
      }, BOOT_MS);
      assert.equal(s['OS-EXT-SRV-ATTR:host'], hosts[i]!.name);
      const addrs = Object.values(s.addresses as Record<string, Array<{ addr: string }>>).flat().map((a) => a.addr);
      assert.ok(addrs.includes(ports[i]!.ip), `addresses ${JSON.stringify(s.addresses)}`);
    }
    for (const [i, p] of ports.entries()) {
      const port = await waitFor(`port ${i + 1} ACTIVE`, async () => {
        const r = (await api(admin, 'GET', net(`/ports/${p.id}`))).body.port;
        return r.status === 'ACTIVE' ? r : undefined;
      }, 60_000);
      assert.equal(port['binding:host_id'], hosts[i]!.name);
      assert.equal(port.device_id, servers[i]);
    }
  });

  it('each guest gets its address, MTU 1450 and the metadata route by DHCP, and prints its own user data from the metadata service', async () => {
    for (const i of [0, 1]) {
      await seen(i, new RegExp(`ORRERY-IP ${esc(ports[i]!.ip)}\\b`), `address ${ports[i]!.ip}`);
      const netLine = await seen(i, /ORRERY-NET eth0 (\S+) mtu=(\d+) router=\S+ routes=(\S*)/, 'its network');
      assert.equal(netLine[2], '1450');
      assert.match(netLine[3]!, /169\.254\.169\.254\/32/, 'option 121 routes the metadata address');
      const ud = await seen(i, /ORRERY-USERDATA-BEGIN\s*([\s\S]*?)ORRERY-USERDATA-END/, 'its user data', 120_000);
      assert.match(ud[1]!, new RegExp(`hello from guest ${i + 1} of ${tag}`), 'its own user data, not the other\'s');
    }
  });

  it('the guests on the two hosts ping each other over VXLAN', async () => {
    for (const i of [0, 1]) await seen(i, new RegExp(`ORRERY-PING ${esc(ports[1 - i]!.ip)} ok`), 'a ping of the other guest answered', 120_000);
  });

  it('removing the ICMP rule stops the pings within seconds; adding it back starts them again', async () => {
    const lastOk = async (i: number) => Math.max(0, ...(await pings(i)).filter(([, y]) => y).map(([n]) => n));
    const before = await lastOk(0);
    assert.ok(before > 0);
    const t0 = Date.now();
    assert.equal((await api(admin, 'DELETE', net(`/security-group-rules/${icmpRule}`))).status, 204);
    // Stopped: three failures in a row after the last answer.
    await waitFor('the pings stopped', async () => {
      const p = await pings(0);
      const okAt = Math.max(0, ...p.filter(([, y]) => y).map(([n]) => n));
      return p.filter(([n, y]) => !y && n > okAt).length >= 3 ? true : undefined;
    }, 30_000);
    const stoppedMs = Date.now() - t0;
    const failedTo = Math.max(...(await pings(0)).map(([n]) => n));
    const t1 = Date.now();
    icmpRule = (await ok('POST', net('/security-group-rules'), {
      security_group_rule: { security_group_id: sg, direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp', remote_ip_prefix: '0.0.0.0/0' },
    }, 201)).security_group_rule.id;
    await waitFor('the pings answered again', async () => ((await pings(0)).some(([n, y]) => y && n > failedTo) ? true : undefined), 30_000);
    console.log(`# rule removed → pings failing after ${stoppedMs} ms; rule added → answered after ${Date.now() - t1} ms`);
    assert.ok(stoppedMs < 15_000, `stopped within seconds (${stoppedMs} ms, three failed pings included)`);
  });

  it('a floating IP makes the first guest answer pings from the external namespace', async () => {
    const fip = (await ok('POST', net('/floatingips'), { floatingip: { floating_network_id: external, port_id: ports[0]!.id } }, 201)).floatingip;
    const address = String(fip.floating_ip_address);
    await waitFor(`ping ${address} from the external namespace`, async () => {
      try {
        fabric.external.exec('busybox', ['ping', '-c', '1', '-W', '1', address]);
        return true;
      } catch {
        return undefined;
      }
    }, 60_000);
    // Disassociated, it stops answering.
    await ok('PUT', net(`/floatingips/${fip.id}`), { floatingip: { port_id: null } }, 200);
    await waitFor(`${address} no longer answers`, async () => {
      try {
        fabric.external.exec('busybox', ['ping', '-c', '1', '-W', '1', address]);
        return undefined;
      } catch {
        return true;
      }
    }, 30_000);
  });
});
