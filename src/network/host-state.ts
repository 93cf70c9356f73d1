import { createHash } from 'node:crypto';
import type { Db } from '../db/connection.js';
import { liveAgents } from '../db/network-agents.js';
import { listNetworksByIds, type NetworkRow } from '../db/network-networks.js';
import { fixedIpsOf, listVisiblePorts, portsOfNetworks, securityGroupIdsOf, type FixedIp, type PortRow } from '../db/network-ports.js';
import { portsUsingGroups, rulesOfGroups, securityGroupsByIds } from '../db/network-security-groups.js';
import { subnetsOfNetwork, type SubnetRow } from '../db/network-subnets.js';
import { bool, json } from './common.js';
import { ensureDhcpPorts } from './dhcp-ports.js';
import { bridgeName, tapName } from './port-views.js';

/**
 * The answer of POST /v2.0/agents/report: everything one host's agent needs to wire its ports,
 * built from the database alone so an agent rebuilds from it after a restart (shape: #13's
 * "agent's endpoint"). `revision` hashes the rest, so an agent applies only what changed.
 */

export const ADMIN_VIEW = { projectId: null, isAdmin: true } as const;

/** What a section builder gets: the host, its local ports and networks, and the database. */
export interface HostStateContext {
  db: Db;
  host: string;
  /** ISO time: agents heard from since then are alive. */
  aliveSince: string;
  ports: PortRow[];
  networks: NetworkRow[];
}

/**
 * Sections of the answer other modules add (the L3 part: `routers`, `floating_ips`): each returns its
 * keys, merged into host_state before the revision is computed. A builder may also return
 * extra `ports` entries (a router's qr-/qg- ports bound to this host are ports like any other
 * and come with the host's ports already).
 */
export type HostStateSection = (ctx: HostStateContext) => Promise<Record<string, unknown>>;
export const HOST_STATE_SECTIONS: HostStateSection[] = [];

/** Neutron's DHCP host names: host-10-0-0-5, host-fd00-1--5. */
export const dhcpHostname = (ip: string): string => `host-${ip.replaceAll('.', '-').replaceAll(':', '-')}`;

function stable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stable);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, stable((v as Record<string, unknown>)[k])]));
  }
  return v;
}

