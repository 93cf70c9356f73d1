/**
 * Security groups and anti-spoofing in the host's kernel, as Neutron's iptables firewall driver
 * does it for linuxbridge: bridged IPv4/IPv6 goes through the inet forward hooks (br_netfilter,
 * `bridge-nf-call-ip(6)tables` on in the host's namespace) where `-m physdev` names the tap and
 * conntrack works (the bridge family has no conntrack on this kernel: measured). Per filtered port
 * (a `compute:*` port with port security) three chains: ingress `orrery-i<port10>`, egress
 * `orrery-o<port10>`, source check `orrery-s<port10>` (its MAC with its fixed IPs and allowed
 * address pairs only). DHCP to the port and from its client side, and IPv6 neighbour discovery,
 * are allowed; a guest acting as DHCP server or IPv6 router is not. The whole set is replaced in
 * one iptables-restore transaction (--noflush: nothing but Orrery's chains is touched). Each
 * network's bridged traffic is tracked in its own conntrack zone (raw PREROUTING `-i brq…`).
 */
import type { HostNetwork, HostPort, HostSecurityGroup, SecurityGroupRule } from './host-state.js';
import { createHash } from 'node:crypto';
import { parseCidr } from './host-state.js';
import { isIP } from 'node:net';
import { bridgeName, tapName } from './names.js';
import type { CommandRunner } from './runner.js';

export const SG_CHAIN = 'orrery-sg-chain';
export const ZONE_CHAIN = 'orrery-ct-zones';

/**
 * The conntrack zone of a network's traffic on this host (Neutron's per-network zones): two
 * projects' networks may use the same addresses, and a flow of one must never make a packet of
 * the other ESTABLISHED. A VXLAN network's VNI when it fits the 16 bits, else a hash into
 * 60001–65535 (a collision only merges two networks' tracking, as without zones).
 */
export function conntrackZone(n: Pick<HostNetwork, 'id' | 'network_type' | 'segmentation_id'>): number {
  if (n.network_type === 'vxlan' && n.segmentation_id !== null && n.segmentation_id > 0 && n.segmentation_id <= 60000) return n.segmentation_id;
  return 60001 + (createHash('sha1').update(n.id).digest().readUInt32BE(0) % 5535);
}

