/**
 * DHCP of a host, multi-host as #13 wants it: per network with a local DHCP port a namespace
 * `qdhcp-<network>` whose `ns-<port>` interface (the veth peer of the port's tap on the
 * network's bridge) holds the DHCP port's addresses (+ 169.254.169.254/32 for the metadata
 * proxy), and a dnsmasq in it leasing only this host's ports (static `dhcp-host` entries, ranges
 * `static`): options router, dns, mtu (26), classless static routes (121, with the metadata
 * route and the default route, since a client that takes 121 ignores option 3). A change of
 * hosts or options is a SIGHUP (dnsmasq re-reads both files); a change of its command line a
 * restart; a namespace already right is left alone (an agent restart changes nothing).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { isIP } from 'node:net';
import type { HostDhcp, HostNetwork, HostSubnet } from './host-state.js';
import { parseCidr } from './host-state.js';
import { isUp, listLinks } from './links.js';
import { bridgeName, dhcpInterfaceName, dhcpNamespace, tapName } from './names.js';
import { netnsPath, type CommandRunner } from './runner.js';

export const METADATA_IP = '169.254.169.254';

/** Where the metadata proxy of a DHCP namespace comes from (src/netagent/metadata-proxy-command.ts); null = none. */
export type MetadataProxyCommand = (ctx: {
  networkId: string;
  namespace: string;
  namespacePath: string;
  /** The DHCP port's IPv4 address (the proxy listens on 169.254.169.254:80 in the namespace). */
  dhcpIp: string;
  stateDir: string;
}) => string[] | null;

export interface DhcpOptions {
  /** Root of the agent's state (dhcp/<network>/ holds dnsmasq's files). */
  stateDir: string;
  /** Prepended to namespace names (several simulated hosts on one machine); '' on a real host. */
  namespacePrefix: string;
  leaseSeconds: number;
  metadata: boolean;
  metadataProxy?: MetadataProxyCommand | undefined;
  dnsmasq?: string;
}

interface Files { dir: string; pid: string; hosts: string; opts: string; leases: string; argv: string; proxyPid: string }

const files = (stateDir: string, networkId: string): Files => {
  const dir = join(stateDir, 'dhcp', networkId);
  return { dir, pid: join(dir, 'pid'), hosts: join(dir, 'host'), opts: join(dir, 'opts'), leases: join(dir, 'leases'), argv: join(dir, 'argv'), proxyPid: join(dir, 'metadata-proxy.pid') };
};

function netmask(len: number): string {
  const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 255).join('.');
}
function networkAddress(ip: string, len: number): string {
  const n = ip.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
  const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const v = (n & m) >>> 0;
  return [24, 16, 8, 0].map((s) => (v >>> s) & 255).join('.');
}
const tagOf = (subnetId: string) => `subnet-${subnetId}`;

/** dnsmasq's hosts and options files (pure, tested). */
export function dnsmasqFiles(d: HostDhcp, subnets: readonly HostSubnet[], mtu: number, metadata: boolean): { hosts: string; opts: string } {
  const dhcpIps = new Map(d.port.fixed_ips.map((f) => [f.subnet_id, f.ip_address]));
  const v4 = subnets.filter((s) => s.ip_version === 4 && s.enable_dhcp && dhcpIps.has(s.id));
  const inV4 = (ip: string) => isIP(ip) === 4;
  const hosts = d.hosts
    .filter((h) => inV4(h.ip_address))
    .map((h) => `${h.mac_address},${h.hostname ?? `host-${h.ip_address.replace(/\./g, '-')}`},${h.ip_address}`)
    .sort();
  const opts: string[] = [];
  for (const s of v4) {
    const t = tagOf(s.id);
    const routes: string[] = [];
    for (const r of s.host_routes) if (parseCidr(r.destination)?.[2] === 4 && isIP(r.nexthop) === 4) routes.push(`${r.destination},${r.nexthop}`);
    if (metadata && !s.host_routes.some((r) => r.destination === `${METADATA_IP}/32`)) routes.push(`${METADATA_IP}/32,${dhcpIps.get(s.id)}`);
    if (s.gateway_ip) {
      opts.push(`tag:${t},option:router,${s.gateway_ip}`);
      if (!s.host_routes.some((r) => r.destination === '0.0.0.0/0')) routes.push(`0.0.0.0/0,${s.gateway_ip}`);
    } else opts.push(`tag:${t},option:router`);
    if (routes.length > 0) opts.push(`tag:${t},option:classless-static-route,${routes.join(',')}`);
    const dns = s.dns_nameservers.filter(inV4);
    if (dns.length > 0) opts.push(`tag:${t},option:dns-server,${dns.join(',')}`);
    opts.push(`tag:${t},option:mtu,${mtu}`);
  }
  return { hosts: hosts.join('\n') + (hosts.length ? '\n' : ''), opts: opts.join('\n') + (opts.length ? '\n' : '') };
}

