import type { Db } from '../db/connection.js';
import { claimAddress, usedAddresses, type FixedIp } from '../db/network-ports.js';
import type { SubnetRow } from '../db/network-subnets.js';
import { badRequest, conflict, invalidInput, json } from './common.js';
import { cidrContains, formatIp, parseCidr, parseIp } from './ip.js';
import { poolsFromJson, type Pool } from './subnet-validation.js';

/**
 * The IPAM: which addresses a port gets. Requests name a subnet, an address, or both; a port
 * without requests gets one address from the network's first IPv4 subnet that has one free and,
 * per IPv6 subnet, a SLAAC (EUI-64) address or, for DHCPv6, the next free one (Neutron's way).
 * Every address is claimed through the ip_allocations primary key (claimAddress): a lost race
 * re-reads the subnet's used addresses and tries the next free one, so no address is handed
 * out twice whatever the concurrency, and an exhausted pool is 409 IpAddressGenerationFailure.
 */

export interface IpRequest {
  subnet_id?: string;
  ip_address?: string;
}

/** Claims tried per subnet before giving up (each lost race costs one). */
const MAX_ATTEMPTS = 512;
/** Free candidates a claim picks among at random, so concurrent creates mostly try different ones. */
const SPREAD = 8;

const exhausted = (networkId: string) => conflict('IpAddressGenerationFailure', `No more IP addresses available on network ${networkId}.`);
const inUse = (networkId: string, ip: string) =>
  conflict('IpAddressInUse', `Unable to complete operation for network ${networkId}. The IP address ${ip} is in use.`);

/** The first free addresses of a subnet's pools (at most `n`), skipping `used`. */
function freeCandidates(subnet: SubnetRow, used: ReadonlySet<string>, n: number): string[] {
  const version = subnet.ip_version as 4 | 6;
  const out: string[] = [];
  for (const r of poolsFromJson(version, json<Pool[]>(subnet.allocation_pools))) {
    // Walking a pool costs one step per used address at most before a free one turns up.
    for (let v = r.start; v <= r.end && out.length < n; v++) {
      const t = formatIp({ version, value: v });
      if (!used.has(t)) out.push(t);
    }
    if (out.length >= n) break;
  }
  return out;
}

/** EUI-64 SLAAC address of `mac` in a /64 (RFC 4291 appendix A). */
function eui64(subnet: SubnetRow, mac: string): string {
  const c = parseCidr(subnet.cidr)!;
  const b = mac.split(':').map((h) => parseInt(h, 16));
  const iid = [b[0]! ^ 0x02, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!].reduce((acc, x) => (acc << 8n) | BigInt(x), 0n);
  return formatIp({ version: 6, value: c.network | iid });
}

const isSlaac = (s: SubnetRow): boolean => s.ip_version === 6 && (s.ipv6_address_mode === 'slaac' || s.ipv6_address_mode === 'dhcpv6-stateless');

/** Claims one free address of `subnet`, or null when it has none left. */
async function claimAny(tx: Db, subnet: SubnetRow, portId: string): Promise<string | null> {
  let used = await usedAddresses(tx, subnet.id);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const candidates = freeCandidates(subnet, used, SPREAD);
    if (candidates.length === 0) return null;
    const ip = candidates[Math.floor(Math.random() * candidates.length)]!;
    if (await claimAddress(tx, { subnet_id: subnet.id, ip_address: ip, network_id: subnet.network_id, port_id: portId })) return ip;
    // Lost the race: a fresh read (a new statement sees what others committed meanwhile).
    used = await usedAddresses(tx, subnet.id);
    used.add(ip);
  }
  return null;
}

async function claimExact(tx: Db, subnet: SubnetRow, ip: string, portId: string): Promise<void> {
  if (!(await claimAddress(tx, { subnet_id: subnet.id, ip_address: ip, network_id: subnet.network_id, port_id: portId }))) {
    throw inUse(subnet.network_id, ip);
  }
}