export async function buildHostState(db: Db, host: string, aliveSince: string, metadataEnabled: boolean): Promise<Record<string, unknown>> {
  await ensureDhcpPorts(db, host);
  const ports = await listVisiblePorts(db, ADMIN_VIEW, { binding_host_id: host });
  const networkIds = [...new Set(ports.map((p) => p.network_id))];
  const networks = (await listNetworksByIds(db, networkIds)).sort((a, b) => (a.id < b.id ? -1 : 1));
  const netById = new Map(networks.map((n) => [n.id, n]));
  const portIds = ports.map((p) => p.id);
  const [ips, groupsOf] = await Promise.all([fixedIpsOf(db, portIds), securityGroupIdsOf(db, portIds)]);

  // VXLAN peers: the live agents of the other hosts with a port bound on the network.
  const others = (await portsOfNetworks(db, networkIds)).filter((p) => p.binding_host_id !== '' && p.binding_host_id !== host);
  const otherHosts = [...new Set(others.map((p) => p.binding_host_id))];
  const tunnelOf = new Map<string, string>();
  for (const a of await liveAgents(db, aliveSince, otherHosts)) {
    const ip = json<Record<string, unknown>>(a.configurations).tunneling_ip;
    if (typeof ip === 'string' && ip !== '') tunnelOf.set(a.host, ip);
  }
  const peersOf = (networkId: string): string[] => [...new Set(others.filter((p) => p.network_id === networkId)
    .map((p) => tunnelOf.get(p.binding_host_id)).filter((t): t is string => t !== undefined))].sort();

  const subnets: SubnetRow[] = [];
  for (const n of networks) subnets.push(...await subnetsOfNetwork(db, n.id));
  const dhcpSubnets = new Set(subnets.filter((s) => s.enable_dhcp === 1).map((s) => s.id));

  const dhcp = [];
  for (const n of networks) {
    const dport = ports.find((p) => p.network_id === n.id && p.device_owner === 'network:dhcp');
    if (!dport) continue;
    const hosts = ports.filter((p) => p.network_id === n.id && p.device_owner.startsWith('compute:'))
      .flatMap((p) => (ips.get(p.id) ?? []).filter((f) => dhcpSubnets.has(f.subnet_id))
        .map((f) => ({ mac_address: p.mac_address, ip_address: f.ip_address, hostname: dhcpHostname(f.ip_address) })));
    dhcp.push({
      network_id: n.id, namespace: `qdhcp-${n.id}`, interface: `ns-${dport.id.slice(0, 11)}`,
      port: { id: dport.id, mac_address: dport.mac_address, fixed_ips: ips.get(dport.id) ?? [] }, hosts,
    });
  }

  // Groups the local ports use, and the groups their rules name as remote (for member IPs).
  const used = [...new Set(ports.flatMap((p) => groupsOf.get(p.id) ?? []))];
  const rules = await rulesOfGroups(db, used);
  const all = [...new Set([...used, ...rules.map((r) => r.remote_group_id).filter((g): g is string => g !== null)])];
  const groups = (await securityGroupsByIds(db, all)).sort((a, b) => (a.id < b.id ? -1 : 1));
  const allRules = await rulesOfGroups(db, all);
  const members = await portsUsingGroups(db, all);
  const memberIps = await fixedIpsOf(db, [...new Set(members.map((m) => m.port_id))]);
  const security_groups = groups.map((g) => ({
    id: g.id, stateful: bool(g.stateful),
    rules: allRules.filter((r) => r.security_group_id === g.id).map((r) => ({
      id: r.id, direction: r.direction, ethertype: r.ethertype, protocol: r.protocol, port_range_min: r.port_range_min,
      port_range_max: r.port_range_max, remote_ip_prefix: r.remote_ip_prefix, remote_group_id: r.remote_group_id,
    })),
    member_ips: [...new Set(members.filter((m) => m.security_group_id === g.id).flatMap((m) => (memberIps.get(m.port_id) ?? []).map((f: FixedIp) => f.ip_address)))].sort(),
  }));

  const body: Record<string, unknown> = {
    networks: networks.map((n) => ({
      id: n.id, name: n.name, mtu: n.mtu, network_type: n.network_type, segmentation_id: n.segmentation_id, physical_network: n.physical_network,
      router_external: bool(n.router_external), bridge_name: bridgeName(n.id), vxlan_peers: n.network_type === 'vxlan' ? peersOf(n.id) : [],
    })),
    subnets: subnets.map((s) => ({
      id: s.id, network_id: s.network_id, ip_version: s.ip_version, cidr: s.cidr, gateway_ip: s.gateway_ip, enable_dhcp: bool(s.enable_dhcp),
      dns_nameservers: json<string[]>(s.dns_nameservers), host_routes: json<unknown[]>(s.host_routes), allocation_pools: json<unknown[]>(s.allocation_pools),
    })),
    ports: ports.map((p) => ({
      id: p.id, network_id: p.network_id, mac_address: p.mac_address, fixed_ips: ips.get(p.id) ?? [], device_owner: p.device_owner,
      device_id: p.device_id, admin_state_up: bool(p.admin_state_up), port_security_enabled: bool(p.port_security_enabled),
      allowed_address_pairs: json<unknown[]>(p.allowed_address_pairs), security_group_ids: groupsOf.get(p.id) ?? [],
      tap_name: tapName(p.id), bridge_name: bridgeName(p.network_id), mtu: netById.get(p.network_id)?.mtu ?? 1500,
    })),
    dhcp,
    security_groups,
    routers: [],
    floating_ips: [],
    metadata: { enabled: metadataEnabled },
  };
  const ctx: HostStateContext = { db, host, aliveSince, ports, networks };
  for (const section of HOST_STATE_SECTIONS) Object.assign(body, await section(ctx));
  const revision = createHash('sha256').update(JSON.stringify(stable(body))).digest('hex').slice(0, 32);
  return { revision, ...body };
}