/** The raw table's zone assignment: every packet bridged by a network's bridge is tracked in its zone. */
export function zoneRules(networks: readonly HostNetwork[]): string {
  const lines = ['*raw', `:${ZONE_CHAIN} - [0:0]`];
  for (const n of networks) lines.push(`-A ${ZONE_CHAIN} -i ${bridgeName(n.id)} -j CT --zone ${conntrackZone(n)}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}
const FALLBACK = 'orrery-sg-fallback';
const PREFIX = 'orrery-';

const PROTOCOL_NAMES: Record<string, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 33: 'dccp', 58: 'ipv6-icmp', 132: 'sctp', 136: 'udplite' };
const WITH_PORTS = new Set(['tcp', 'udp', 'sctp', 'dccp', 'udplite']);

/** A port the firewall filters: a guest port (not one of the network's own) with port security. */
export const filtered = (p: HostPort): boolean => p.port_security_enabled && !p.device_owner.startsWith('network:');

const chainIds = (p: HostPort) => {
  const k = p.id.replace(/-/g, '').slice(0, 10);
  return { i: `${PREFIX}i${k}`, o: `${PREFIX}o${k}`, s: `${PREFIX}s${k}` };
};

/** iptables match arguments of one rule (without the jump), or [] entries per remote member. */
export function ruleMatches(rule: SecurityGroupRule, family: 4 | 6, groups: ReadonlyMap<string, HostSecurityGroup>): string[] {
  if ((rule.ethertype === 'IPv4' ? 4 : 6) !== family) return [];
  const out: string[] = [];
  let proto = rule.protocol === null || rule.protocol === 'any' ? null : rule.protocol.toLowerCase();
  if (proto !== null && /^\d+$/.test(proto)) proto = PROTOCOL_NAMES[proto] ?? proto;
  if (proto === 'icmp' && family === 6) proto = 'ipv6-icmp';
  if (proto === 'icmpv6') proto = 'ipv6-icmp';
  if (proto === 'ipv6-icmp' && family === 4) return [];
  let p = '';
  if (proto !== null) {
    p = `-p ${proto}`;
    const lo = rule.port_range_min;
    const hi = rule.port_range_max;
    if (WITH_PORTS.has(proto) && lo !== null) p += ` -m ${proto} --dport ${hi !== null && hi !== lo ? `${lo}:${hi}` : lo}`;
    else if (proto === 'icmp' && lo !== null) p += ` -m icmp --icmp-type ${lo}${hi !== null ? `/${hi}` : ''}`;
    else if (proto === 'ipv6-icmp' && lo !== null) p += ` -m icmp6 --icmpv6-type ${lo}${hi !== null ? `/${hi}` : ''}`;
  }
  const dir = rule.direction === 'ingress' ? '-s' : '-d';
  const remotes: Array<string | null> = [];
  if (rule.remote_group_id !== null) {
    const g = groups.get(rule.remote_group_id);
    for (const ip of g?.member_ips ?? []) if (isIP(ip) === family) remotes.push(`${ip}/${family === 4 ? 32 : 128}`);
  } else if (rule.remote_ip_prefix !== null) {
    const c = parseCidr(rule.remote_ip_prefix);
    if (c && c[2] === family && c[1] !== 0) remotes.push(rule.remote_ip_prefix);
    else if (c && c[2] === family) remotes.push(null);
  } else remotes.push(null);
  for (const r of remotes) out.push([r === null ? '' : `${dir} ${r}`, p].filter(Boolean).join(' '));
  return out;
}

export interface PortRules {
  /** The accepting rule lines of the port's chains (compared to see whether its rules shrank). */
  accepts: Set<string>;
}

/** The iptables-restore input for one family (pure, tested) and the accepting rules per port. */
export function firewallRules(ports: readonly HostPort[], groups: ReadonlyMap<string, HostSecurityGroup>, family: 4 | 6,
  staleChains: readonly string[]): { text: string; perPort: Map<string, PortRules> } {
  const decl: string[] = [`:${SG_CHAIN} - [0:0]`, `:${FALLBACK} - [0:0]`];
  const body: string[] = [`-A ${FALLBACK} -j DROP`];
  const perPort = new Map<string, PortRules>();
  for (const p of ports.filter(filtered)) {
    const c = chainIds(p);
    const tap = tapName(p.id);
    decl.push(`:${c.i} - [0:0]`, `:${c.o} - [0:0]`, `:${c.s} - [0:0]`);
    body.push(`-A ${SG_CHAIN} -m physdev --physdev-out ${tap} --physdev-is-bridged -j ${c.i}`);
    body.push(`-A ${SG_CHAIN} -m physdev --physdev-in ${tap} --physdev-is-bridged -j ${c.o}`);
    const pg = p.security_group_ids.map((id) => groups.get(id)).filter((g): g is HostSecurityGroup => g !== undefined);
    // Neutron forbids mixing: one stateless group makes the port stateless.
    const stateful = pg.every((g) => g.stateful);
    const accepts = new Set<string>();
    const ingress: string[] = [];
    const egress: string[] = [];
    for (const g of pg) for (const r of g.rules) {
      for (const m of ruleMatches(r, family, groups)) (r.direction === 'ingress' ? ingress : egress).push(m);
    }
    // ingress
    if (stateful) body.push(`-A ${c.i} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`);
    if (family === 4) body.push(`-A ${c.i} -p udp -m udp --sport 67 --dport 68 -j RETURN`);
    else {
      for (const t of [130, 131, 132, 134, 135, 136, 143]) body.push(`-A ${c.i} -p ipv6-icmp -m icmp6 --icmpv6-type ${t} -j RETURN`);
      body.push(`-A ${c.i} -p udp -m udp --sport 547 --dport 546 -j RETURN`);
    }
    for (const m of new Set(ingress)) {
      body.push(`-A ${c.i} ${m} -j RETURN`.replace(/ {2,}/g, ' '));
      accepts.add(`i ${m}`);
    }
    if (stateful) body.push(`-A ${c.i} -m conntrack --ctstate INVALID -j DROP`);
    body.push(`-A ${c.i} -j ${FALLBACK}`);
    // egress
    if (family === 4) body.push(`-A ${c.o} -s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -j RETURN`);
    else for (const t of [131, 135, 143]) body.push(`-A ${c.o} -s ::/128 -d ff02::/16 -p ipv6-icmp -m icmp6 --icmpv6-type ${t} -j RETURN`);
    body.push(`-A ${c.o} -j ${c.s}`);
    if (family === 4) {
      body.push(`-A ${c.o} -p udp -m udp --sport 68 --dport 67 -j RETURN`);
      body.push(`-A ${c.o} -p udp -m udp --sport 67 --dport 68 -j DROP`);
    } else {
      body.push(`-A ${c.o} -p ipv6-icmp -m icmp6 --icmpv6-type 134 -j DROP`);
      for (const t of [130, 131, 132, 133, 135, 136, 143]) body.push(`-A ${c.o} -p ipv6-icmp -m icmp6 --icmpv6-type ${t} -j RETURN`);
      body.push(`-A ${c.o} -p udp -m udp --sport 546 --dport 547 -j RETURN`);
      body.push(`-A ${c.o} -p udp -m udp --sport 547 --dport 546 -j DROP`);
    }
    if (stateful) body.push(`-A ${c.o} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`);
    for (const m of new Set(egress)) {
      body.push(`-A ${c.o} ${m} -j RETURN`.replace(/ {2,}/g, ' '));
      accepts.add(`o ${m}`);
    }
    if (stateful) body.push(`-A ${c.o} -m conntrack --ctstate INVALID -j DROP`);
    body.push(`-A ${c.o} -j ${FALLBACK}`);
    // source check: the port's MAC with its own addresses and its allowed address pairs
    const pairs: Array<[string, string]> = [];
    for (const f of p.fixed_ips) if (isIP(f.ip_address) === family) pairs.push([`${f.ip_address}/${family === 4 ? 32 : 128}`, p.mac_address]);
    if (family === 6) pairs.push(['fe80::/64', p.mac_address]);
    for (const a of p.allowed_address_pairs) {
      const c2 = parseCidr(a.ip_address);
      const ok = c2 ? c2[2] === family : isIP(a.ip_address) === family;
      if (ok) pairs.push([a.ip_address.includes('/') ? a.ip_address : `${a.ip_address}/${family === 4 ? 32 : 128}`, (a.mac_address ?? p.mac_address).toLowerCase()]);
    }
    for (const [ip, mac] of pairs) body.push(`-A ${c.s} -s ${ip} -m mac --mac-source ${mac} -j RETURN`);
    body.push(`-A ${c.s} -j DROP`);
    perPort.set(p.id, { accepts });
  }
  body.push(`-A ${SG_CHAIN} -j ACCEPT`);
  const wanted = new Set(decl.map((d) => d.slice(1).split(' ')[0]!));
  const stale = staleChains.filter((s) => s.startsWith(PREFIX) && !wanted.has(s));
  const text = ['*filter', ...decl, ...stale.map((s) => `-F ${s}`), ...body, ...stale.map((s) => `-X ${s}`), 'COMMIT', ''].join('\n');
  return { text, perPort };
}

/** Names of Orrery's chains in the filter table now. */
async function chainsNow(r: CommandRunner, cmd: string): Promise<string[]> {
  const out = await r.run(cmd, ['-w', '-S']);
  return out.split('\n').filter((l) => l.startsWith(`-N ${PREFIX}`)).map((l) => l.slice(3).trim());
}

/**
 * Applies the firewall of the host's ports. `previous` (the last apply's accepting rules per port,
 * null after a restart) decides whose conntrack entries to delete: a port whose rules shrank
 * loses its tracked flows, so a flow already under way is judged again by the new rules.
 */
export async function syncSecurityGroups(r: CommandRunner, ports: readonly HostPort[], groups: ReadonlyMap<string, HostSecurityGroup>,
  networks: ReadonlyMap<string, HostNetwork>, previous: Map<string, PortRules> | null, problems: string[]): Promise<Map<string, PortRules>> {
  await r.tryRun('sysctl', ['-q', '-w', 'net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1']);
  const result = new Map<string, PortRules>();
  for (const [family, cmd] of [[4, 'iptables'], [6, 'ip6tables']] as const) {
    try {
      const stale = await chainsNow(r, cmd);
      const { text, perPort } = firewallRules(ports, groups, family, stale);
      await r.run(`${cmd}-restore`, ['-w', '--noflush'], { input: text + zoneRules([...networks.values()]) });
      const jump = await r.tryRun(cmd, ['-w', '-C', 'FORWARD', '-j', SG_CHAIN]);
      if (jump.code !== 0) await r.run(cmd, ['-w', '-I', 'FORWARD', '1', '-j', SG_CHAIN]);
      const zones = await r.tryRun(cmd, ['-w', '-t', 'raw', '-C', 'PREROUTING', '-j', ZONE_CHAIN]);
      if (zones.code !== 0) await r.run(cmd, ['-w', '-t', 'raw', '-I', 'PREROUTING', '1', '-j', ZONE_CHAIN]);
      for (const [id, pr] of perPort) {
        const acc = result.get(id)?.accepts ?? new Set<string>();
        for (const a of pr.accepts) acc.add(`${family} ${a}`);
        result.set(id, { accepts: acc });
      }
    } catch (e) {
      problems.push(`${cmd}: ${(e as Error).message}`);
    }
  }
  if (previous) {
    for (const p of ports.filter(filtered)) {
      const before = previous.get(p.id);
      const now = result.get(p.id);
      if (!before || !now) continue;
      const shrank = [...before.accepts].some((a) => !now.accepts.has(a));
      if (!shrank) continue;
      const n = networks.get(p.network_id);
      const zone = n ? ['-w', String(conntrackZone(n))] : [];
      for (const f of p.fixed_ips) {
        const fam = ['-f', isIP(f.ip_address) === 6 ? 'ipv6' : 'ipv4'];
        // exit 1 = nothing to delete
        await r.tryRun('conntrack', ['-D', ...fam, ...zone, '-d', f.ip_address]);
        await r.tryRun('conntrack', ['-D', ...fam, ...zone, '-s', f.ip_address]);
      }
    }
  }
  return result;
}

/** Removes every chain of Orrery's and the FORWARD jump (the agent's teardown of a host). */
export async function removeSecurityGroups(r: CommandRunner): Promise<void> {
  for (const cmd of ['iptables', 'ip6tables']) {
    await r.tryRun(cmd, ['-w', '-D', 'FORWARD', '-j', SG_CHAIN]);
    await r.tryRun(cmd, ['-w', '-t', 'raw', '-D', 'PREROUTING', '-j', ZONE_CHAIN]);
    await r.tryRun(cmd, ['-w', '-t', 'raw', '-F', ZONE_CHAIN]);
    await r.tryRun(cmd, ['-w', '-t', 'raw', '-X', ZONE_CHAIN]);
    const chains = await chainsNow(r, cmd).catch(() => [] as string[]);
    if (chains.length === 0) continue;
    await r.tryRun(`${cmd}-restore`, ['-w', '--noflush'], { input: ['*filter', ...chains.map((c) => `-F ${c}`), ...chains.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n') });
  }
}
