import type { CachedVif } from '../db/schema-network.js';

/**
 * network_data.json (Nova's netutils.get_network_metadata): one link per port of the info
 * cache, one network per fixed IP with its subnet, and the DNS servers of all of them.
 */

/** What the metadata service needs of a subnet (from the Network API). */
export interface MetadataSubnet {
  id: string;
  cidr: string;
  ip_version: number;
  gateway_ip: string | null;
  enable_dhcp: boolean;
  dns_nameservers: string[];
  host_routes: Array<{ destination: string; nexthop: string }>;
  ipv6_address_mode?: string | null;
}

type Route = { network: string; netmask: string; gateway: string };
type Service = { type: 'dns'; address: string };

/** The dotted netmask of an IPv4 prefix length, or the IPv6 mask in Nova's (netaddr's) compressed form. */
export function netmaskOf(cidr: string): string {
  const [addr, lenText] = cidr.split('/');
  const len = Number(lenText);
  if (addr!.includes(':')) {
    const groups: string[] = [];
    for (let g = 0; g < 8; g++) {
      const bits = Math.max(0, Math.min(16, len - g * 16));
      groups.push(((0xffff << (16 - bits)) & 0xffff).toString(16));
    }
    return compressV6(groups);
  }
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return [24, 16, 8, 0].map((s) => (mask >>> s) & 255).join('.');
}

/** The network address of a CIDR (host bits cleared), as netaddr's IPNetwork.network. */
export function networkAddressOf(cidr: string): string {
  const [addr, lenText] = cidr.split('/');
  const len = Number(lenText);
  if (addr!.includes(':')) {
    const groups = expandV6(addr!);
    return compressV6(groups.map((g, i) => {
      const bits = Math.max(0, Math.min(16, len - i * 16));
      return (parseInt(g, 16) & ((0xffff << (16 - bits)) & 0xffff)).toString(16);
    }));
  }
  const n = addr!.split('.').reduce((acc, o) => (acc * 256) + Number(o), 0);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const net = (n & mask) >>> 0;
  return [24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.');
}

function expandV6(addr: string): string[] {
  const [head, tail] = addr.includes('::') ? addr.split('::') as [string, string] : [addr, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t];
}

/** RFC 5952 form: the longest run (≥ 2) of zero groups as `::`. */
function compressV6(groups: string[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function defaultRoute(version: number, subnet: MetadataSubnet): Route[] {
  if (!subnet.gateway_ip) return [];
  return version === 6 ? [{ network: '::', netmask: '::', gateway: subnet.gateway_ip }] : [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: subnet.gateway_ip }];
}

function dnsServices(subnet: MetadataSubnet | undefined): Service[] {
  return (subnet?.dns_nameservers ?? []).map((address) => ({ type: 'dns', address }));
}

/**
 * The document. A subnet the Network API did not return (gone, or the API unreachable) is
 * described as DHCP-configured, which is what its guest does anyway; a DHCP-enabled IPv4 subnet
 * is `ipv4_dhcp` with no address, as Nova describes Neutron subnets that have a DHCP server.
 */
export function networkData(vifs: readonly CachedVif[], subnets: ReadonlyMap<string, MetadataSubnet>): unknown {
  const links: unknown[] = [];
  const networks: unknown[] = [];
  const services: Service[] = [];
  let netNum = 0;
  for (const vif of vifs) {
    if (vif.fixed_ips.length === 0) continue;
    // The tap's name, as the agents and drivers name it (brief of #13: tap + port id[:11]).
    const linkId = `tap${vif.port_id.slice(0, 11)}`;
    links.push({ id: linkId, vif_id: vif.port_id, type: 'bridge', mtu: vif.mtu || null, ethernet_mac_address: vif.mac });
    for (const ip of vif.fixed_ips) {
      const subnet = subnets.get(ip.subnet_id);
      const id = `network${netNum++}`;
      const v6mode = ip.version === 6 ? subnet?.ipv6_address_mode ?? null : null;
      if (!subnet || (v6mode === null && subnet.enable_dhcp && ip.version === 4)) {
        networks.push({ id, type: `ipv${ip.version}_dhcp`, link: linkId, network_id: vif.network_id });
      } else {
        const routes = defaultRoute(ip.version, subnet);
        for (const r of subnet.host_routes) routes.push({ network: networkAddressOf(r.destination), netmask: netmaskOf(r.destination), gateway: r.nexthop });
        networks.push({
          id, type: `ipv${ip.version}${v6mode ? `_${v6mode}` : ''}`, link: linkId, ip_address: ip.address, netmask: netmaskOf(subnet.cidr),
          routes, network_id: vif.network_id, services: dnsServices(subnet),
        });
      }
      for (const s of dnsServices(subnet)) if (!services.some((x) => x.address === s.address)) services.push(s);
    }
  }
  return { links, networks, services };
}
