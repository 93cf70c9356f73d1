/**
 * The desired state of one host, as `POST /v2.0/agents/report` answers it (#13's shape), and
 * its checking: everything in it is data from the network and ends up in command lines and
 * config files, so every id, MAC, address and name is validated before use and every list is
 * bounded. What does not pass is dropped and named in `problems` (never half-applied).
 */
import { isIP } from 'node:net';

export interface HostNetwork {
  id: string;
  name?: string;
  mtu: number;
  network_type: string; // 'vxlan' | 'flat'
  segmentation_id: number | null;
  physical_network: string | null;
  router_external?: boolean;
  bridge_name?: string;
  vxlan_peers: string[];
}

export interface HostSubnet {
  id: string;
  network_id: string;
  ip_version: 4 | 6;
  cidr: string;
  gateway_ip: string | null;
  enable_dhcp: boolean;
  dns_nameservers: string[];
  host_routes: Array<{ destination: string; nexthop: string }>;
  allocation_pools?: Array<{ start: string; end: string }>;
}

export interface FixedIp {
  subnet_id: string;
  ip_address: string;
}

export interface HostPort {
  id: string;
  network_id: string;
  mac_address: string;
  fixed_ips: FixedIp[];
  device_owner: string;
  device_id: string;
  admin_state_up: boolean;
  port_security_enabled: boolean;
  allowed_address_pairs: Array<{ ip_address: string; mac_address?: string }>;
  security_group_ids: string[];
  tap_name?: string;
  bridge_name?: string;
  mtu?: number;
}

export interface HostDhcp {
  network_id: string;
  namespace?: string;
  interface?: string;
  port: { id: string; mac_address: string; fixed_ips: FixedIp[] };
  hosts: Array<{ mac_address: string; ip_address: string; hostname?: string }>;
}

export interface SecurityGroupRule {
  id: string;
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
}

export interface HostSecurityGroup {
  id: string;
  stateful: boolean;
  rules: SecurityGroupRule[];
  member_ips: string[];
}

export interface HostState {
  revision: string;
  networks: HostNetwork[];
  subnets: HostSubnet[];
  ports: HostPort[];
  dhcp: HostDhcp[];
  security_groups: HostSecurityGroup[];
  /** The L3 sections (routers, floating_ips) pass through untouched for the L3 code. */
  routers?: unknown[];
  floating_ips?: unknown[];
  metadata?: { enabled: boolean };
}

/** Bounds: a host state larger than these is refused in part (the rest still applied). */
export const LIMITS = {
  networks: 1000,
  subnetsPerNetwork: 32,
  ports: 4000,
  fixedIpsPerPort: 32,
  addressPairsPerPort: 32,
  groupsPerPort: 32,
  securityGroups: 2000,
  rulesPerGroup: 500,
  membersPerGroup: 4000,
  peersPerNetwork: 1000,
  dhcpHosts: 4000,
  dnsPerSubnet: 8,
  routesPerSubnet: 64,
} as const;

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export const validId = (v: unknown): v is string => typeof v === 'string' && ID.test(v);
export const validMac = (v: unknown): v is string => typeof v === 'string' && MAC.test(v.toLowerCase());
export const validHostname = (v: unknown): v is string => typeof v === 'string' && HOSTNAME.test(v);
export function validIp(v: unknown, version?: 4 | 6): v is string {
  if (typeof v !== 'string' || v.length > 45) return false;
  const f = isIP(v);
  return version ? f === version : f !== 0;
}
/** 'a.b.c.d/n' or a v6 prefix; returns [address, length, version] or null. */
export function parseCidr(v: unknown): [string, number, 4 | 6] | null {
  if (typeof v !== 'string' || v.length > 50) return null;
  const m = /^([^/]+)\/(\d{1,3})$/.exec(v);
  if (!m) return null;
  const f = isIP(m[1]!);
  const len = Number(m[2]);
  if (f === 4 && len <= 32) return [m[1]!, len, 4];
  if (f === 6 && len <= 128) return [m[1]!, len, 6];
  return null;
}

const arr = <T>(v: unknown, max: number): T[] => (Array.isArray(v) ? (v.slice(0, max) as T[]) : []);