function dnsmasqArgv(bin: string, f: Files, iface: string, subnets: readonly HostSubnet[], leaseSeconds: number, hostCount: number): string[] {
  const argv = [bin, '--no-hosts', '--no-resolv', '--conf-file=/dev/null', '--port=0', '--bind-interfaces', `--interface=${iface}`, '--except-interface=lo',
    `--pid-file=${f.pid}`, `--dhcp-hostsfile=${f.hosts}`, `--dhcp-optsfile=${f.opts}`, `--dhcp-leasefile=${f.leases}`,
    '--dhcp-authoritative', `--dhcp-lease-max=${Math.max(16, hostCount * 2)}`];
  for (const s of subnets) {
    const c = parseCidr(s.cidr)!;
    argv.push(`--dhcp-range=set:${tagOf(s.id)},${networkAddress(c[0], c[1])},static,${netmask(c[1])},${leaseSeconds}s`);
  }
  return argv;
}

function pidAlive(pidFile: string, expect: string): number | null {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 1) return null;
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes(expect) ? pid : null;
  } catch {
    return null;
  }
}

function killPid(pidFile: string, expect: string): void {
  const pid = pidAlive(pidFile, expect);
  if (pid !== null) try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
}

/** The metadata proxy's pid if it still runs the command we started (its last argument in its command line). */
function proxyAlive(f: Files): number | null {
  let key = '';
  try { key = readFileSync(`${f.proxyPid}.argv`, 'utf8'); } catch { return null; }
  const last = key.split('\0').pop() ?? '';
  return last === '' ? null : pidAlive(f.proxyPid, last);
}

function stopProxy(f: Files): void {
  const pid = proxyAlive(f);
  if (pid !== null) try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
  rmSync(f.proxyPid, { force: true });
  rmSync(`${f.proxyPid}.argv`, { force: true });
}

const writeIfChanged = (path: string, text: string): boolean => {
  let old: string | null = null;
  try { old = readFileSync(path, 'utf8'); } catch { /* new */ }
  if (old === text) return false;
  writeFileSync(path, text, { mode: 0o644 });
  return true;
};

async function waitFor(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return pred();
}

/** Converges the DHCP namespaces of the host; `host` runs in the host's namespace, `root` in the agent's own. */
export async function syncDhcp(host: CommandRunner, root: CommandRunner, dhcp: readonly HostDhcp[], networks: ReadonlyMap<string, HostNetwork>,
  subnetsOf: ReadonlyMap<string, HostSubnet[]>, opts: DhcpOptions, problems: string[]): Promise<void> {
  mkdirSync(join(opts.stateDir, 'dhcp'), { recursive: true, mode: 0o755 });
  chmodSync(opts.stateDir, 0o755);
  chmodSync(join(opts.stateDir, 'dhcp'), 0o755);
  const wanted = new Set<string>();
  for (const d of dhcp) {
    const n = networks.get(d.network_id);
    if (!n) continue;
    const subnets = (subnetsOf.get(n.id) ?? []).filter((s) => s.ip_version === 4 && s.enable_dhcp && d.port.fixed_ips.some((f) => f.subnet_id === s.id));
    if (subnets.length === 0) continue;
    const ns = dhcpNamespace(n.id, opts.namespacePrefix);
    wanted.add(ns);
    try {
      await syncOne(host, root, d, n, subnets, ns, opts);
    } catch (e) {
      problems.push(`dhcp of network ${n.id}: ${(e as Error).message}`);
    }
  }
  // Namespaces of ours no longer wanted: their dnsmasq and proxy stopped, the namespace (and so
  // its veth pair) deleted, the files removed. Only names with our prefix and `qdhcp-` qualify.
  const mine = `${opts.namespacePrefix}qdhcp-`;
  let present: string[] = [];
  try { present = readdirSync('/run/netns'); } catch { /* none */ }
  for (const ns of present) {
    if (!ns.startsWith(mine) || wanted.has(ns)) continue;
    const networkId = ns.slice(mine.length);
    const f = files(opts.stateDir, networkId);
    killPid(f.pid, f.pid);
    stopProxy(f);
    await root.tryRun('ip', ['netns', 'del', ns]);
    rmSync(f.dir, { recursive: true, force: true });
  }
}

