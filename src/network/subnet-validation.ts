import {
  cidrContains, cidrsOverlap, defaultPools, formatCidr, formatIp, lastOf, parseCidr, parseIp, type Cidr, type IpRange,
} from './ip.js';
import { conflict, invalidInput } from './common.js';

/**
 * Neutron's checks of a subnet's addressing: the CIDR (its version, no host bits), the gateway
 * (inside, not the network or broadcast address, not in a pool), the allocation pools (inside,
 * disjoint, computed from the CIDR minus the gateway when not given), DNS servers and host routes.
 */

export const MAX_DNS_NAMESERVERS = 5;
export const MAX_HOST_ROUTES = 20;
export const MAX_POOLS = 64;

export interface Pool { start: string; end: string }
export interface HostRoute { destination: string; nexthop: string }

export function checkCidr(text: string, version: number): Cidr {
  const c = parseCidr(text);
  if (!c) throw invalidInput(`'${text}' is not a valid IP subnet`);
  if (c.version !== version) throw invalidInput(`Cidr ${text} does not support ip_version ${version}`);
  if (c.host) throw invalidInput(`'${text}' isn't a recommended CIDR, it should be '${formatCidr(c)}'`);
  // A /0 covers everything: Neutron refuses it for a subnet (and its pools would be unbounded).
  if (c.prefix === 0) throw invalidInput(`0 is not allowed as CIDR prefix length`);
  return c;
}

/** The gateway as stored (canonical text, or null for none). `undefined` asks for the default: the first address. */
export function checkGateway(c: Cidr, given: string | null | undefined): bigint | null {
  if (given === null) return null;
  if (given === undefined) {
    const last = lastOf(c);
    const first = c.network + 1n;
    return first <= last ? first : null;
  }
  const ip = parseIp(given);
  if (!ip || ip.version !== c.version) throw invalidInput(`'${given}' is not a valid IP address`);
  if (!cidrContains(c, ip)) throw invalidInput(`Gateway ip ${given} is not in subnet ${formatCidr(c)}`);
  if (c.version === 4 && c.prefix < 31 && (ip.value === c.network || ip.value === lastOf(c))) {
    throw invalidInput(`Gateway ip ${given} conflicts with the network or broadcast address of ${formatCidr(c)}`);
  }
  return ip.value;
}

export function checkPools(c: Cidr, gateway: bigint | null, given: readonly Pool[] | undefined): IpRange[] {
  if (given === undefined) return defaultPools(c, gateway);
  if (given.length > MAX_POOLS) throw invalidInput(`at most ${MAX_POOLS} allocation pools`);
  const ranges: IpRange[] = given.map((p) => {
    const s = parseIp(p.start);
    const e = parseIp(p.end);
    if (!s || !e || s.version !== c.version || e.version !== c.version) {
      throw invalidInput(`The allocation pool ${p.start}-${p.end} is not valid`);
    }
    if (s.value > e.value) throw invalidInput(`The allocation pool ${p.start}-${p.end} is not valid`);
    if (!cidrContains(c, s) || !cidrContains(c, e)) {
      throw invalidInput(`The allocation pool ${p.start}-${p.end} spans beyond the subnet cidr ${formatCidr(c)}`);
    }
    return { version: c.version, start: s.value, end: e.value };
  });
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : 1));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.start <= sorted[i - 1]!.end) throw invalidInput(`Found overlapping allocation pools: ${fmt(sorted[i - 1]!)} and ${fmt(sorted[i]!)}`);
  }
  if (gateway !== null) {
    const hit = ranges.find((r) => r.start <= gateway && gateway <= r.end);
    if (hit) {
      throw conflict('GatewayConflictWithAllocationPools',
        `Gateway ip ${formatIp({ version: c.version, value: gateway })} conflicts with allocation pool ${fmt(hit)}`);
    }
  }
  return ranges;
}

const fmt = (r: IpRange): string => `${formatIp({ version: r.version, value: r.start })}-${formatIp({ version: r.version, value: r.end })}`;

export const poolsJson = (ranges: readonly IpRange[]): Pool[] =>
  ranges.map((r) => ({ start: formatIp({ version: r.version, value: r.start }), end: formatIp({ version: r.version, value: r.end }) }));

export function poolsFromJson(version: 4 | 6, pools: readonly Pool[]): IpRange[] {
  return pools.map((p) => ({ version, start: parseIp(p.start)!.value, end: parseIp(p.end)!.value }));
}

export function checkDns(version: number, servers: readonly string[]): string[] {
  if (servers.length > MAX_DNS_NAMESERVERS) {
    throw conflict('DNSNameServersExhausted', `Unable to complete operation for subnet. The number of DNS nameservers exceeds the limit ${MAX_DNS_NAMESERVERS}.`);
  }
  const out: string[] = [];
  for (const s of servers) {
    const ip = parseIp(s);
    if (!ip) throw invalidInput(`'${s}' is not a valid nameserver. '${s}' is not a valid IP address`);
    if (ip.version !== version) throw invalidInput(`'${s}' is not a valid nameserver for an IPv${version} subnet`);
    const t = formatIp(ip);
    if (out.includes(t)) throw invalidInput(`Duplicate nameserver '${s}'`);
    out.push(t);
  }
  return out;
}

export function checkRoutes(version: number, routes: readonly HostRoute[]): HostRoute[] {
  if (routes.length > MAX_HOST_ROUTES) {
    throw conflict('HostRoutesExhausted', `Unable to complete operation for subnet. The number of host routes exceeds the limit ${MAX_HOST_ROUTES}.`);
  }
  const out: HostRoute[] = [];
  for (const r of routes) {
    const d = parseCidr(r.destination);
    const n = parseIp(r.nexthop);
    if (!d || d.host || !n || d.version !== version || n.version !== version) {
      throw invalidInput(`Invalid route: destination ${r.destination}, nexthop ${r.nexthop}`);
    }
    const route = { destination: formatCidr(d), nexthop: formatIp(n) };
    if (out.some((o) => o.destination === route.destination && o.nexthop === route.nexthop)) throw invalidInput(`Duplicate hostroute '${route.destination}'`);
    out.push(route);
  }
  return out;
}

/** Refuses a CIDR overlapping another subnet of the same network (Neutron's check when overlapping IPs are on). */
export function checkNoOverlap(c: Cidr, networkId: string, others: ReadonlyArray<{ cidr: string }>): void {
  for (const o of others) {
    const oc = parseCidr(o.cidr);
    if (oc && cidrsOverlap(c, oc)) {
      throw invalidInput(`Requested subnet with cidr: ${formatCidr(c)} for network: ${networkId} overlaps with another subnet`);
    }
  }
}