/** The usable part of a host state (see the module comment); `problems` says what was dropped. */
export function checkHostState(raw: unknown): { state: HostState; problems: string[] } {
  const problems: string[] = [];
  const r = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const networks: HostNetwork[] = [];
  for (const n of arr<HostNetwork>(r.networks, LIMITS.networks)) {
    const mtu = Number(n?.mtu);
    const vxlan = n?.network_type === 'vxlan';
    const flat = n?.network_type === 'flat';
    if (!validId(n?.id) || !(mtu >= 576 && mtu <= 9000) || !(vxlan || flat)
      || (vxlan && !(Number.isInteger(n.segmentation_id) && n.segmentation_id! > 0 && n.segmentation_id! < 2 ** 24))
      || (flat && !(typeof n.physical_network === 'string' && n.physical_network.length > 0 && n.physical_network.length <= 64))) {
      problems.push(`network ${String(n?.id).slice(0, 64)}: unusable (type, segment, mtu or physical network)`);
      continue;
    }
    networks.push({
      ...n, mtu,
      vxlan_peers: arr<string>(n.vxlan_peers, LIMITS.peersPerNetwork).filter((p) => validIp(p, 4)),
    });
  }
  const netIds = new Set(networks.map((n) => n.id));
  const subnets: HostSubnet[] = [];
  for (const s of arr<HostSubnet>(r.subnets, LIMITS.networks * LIMITS.subnetsPerNetwork)) {
    const c = parseCidr(s?.cidr);
    if (!validId(s?.id) || !netIds.has(s.network_id) || !c || c[2] !== s.ip_version
      || (s.gateway_ip !== null && s.gateway_ip !== undefined && !validIp(s.gateway_ip, s.ip_version))) {
      problems.push(`subnet ${String(s?.id).slice(0, 64)}: unusable`);
      continue;
    }
    subnets.push({
      ...s,
      gateway_ip: s.gateway_ip ?? null,
      enable_dhcp: s.enable_dhcp !== false,
      dns_nameservers: arr<string>(s.dns_nameservers, LIMITS.dnsPerSubnet).filter((d) => validIp(d)),
      host_routes: arr<{ destination: string; nexthop: string }>(s.host_routes, LIMITS.routesPerSubnet)
        .filter((h) => parseCidr(h?.destination) && validIp(h?.nexthop)),
    });
  }
  const subnetIds = new Set(subnets.map((s) => s.id));
  const fixed = (v: unknown): FixedIp[] => arr<FixedIp>(v, LIMITS.fixedIpsPerPort)
    .filter((f) => subnetIds.has(f?.subnet_id) && validIp(f?.ip_address));
  const ports: HostPort[] = [];
  for (const p of arr<HostPort>(r.ports, LIMITS.ports)) {
    if (!validId(p?.id) || !netIds.has(p.network_id) || !validMac(p.mac_address)) {
      problems.push(`port ${String(p?.id).slice(0, 64)}: unusable (id, network or MAC)`);
      continue;
    }
    ports.push({
      ...p,
      mac_address: p.mac_address.toLowerCase(),
      device_owner: typeof p.device_owner === 'string' ? p.device_owner : '',
      fixed_ips: fixed(p.fixed_ips),
      admin_state_up: p.admin_state_up !== false,
      port_security_enabled: p.port_security_enabled !== false,
      allowed_address_pairs: arr<{ ip_address: string; mac_address?: string }>(p.allowed_address_pairs, LIMITS.addressPairsPerPort)
        .filter((a) => (validIp(a?.ip_address) || parseCidr(a?.ip_address)) && (a.mac_address === undefined || a.mac_address === null || validMac(a.mac_address))),
      security_group_ids: arr<string>(p.security_group_ids, LIMITS.groupsPerPort).filter(validId),
    });
  }
  const dhcp: HostDhcp[] = [];
  for (const d of arr<HostDhcp>(r.dhcp, LIMITS.networks)) {
    if (!netIds.has(d?.network_id) || !validId(d.port?.id) || !validMac(d.port.mac_address)) {
      problems.push(`dhcp of network ${String(d?.network_id).slice(0, 64)}: unusable`);
      continue;
    }
    dhcp.push({
      ...d,
      port: { id: d.port.id, mac_address: d.port.mac_address.toLowerCase(), fixed_ips: fixed(d.port.fixed_ips) },
      hosts: arr<HostDhcp['hosts'][number]>(d.hosts, LIMITS.dhcpHosts)
        .filter((h) => validMac(h?.mac_address) && validIp(h?.ip_address))
        .map((h) => ({ mac_address: h.mac_address.toLowerCase(), ip_address: h.ip_address, ...(validHostname(h.hostname) ? { hostname: h.hostname } : {}) })),
    });
  }
  const security_groups: HostSecurityGroup[] = [];
  for (const g of arr<HostSecurityGroup>(r.security_groups, LIMITS.securityGroups)) {
    if (!validId(g?.id)) {
      problems.push('a security group without a usable id');
      continue;
    }
    const rules: SecurityGroupRule[] = [];
    for (const x of arr<SecurityGroupRule>(g.rules, LIMITS.rulesPerGroup)) {
      const ok = validId(x?.id) && (x.direction === 'ingress' || x.direction === 'egress')
        && (x.ethertype === 'IPv4' || x.ethertype === 'IPv6')
        && (x.protocol === null || x.protocol === undefined || (typeof x.protocol === 'string' && /^[a-z0-9-]{1,16}$/i.test(x.protocol)))
        && (x.remote_ip_prefix === null || x.remote_ip_prefix === undefined || parseCidr(x.remote_ip_prefix)?.[2] === (x.ethertype === 'IPv4' ? 4 : 6))
        && (x.remote_group_id === null || x.remote_group_id === undefined || validId(x.remote_group_id))
        && [x.port_range_min, x.port_range_max].every((v) => v === null || v === undefined || (Number.isInteger(v) && v >= 0 && v <= 65535));
      if (!ok) {
        problems.push(`security group ${g.id} rule ${String(x?.id).slice(0, 64)}: unusable`);
        continue;
      }
      rules.push({
        ...x,
        protocol: x.protocol ?? null,
        port_range_min: x.port_range_min ?? null,
        port_range_max: x.port_range_max ?? null,
        remote_ip_prefix: x.remote_ip_prefix ?? null,
        remote_group_id: x.remote_group_id ?? null,
      });
    }
    security_groups.push({ id: g.id, stateful: g.stateful !== false, rules, member_ips: arr<string>(g.member_ips, LIMITS.membersPerGroup).filter((m) => validIp(m)) });
  }
  const meta = r.metadata as { enabled?: unknown } | undefined;
  return {
    state: {
      revision: typeof r.revision === 'string' ? r.revision.slice(0, 128) : '',
      networks, subnets, ports, dhcp, security_groups,
      routers: Array.isArray(r.routers) ? r.routers : [],
      floating_ips: Array.isArray(r.floating_ips) ? r.floating_ips : [],
      metadata: { enabled: meta?.enabled === true },
    },
    problems,
  };
}