async function syncOne(host: CommandRunner, root: CommandRunner, d: HostDhcp, n: HostNetwork, subnets: HostSubnet[], ns: string, opts: DhcpOptions): Promise<void> {
  const nsPath = netnsPath(ns);
  const inNs = root.inNetns(nsPath);
  if (!existsSync(nsPath)) {
    await root.run('ip', ['netns', 'add', ns]);
    await inNs.run('ip', ['link', 'set', 'dev', 'lo', 'up']);
  }
  const iface = dhcpInterfaceName(d.port.id);
  const tap = tapName(d.port.id);
  const br = bridgeName(n.id);
  const hostLinks = await listLinks(host);
  let nsLinks = await listLinks(inNs);
  if (!nsLinks.has(iface) || !hostLinks.has(tap)) {
    if (hostLinks.has(tap)) await host.run('ip', ['link', 'del', 'dev', tap]);
    if (nsLinks.has(iface)) await inNs.run('ip', ['link', 'del', 'dev', iface]);
    await host.run('ip', ['link', 'add', 'name', tap, 'mtu', String(n.mtu), 'type', 'veth', 'peer', 'name', iface, 'mtu', String(n.mtu), 'address', d.port.mac_address, 'netns', ns]);
    nsLinks = await listLinks(inNs);
  }
  const tl = (await listLinks(host)).get(tap)!;
  if (tl.master !== br) await host.run('ip', ['link', 'set', 'dev', tap, 'master', br]);
  if (tl.mtu !== n.mtu) await host.run('ip', ['link', 'set', 'dev', tap, 'mtu', String(n.mtu)]);
  if (!isUp(tl)) await host.run('ip', ['link', 'set', 'dev', tap, 'up']);
  const il = nsLinks.get(iface)!;
  if (il.address !== d.port.mac_address) await inNs.run('ip', ['link', 'set', 'dev', iface, 'address', d.port.mac_address]);
  if (il.mtu !== n.mtu) await inNs.run('ip', ['link', 'set', 'dev', iface, 'mtu', String(n.mtu)]);
  if (!isUp(il)) await inNs.run('ip', ['link', 'set', 'dev', iface, 'up']);

  // Addresses: the DHCP port's (with its subnet's prefix length) and the metadata address.
  const want = new Set<string>();
  for (const f of d.port.fixed_ips) {
    const s = subnets.find((x) => x.id === f.subnet_id);
    if (s) want.add(`${f.ip_address}/${parseCidr(s.cidr)![1]}`);
  }
  const dhcpIp = d.port.fixed_ips.find((f) => subnets.some((s) => s.id === f.subnet_id))!.ip_address;
  if (opts.metadata) want.add(`${METADATA_IP}/32`);
  const addrs = await inNs.ipJson<{ addr_info?: Array<{ local: string; prefixlen: number; family: string; scope: string }> }>(['addr', 'show', 'dev', iface]);
  const have = new Set((addrs[0]?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`));
  for (const a of want) if (!have.has(a)) await inNs.run('ip', ['addr', 'add', a, 'dev', iface]);
  for (const a of have) if (!want.has(a)) await inNs.run('ip', ['addr', 'del', a, 'dev', iface]);

  // dnsmasq.
  const f = files(opts.stateDir, n.id);
  mkdirSync(f.dir, { recursive: true, mode: 0o755 });
  chmodSync(f.dir, 0o755);
  const content = dnsmasqFiles(d, subnets, n.mtu, opts.metadata);
  const argv = dnsmasqArgv(opts.dnsmasq ?? 'dnsmasq', f, iface, subnets, opts.leaseSeconds, d.hosts.length);
  const changed = [writeIfChanged(f.hosts, content.hosts), writeIfChanged(f.opts, content.opts)].some(Boolean);
  const argvText = argv.join('\0');
  let oldArgv = '';
  try { oldArgv = readFileSync(f.argv, 'utf8'); } catch { /* first start */ }
  const pid = pidAlive(f.pid, f.pid);
  if (pid !== null && oldArgv === argvText) {
    if (changed) process.kill(pid, 'SIGHUP');
  } else {
    if (pid !== null) {
      process.kill(pid, 'SIGTERM');
      await waitFor(() => pidAlive(f.pid, f.pid) === null, 3000);
    }
    writeFileSync(f.argv, argvText);
    rmSync(f.pid, { force: true });
    await inNs.run(argv[0]!, argv.slice(1)); // dnsmasq daemonizes once it has bound and written its pid file
    if (!(await waitFor(() => pidAlive(f.pid, f.pid) !== null, 3000))) throw new Error('dnsmasq did not start');
  }

  // The metadata proxy (src/netagent/metadata-proxy-command.ts), kept running while its command line is the same.
  const proxyArgv = opts.metadata && opts.metadataProxy
    ? opts.metadataProxy({ networkId: n.id, namespace: ns, namespacePath: nsPath, dhcpIp, stateDir: f.dir })
    : null;
  if (proxyArgv && proxyArgv.length > 0) {
    const full = proxyArgv[0] === 'nsenter' ? proxyArgv : inNs.argv(proxyArgv[0]!, proxyArgv.slice(1));
    const key = full.join('\0');
    let oldKey = '';
    try { oldKey = readFileSync(`${f.proxyPid}.argv`, 'utf8'); } catch { /* first start */ }
    const alive = proxyAlive(f);
    if (alive === null || oldKey !== key) {
      if (alive !== null) try { process.kill(alive, 'SIGTERM'); } catch { /* gone */ }
      const child = spawn(full[0]!, full.slice(1), { detached: true, stdio: 'ignore' });
      child.unref();
      if (child.pid) {
        writeFileSync(f.proxyPid, String(child.pid));
        writeFileSync(`${f.proxyPid}.argv`, key);
      }
    }
  } else stopProxy(f);
}
