// A container and a QEMU guest on one project network reach each other (issue #15). Two hosts,
// each in a network namespace of its own (test/libvirt/support/net-hosts.ts, joined by an
// underlay): the all-in-one in this process runs a libvirt compute on the first; a Docker compute
// (started here beside it, on the same bus) serves the second, its containers' veths joining the
// network's bridges in that host's namespace ([docker] host_netns). A network agent per host
// (Linux data plane: VXLAN, DHCP, metadata proxy, security groups). Each server is placed by
// its image's type alone; each pings the other: the guest by its user data from the metadata
// service, the container by its user data run by its init.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startNetworkAgent, type RunningNetworkAgent } from '../../src/cmd/network-agent.js';
import { startCompute } from '../../src/cmd/services.js';
import { createLogger } from '../../src/common/logging.js';
import type { ComputeService } from '../../src/compute/manager.js';
import { commandExists } from '../support/backends.js';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { removeDomainsAt } from '../libvirt/support/move-hosts.js';
import { netHostsSkip, startNetHosts, type NetFabric, type NetHost } from '../libvirt/support/net-hosts.js';
import { buildTestImage } from '../libvirt/support/test-image.js';
import { buildBusyboxImage, containersOf, dockerSkip, dockerSocket } from './support/docker.js';

const AGENT_TOOLS = ['dnsmasq', 'iptables-restore', 'ip6tables-restore', 'conntrack', 'nft', 'busybox'];
const missing = AGENT_TOOLS.filter((t) => !commandExists(t));
const skip = netHostsSkip() || dockerSkip() || (missing.length > 0 ? `the network agent needs ${missing.join(', ')}` : false);
const BOOT_MS = 300_000;
const MV = { 'openstack-api-version': 'compute 2.80' };
const SECRET = randomBytes(16).toString('hex');
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The container's user data: run by its init, a ping of `ip` every second in the background, each result on the console. */
const containerPings = (ip: string) => `#!/bin/sh
(n=0; while [ $n -lt 900 ]; do n=$((n+1));
  if ping -c 1 -W 1 ${ip} >/dev/null 2>&1; then echo "ORRERY-CT-PING ${ip} ok $n"; else echo "ORRERY-CT-PING ${ip} fail $n"; fi;
  sleep 1; done) &
`;