/** Resolves each request to a subnet of the network (and a canonical address when one is given). */
export function resolveRequests(networkId: string, subnets: readonly SubnetRow[], requests: readonly IpRequest[]): Array<{ subnet: SubnetRow; ip?: string }> {
  return requests.map((r) => {
    let ip: string | undefined;
    if (r.ip_address !== undefined) {
      const parsed = parseIp(r.ip_address);
      if (!parsed) throw invalidInput(`'${r.ip_address}' is not a valid IP address`);
      ip = formatIp(parsed);
    }
    let subnet: SubnetRow | undefined;
    if (r.subnet_id !== undefined) {
      subnet = subnets.find((s) => s.id === r.subnet_id);
      if (!subnet) throw invalidInput(`Failed to create port on network ${networkId}, because fixed_ips included invalid subnet ${r.subnet_id}`);
    } else if (ip !== undefined) {
      const p = parseIp(ip)!;
      subnet = subnets.find((s) => cidrContains(parseCidr(s.cidr)!, p));
      if (!subnet) throw badRequest('InvalidIpForNetwork', `IP address ${ip} is not a valid IP for any of the subnets on the specified network.`);
    } else {
      throw invalidInput('Exactly one of subnet_id or ip_address is needed in a fixed_ips entry');
    }
    if (ip !== undefined && !cidrContains(parseCidr(subnet.cidr)!, parseIp(ip)!)) {
      throw badRequest('InvalidIpForSubnet', `IP address ${ip} is not a valid IP for the specified subnet.`);
    }
    return { subnet, ...(ip !== undefined ? { ip } : {}) };
  });
}

/**
 * Claims the addresses of a new port (or the added addresses of an updated one) inside `tx`.
 * `requests` undefined means "Neutron's default"; `routerPort` lets a router interface take the
 * gateway address (nobody else may).
 */
export async function allocate(tx: Db, o: {
  networkId: string; subnets: readonly SubnetRow[]; portId: string; mac: string; requests: readonly IpRequest[] | undefined; routerPort: boolean;
}): Promise<FixedIp[]> {
  const out: FixedIp[] = [];
  if (o.requests === undefined) {
    const v4 = o.subnets.filter((s) => s.ip_version === 4);
    if (v4.length > 0) {
      let got: FixedIp | null = null;
      for (const s of v4) {
        const ip = await claimAny(tx, s, o.portId);
        if (ip) { got = { subnet_id: s.id, ip_address: ip }; break; }
      }
      if (!got) throw exhausted(o.networkId);
      out.push(got);
    }
    const v6 = o.subnets.filter((s) => s.ip_version === 6);
    for (const s of v6.filter(isSlaac)) {
      const ip = eui64(s, o.mac);
      await claimExact(tx, s, ip, o.portId);
      out.push({ subnet_id: s.id, ip_address: ip });
    }
    const stateful = v6.filter((s) => !isSlaac(s));
    if (stateful.length > 0) {
      let got: FixedIp | null = null;
      for (const s of stateful) {
        const ip = await claimAny(tx, s, o.portId);
        if (ip) { got = { subnet_id: s.id, ip_address: ip }; break; }
      }
      if (!got && v4.length === 0) throw exhausted(o.networkId);
      if (got) out.push(got);
    }
    return out;
  }
  const resolved = resolveRequests(o.networkId, o.subnets, o.requests);
  // Exact addresses first, so a request for "any" in the same subnet cannot take one asked for by name.
  for (const r of [...resolved].sort((a, b) => Number(a.ip === undefined) - Number(b.ip === undefined))) {
    if (r.ip !== undefined) {
      if (r.ip === r.subnet.gateway_ip && !o.routerPort) throw inUse(o.networkId, r.ip);
      await claimExact(tx, r.subnet, r.ip, o.portId);
      out.push({ subnet_id: r.subnet.id, ip_address: r.ip });
    } else {
      const ip = isSlaac(r.subnet) ? eui64(r.subnet, o.mac) : await claimAny(tx, r.subnet, o.portId);
      if (ip === null) throw exhausted(o.networkId);
      if (isSlaac(r.subnet)) await claimExact(tx, r.subnet, ip, o.portId);
      out.push({ subnet_id: r.subnet.id, ip_address: ip });
    }
  }
  return out;
}
