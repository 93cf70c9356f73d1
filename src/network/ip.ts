import { isIP } from 'node:net';

/**
 * IP addresses and prefixes as numbers (bigint, so IPv4 and IPv6 share one arithmetic): what
 * subnet validation, allocation pools and the IPAM compute with.
 */

export type IpVersion = 4 | 6;

export interface Ip {
  version: IpVersion;
  value: bigint;
}

export interface Cidr {
  version: IpVersion;
  /** The first address (host bits zero). */
  network: bigint;
  prefix: number;
}

export const bitsOf = (v: IpVersion): number => (v === 4 ? 32 : 128);

/** Parses a textual address (dotted quad, or RFC 4291 IPv6, `::ffff:1.2.3.4` forms included); null when it is none. */
export function parseIp(s: string): Ip | null {
  const version = isIP(s);
  if (version === 4) {
    // node accepts only canonical dotted quads (no leading zeros), so the parts are plain numbers.
    return { version: 4, value: s.split('.').reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n) };
  }
  if (version !== 6 || s.includes('%')) return null;
  let text = s.toLowerCase();
  // An embedded IPv4 tail becomes two hextets.
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const v4 = parseIp(tail[1]!)!.value;
    text = `${text.slice(0, tail.index)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, rest] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return { version: 6, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

/** The canonical text of an address (RFC 5952 for IPv6: lower case, longest zero run as `::`). */
export function formatIp(ip: Ip): string {
  if (ip.version === 4) return [24n, 16n, 8n, 0n].map((s) => String((ip.value >> s) & 0xffn)).join('.');
  const groups = [...Array(8).keys()].map((i) => Number((ip.value >> BigInt((7 - i) * 16)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** The canonical text of a textual address, or null when it is none. */
export function canonicalIp(s: string): string | null {
  const ip = parseIp(s);
  return ip ? formatIp(ip) : null;
}

/** Parses `a.b.c.d/n` or `x::/n`; `host` tells whether host bits were set (Neutron refuses those CIDRs). */
export function parseCidr(s: string): (Cidr & { host: boolean }) | null {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return null;
  const ip = parseIp(m[1]!);
  const prefix = Number(m[2]);
  if (!ip || prefix > bitsOf(ip.version)) return null;
  const network = ip.value & maskOf(ip.version, prefix);
  return { version: ip.version, network, prefix, host: network !== ip.value };
}

export function maskOf(v: IpVersion, prefix: number): bigint {
  const bits = BigInt(bitsOf(v));
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

export const lastOf = (c: Cidr): bigint => c.network | (((1n << BigInt(bitsOf(c.version))) - 1n) & ~maskOf(c.version, c.prefix));

export const formatCidr = (c: Cidr): string => `${formatIp({ version: c.version, value: c.network })}/${c.prefix}`;

export function cidrContains(c: Cidr, ip: Ip): boolean {
  return c.version === ip.version && (ip.value & maskOf(c.version, c.prefix)) === c.network;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.version !== b.version) return false;
  const p = Math.min(a.prefix, b.prefix);
  const m = maskOf(a.version, p);
  return (a.network & m) === (b.network & m);
}

/** An inclusive range of addresses (an allocation pool). */
export interface IpRange {
  version: IpVersion;
  start: bigint;
  end: bigint;
}

/**
 * Neutron's default allocation pools: the subnet minus its network address, its IPv4
 * broadcast address and its gateway (which may split the range in two).
 */
export function defaultPools(c: Cidr, gateway: bigint | null): IpRange[] {
  const first = c.version === 4 && c.prefix < 31 ? c.network + 1n : c.version === 6 && c.prefix < 127 ? c.network + 1n : c.network;
  const last = c.version === 4 && c.prefix < 31 ? lastOf(c) - 1n : lastOf(c);
  if (last < first) return [];
  if (gateway === null || gateway < first || gateway > last) return [{ version: c.version, start: first, end: last }];
  const out: IpRange[] = [];
  if (gateway > first) out.push({ version: c.version, start: first, end: gateway - 1n });
  if (gateway < last) out.push({ version: c.version, start: gateway + 1n, end: last });
  return out;
}

export const rangeSize = (r: IpRange): bigint => r.end - r.start + 1n;