describe('a container and a QEMU guest on one project network (Docker and libvirt hosts)', { skip, timeout: 30 * 60_000 }, () => {
  const tag = randomBytes(3).toString('hex');
  let fabric: NetFabric;
  let qemuHost: NetHost;
  let dockerHost: NetHost;
  let cloud: TestCloud;
  let dockerCompute: ComputeService | undefined;
  let admin: Session;
  const agents: RunningNetworkAgent[] = [];
  /** [guest, container]: server ids and their ports. */
  const servers: string[] = [];
  const ports: Array<{ id: string; ip: string }> = [];
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
      return await waitFor(`${i === 0 ? 'guest' : 'container'}: ${what}`, async () => re.exec(await consoleOf(i)) ?? undefined, ms);
    } catch (err) {
      throw new Error(`${(err as Error).message}; its console ends with:\n${(await consoleOf(i)).split('\n').slice(-40).join('\n')}`);
    }
  };
  const upload = async (name: string, file: string, fields: Record<string, string>): Promise<string> => {
    const r = await api(admin, 'POST', `${cloud.urls.image}/v2/images`, { name, visibility: 'public', ...fields });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const put = await api(admin, 'PUT', `${cloud.urls.image}/v2/images/${r.body.id}/file`, readFileSync(file), { 'content-type': 'application/octet-stream' });
    assert.equal(put.status, 204, JSON.stringify(put.body));
    return String(r.body.id);
  };

  before(async () => {
    fabric = await startNetHosts(2, 'hd');
    [qemuHost, dockerHost] = fabric.hosts as [NetHost, NetHost];
    cloud = await startTestCloud({
      DEFAULT: { compute_driver: 'libvirt', compute_hosts: qemuHost.name },
      libvirt: {
        virt_type: 'qemu', image_cache_manager_interval: '0', connection_uri: qemuHost.uri, host_netns: qemuHost.netnsPath,
        instances_path: qemuHost.instancesPath,
      },
      network_agent: { in_process: 'false' },
      neutron: { metadata_proxy_shared_secret: SECRET },
    });
    const identity = `${cloud.urls.identity}/v3`;
    // The Docker host's compute: what `orrery compute --host` runs, here on the all-in-one's bus.
    const log = createLogger(`compute-${dockerHost.name}`, process.env.ORRERY_LOG_LEVEL ?? 'warn');
    dockerCompute = await startCompute(cloud.config.with({
      DEFAULT: { compute_driver: 'docker' },
      docker: { socket: dockerSocket(), host_netns: dockerHost.netnsPath },
    }), cloud.bus, dockerHost.name, identity, log);
    admin = await login(cloud, 'admin', 'secret', 'admin');
    const metadata = new URL(cloud.urls.metadata);
    for (const h of fabric.hosts) {
      const stateDir = join(h.stateDir, 'agent');
      const config = cloud.config.with({
        neutron: { endpoint_override: cloud.urls.network, metadata_proxy_shared_secret: SECRET },
        network_agent: {
          dataplane: 'linux', netns: h.netnsPath, tunneling_ip: h.tunnelingIp, namespace_prefix: `${h.name}-`, state_path: stateDir, poll_interval: '0.5',
        },
        metadata_agent: { nova_metadata_host: metadata.hostname, nova_metadata_port: metadata.port, metadata_proxy_socket: join(stateDir, 'metadata.sock') },
      });
      agents.push(await startNetworkAgent(config, h.name, identity, createLogger(`agent-${h.name}`, process.env.ORRERY_LOG_LEVEL ?? 'warn')));
    }

    const n = await ok('POST', net('/networks'), { network: { name: `net-${tag}` } }, 201);
    await ok('POST', net('/subnets'), { subnet: { network_id: n.network.id, ip_version: 4, cidr: '10.61.0.0/24' } }, 201);
    const group = await ok('POST', net('/security-groups'), { security_group: { name: `ping-${tag}` } }, 201);
    await ok('POST', net('/security-group-rules'), {
      security_group_rule: { security_group_id: group.security_group.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp', remote_ip_prefix: '0.0.0.0/0' },
    }, 201);
    for (const who of ['guest', 'container']) {
      const p = await ok('POST', net('/ports'), { port: { network_id: n.network.id, name: `${who}-${tag}`, security_groups: [group.security_group.id] } }, 201);
      ports.push({ id: p.port.id, ip: p.port.fixed_ips[0].ip_address });
    }

    const files = buildTestImage();
    const kernel = await upload(`nd-kernel-${tag}`, files.kernel, { disk_format: 'aki', container_format: 'aki' });
    const ramdisk = await upload(`nd-ramdisk-${tag}`, files.ramdisk, { disk_format: 'ari', container_format: 'ari' });
    const guestImage = await upload(`nd-guest-${tag}`, files.disk, {
      disk_format: 'ami', container_format: 'ami', kernel_id: kernel, ramdisk_id: ramdisk, os_command_line: 'console=ttyS0 quiet',
    });
    const containerImage = await upload(`nd-busybox-${tag}`, (await buildBusyboxImage()).path, { disk_format: 'raw', container_format: 'docker' });
    await ok('POST', compute('/flavors'), { flavor: { name: `nd-${tag}`, id: `nd-${tag}`, ram: 128, vcpus: 1, disk: 1 } }, 200);
    // No host named: the ami image can only go to the libvirt host, the docker image to the Docker one.
    const boots: Array<[string, string]> = [
      [guestImage, `ORRERY-PING=${ports[1]!.ip}\nhello from the guest of ${tag}\n`],
      [containerImage, containerPings(ports[0]!.ip)],
    ];
    for (const [i, [imageRef, userData]] of boots.entries()) {
      const r = await ok('POST', compute('/servers'), {
        server: {
          name: `nd${i + 1}-${tag}`, imageRef, flavorRef: `nd-${tag}`, networks: [{ port: ports[i]!.id }], user_data: Buffer.from(userData).toString('base64'),
        },
      }, 202);
      servers.push(r.server.id);
    }
  });

  after(async () => {
    for (const id of servers) await api(admin, 'DELETE', compute(`/servers/${id}`), undefined, MV).catch(() => undefined);
    await waitFor('the servers to be gone', async () => {
      const r = await api(admin, 'GET', compute('/servers'), undefined, MV);
      return r.body.servers?.length === 0 ? true : undefined;
    }, 120_000).catch(() => undefined);
    for (const a of agents) await a.stop().catch(() => undefined);
    await dockerCompute?.stop().catch(() => undefined);
    await cloud?.close().catch(() => undefined);
    for (const h of fabric?.hosts ?? []) {
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

  it('places the guest on the libvirt host and the container on the Docker host, both ACTIVE on their ports', async () => {
    for (const [i, host] of [qemuHost.name, dockerHost.name].entries()) {
      const s = await waitFor(`server ${i + 1} ACTIVE`, async () => {
        const r = (await api(admin, 'GET', compute(`/servers/${servers[i]}`), undefined, MV)).body.server;
        if (r.status === 'ERROR') throw new Error(`server ${i + 1} went to ERROR: ${JSON.stringify(r.fault)}`);
        return r.status === 'ACTIVE' ? r : undefined;
      }, BOOT_MS);
      assert.equal(s['OS-EXT-SRV-ATTR:host'], host);
      const addrs = Object.values(s.addresses as Record<string, Array<{ addr: string }>>).flat().map((a) => a.addr);
      assert.ok(addrs.includes(ports[i]!.ip), `addresses ${JSON.stringify(s.addresses)}`);
    }
    assert.equal(containersOf([servers[1]!]).length, 1);
  });

  it('the guest pings the container and the container pings the guest', async () => {
    await seen(0, new RegExp(`ORRERY-IP ${esc(ports[0]!.ip)}\\b`), `address ${ports[0]!.ip} by DHCP`);
    await seen(0, new RegExp(`ORRERY-PING ${esc(ports[1]!.ip)} ok`), 'a ping of the container answered', 180_000);
    await seen(1, new RegExp(`ORRERY-CT-PING ${esc(ports[0]!.ip)} ok`), 'a ping of the guest answered', 180_000);
  });
});
