/**
 * Two network agents (child processes from the built JS, `orrery network-agent`) on two
 * simulated hosts, driven by the real Network API of a test cloud: ports bound to the hosts
 * become ACTIVE, each guest gets its address from its own host's dnsmasq, guests ping each other
 * over VXLAN, a security group rule removed through the API stops a ping under way and its
 * return starts it again, kill -9 of one agent leaves the traffic flowing, and the restarted
 * agent converges without recreating a device.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dhcpNamespace, netnsPath } from '@orrery/net-linux';
import { backendSkip } from '../support/backends.js';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { Lab, netnsAvailable, sh, until, uuid } from './support.js';

const skip = backendSkip('root with ip/bridge/iptables/conntrack/dnsmasq/busybox (network namespaces)', netnsAvailable());
const execFileAsync = promisify(execFile);
const ORRERY = new URL('../../dist/src/cmd/orrery.js', import.meta.url).pathname;

const ifindexes = (ns: string): Map<string, number> =>
  new Map((JSON.parse(sh(['ip', '-n', ns, '-j', 'link', 'show'])) as Array<{ ifname: string; ifindex: number }>).map((l) => [l.ifname, l.ifindex]));

describe('network agents on two hosts against the Network API', { skip }, () => {
  const lab = new Lab();
  let cloud: TestCloud;
  let admin: Session;
  let hosts: Array<{ ns: string; ip: string; prefix: string }>;
  const names = [`neta-${lab.sfx}`, `netb-${lab.sfx}`];
  const agents: Array<ChildProcess | null> = [null, null];
  const ports: Array<{ id: string; mac_address: string; fixed_ips: Array<{ ip_address: string }> }> = [];
  const guests: string[] = [];
  let net: string;
  let sg: string;

  const startAgent = (i: number): ChildProcess => {
    const ini = join(lab.dir, `agent${i}.ini`);
    writeFileSync(ini, [
      '[DEFAULT]', `state_path = ${join(lab.dir, `agent${i}`)}`,
      '[service_user]', `auth_url = ${cloud.urls.identity}/v3`,
      '[neutron]', `endpoint_override = ${cloud.urls.network}`, 'metadata_proxy_shared_secret = agents-test-secret',
      '[metadata_agent]', `nova_metadata_port = ${new URL(cloud.urls.metadata).port}`,
      '[network_agent]', 'dataplane = linux', `netns = ${netnsPath(hosts[i]!.ns)}`, `tunneling_ip = ${hosts[i]!.ip}`,
      `namespace_prefix = ${hosts[i]!.prefix}`, 'poll_interval = 0.5', '',
    ].join('\n'));
    const child = spawn(process.execPath, [ORRERY, '--config', ini, 'network-agent', '--host', names[i]!], {
      stdio: ['ignore', process.env.AGENT_LOG_LEVEL ? 'inherit' : 'ignore', 'inherit'], env: { ...process.env, ORRERY_LOG_LEVEL: process.env.AGENT_LOG_LEVEL ?? 'warn' },
    });
    lab.children.push(child);
    agents[i] = child;
    return child;
  };
  const leases: Array<Record<string, string>> = [];
  const portStatus = async (id: string) => (await api(admin, 'GET', `${cloud.urls.network}/v2.0/ports/${id}`)).body?.port?.status;

  before(async () => {
    hosts = lab.hosts(2);
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' }, network_agent: { in_process: 'false' }, neutron: { metadata_proxy_shared_secret: 'agents-test-secret' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    const n = await api(admin, 'POST', `${cloud.urls.network}/v2.0/networks`, { network: { name: `agents-${lab.sfx}` } });
    assert.equal(n.status, 201, JSON.stringify(n.body));
    net = n.body.network.id;
    const s = await api(admin, 'POST', `${cloud.urls.network}/v2.0/subnets`, { subnet: { network_id: net, ip_version: 4, cidr: '10.78.0.0/24' } });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    for (let i = 0; i < 2; i++) {
      const p = await api(admin, 'POST', `${cloud.urls.network}/v2.0/ports`, {
        port: { network_id: net, device_owner: 'compute:nova', device_id: uuid(), 'binding:host_id': names[i] },
      });
      assert.equal(p.status, 201, JSON.stringify(p.body));
      ports.push(p.body.port);
      guests.push(lab.guest(hosts[i]!.ns, p.body.port, `g${i}`));
    }
    sg = ports[0] && (await api(admin, 'GET', `${cloud.urls.network}/v2.0/ports/${ports[0].id}`)).body.port.security_groups[0];
    startAgent(0);
    startAgent(1);
  });
  after(async () => {
    for (const a of agents) if (a && a.exitCode === null) a.kill('SIGKILL');
    await cloud?.close();
    lab.cleanup();
  });

  test('the bound ports become ACTIVE once their host has wired them', async () => {
    for (const p of ports) await waitFor(`port ${p.id} ACTIVE`, async () => ((await portStatus(p.id)) === 'ACTIVE' ? true : undefined), 30_000);
    const agentsList = await api(admin, 'GET', `${cloud.urls.network}/v2.0/agents?binary=orrery-network-agent`);
    assert.equal(agentsList.status, 200);
    const mine = agentsList.body.agents.filter((a: { host: string }) => names.includes(a.host));
    assert.equal(mine.length, 2);
    assert.ok(mine.every((a: { alive: boolean }) => a.alive));
  });

  test("each guest gets its port's address from its own host, and the guests ping each other over VXLAN", async () => {
    for (let i = 0; i < 2; i++) {
      const lease = lab.dhcp(guests[i]!);
      leases[i] = lease;
      assert.equal(lease.ip, ports[i]!.fixed_ips[0]!.ip_address);
      assert.equal(lease.mtu, '1450');
      const dhcpNs = dhcpNamespace(net, hosts[i]!.prefix);
      const inDhcp = sh(['ip', 'netns', 'exec', dhcpNs, 'ip', '-j', 'addr']);
      assert.ok(inDhcp.includes(lease.serverid!), `the lease comes from host ${i}'s own DHCP namespace`);
    }
    assert.ok(await until(() => {
      try { sh(['ip', 'netns', 'exec', guests[0]!, 'busybox', 'ping', '-c', '1', '-W', '1', ports[1]!.fixed_ips[0]!.ip_address]); return true; } catch { return false; }
    }, 10_000, 200));
  });

  test("a guest's metadata request crosses the proxy in its DHCP namespace and the agent's forwarder to the metadata API", async () => {
    sh(['ip', 'netns', 'exec', guests[0]!, 'ip', 'route', 'add', '169.254.169.254/32', 'via', leases[0]!.serverid!]);
    // No server holds this port (its device_id is no instance): the metadata API's 404 is the answer
    // that proves the whole path (a broken proxy refuses the connection, a broken forwarder gives 502).
    // The command runs asynchronously: the APIs it ends at live in this process.
    const t0 = Date.now();
    let out = '';
    for (;;) {
      const r = await execFileAsync('ip', ['netns', 'exec', guests[0]!, 'timeout', '5', 'busybox', 'wget', '-O', '-', 'http://169.254.169.254/openstack/latest/meta_data.json'])
        .then((x) => x.stderr + x.stdout, (e: { stderr?: string }) => String(e.stderr ?? e));
      out = r;
      if (/404/.test(out) || Date.now() - t0 > 20_000) break;
      await new Promise((res) => setTimeout(res, 300));
    }
    console.log(`# metadata answered after ${Date.now() - t0} ms`);
    assert.match(out, /HTTP\/1\.1 404/);
  });

  test('a security group rule removed through the API stops a ping under way; added back, it resumes', async () => {
    const ping = lab.pinger(guests[0]!, ports[1]!.fixed_ips[0]!.ip_address);
    try {
      assert.ok(await until(() => ping.replies() >= 3, 5000), 'ping flowing');
      const rules = await api(admin, 'GET', `${cloud.urls.network}/v2.0/security-group-rules?security_group_id=${sg}&direction=ingress&ethertype=IPv4`);
      assert.equal(rules.status, 200);
      const ingress = rules.body.security_group_rules[0];
      assert.ok(ingress, 'the default group has its IPv4 ingress rule');
      const t0 = Date.now();
      assert.equal((await api(admin, 'DELETE', `${cloud.urls.network}/v2.0/security-group-rules/${ingress.id}`)).status, 204);
      let n = ping.replies();
      let last = Date.now();
      // stopped = no reply for 2 s
      assert.ok(await until(() => {
        if (ping.replies() !== n) { n = ping.replies(); last = Date.now(); }
        return Date.now() - last > 2000;
      }, 10_000, 100), 'ping stopped');
      const stopMs = last - t0;
      const back = await api(admin, 'POST', `${cloud.urls.network}/v2.0/security-group-rules`, {
        security_group_rule: { security_group_id: sg, direction: 'ingress', ethertype: 'IPv4', remote_group_id: sg },
      });
      assert.equal(back.status, 201, JSON.stringify(back.body));
      const t1 = Date.now();
      const before = ping.replies();
      assert.ok(await until(() => ping.replies() > before, 10_000), 'ping resumed');
      console.log(`# rule deleted → last reply after ${stopMs} ms; rule added → reply after ${Date.now() - t1} ms`);
      assert.ok(stopMs < 5000, `stopped within 5 s (${stopMs} ms)`);
    } finally {
      ping.stop();
    }
  });

  test('kill -9 of one agent leaves the guests pinging; restarted, it converges without recreating a device', async () => {
    const before = ifindexes(hosts[0]!.ns);
    const dhcpNs = dhcpNamespace(net, hosts[0]!.prefix);
    const dhcpBefore = ifindexes(dhcpNs);
    const dnsmasqPid = sh(['ip', 'netns', 'pids', dhcpNs]).trim();
    const ping = lab.pinger(guests[1]!, ports[0]!.fixed_ips[0]!.ip_address);
    try {
      assert.ok(await until(() => ping.replies() >= 3, 5000), 'ping flowing');
      agents[0]!.kill('SIGKILL');
      await new Promise((r) => agents[0]!.once('exit', r));
      const n = ping.replies();
      await new Promise((r) => setTimeout(r, 3000));
      assert.ok(ping.replies() >= n + 10, `traffic flows without the agent (${ping.replies() - n} replies in 3 s)`);
      startAgent(0);
      // the restarted agent reports (heartbeat) and applies; give it a few polls
      await new Promise((r) => setTimeout(r, 4000));
      const m = ping.replies();
      await new Promise((r) => setTimeout(r, 1000));
      assert.ok(ping.replies() > m, 'still flowing after the restart');
      assert.deepEqual(ifindexes(hosts[0]!.ns), before, 'no device recreated on the host');
      assert.deepEqual(ifindexes(dhcpNs), dhcpBefore, 'nor in the DHCP namespace');
      assert.equal(sh(['ip', 'netns', 'pids', dhcpNs]).trim(), dnsmasqPid, 'dnsmasq kept');
      assert.equal(await portStatus(ports[0]!.id), 'ACTIVE');
    } finally {
      ping.stop();
    }
  });
});
