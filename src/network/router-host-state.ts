import { bridgeName, routerGatewayName, routerInternalName, tapName, type L3FloatingIp, type L3HostState, type L3Port, type L3Router } from '@orrery/net-linux';
import type { Db } from '../db/connection.js';
import { ROUTER_GATEWAY_OWNER, routerHostRows, scheduleRouters } from '../db/network-routers.js';
import { HOST_STATE_SECTIONS } from './host-state.js';

/**
 * The `routers` and `floating_ips` sections of an agent host's desired state (the answer of
 * `POST /v2.0/agents/report`): the routers scheduled on that host, each with its internal
 * ports (`qr-…`), its gateway port (`qg-…`), SNAT flag, extra routes and floating IP ↔ fixed IP
 * pairs. Before answering, routers without a live L3 agent are (re)scheduled, so a router
 * moves within one report of its agent being declared dead (agent_down_time). The router ports
 * are bound to the host (binding:host_id), so they are also among the answer's `ports` and the
 * L2 agent wires their taps (`tap<port11>`) into the networks' bridges; they have
 * port_security_enabled false (routed traffic carries other addresses than the port's own).
 */

export async function routerHostState(db: Db, host: string, opts: { nowMs: number; agentDownTimeS: number }): Promise<L3HostState> {
  await scheduleRouters(db, opts.nowMs, opts.agentDownTimeS);
  const rows = await routerHostRows(db, host);
  const subnets = new Map(rows.subnets.map((s) => [s.id, s]));
  const mtus = new Map(rows.networks.map((n) => [n.id, n.mtu]));
  const addrs = new Map<string, typeof rows.addresses>();
  for (const a of rows.addresses) addrs.set(a.port_id, [...(addrs.get(a.port_id) ?? []), a]);
  const portOf = (p: (typeof rows.ports)[number], gateway: boolean): L3Port => ({
    port_id: p.id, network_id: p.network_id,
    interface: gateway ? routerGatewayName(p.id) : routerInternalName(p.id), tap_name: tapName(p.id), bridge_name: bridgeName(p.network_id),
    mac_address: p.mac_address, mtu: mtus.get(p.network_id) ?? 1500,
    fixed_ips: (addrs.get(p.id) ?? []).flatMap((a) => {
      const s = subnets.get(a.subnet_id);
      return s ? [{ subnet_id: a.subnet_id, ip_address: a.ip_address, prefixlen: Number(s.cidr.split('/')[1]), cidr: s.cidr }] : [];
    }),
  });
  const fips: L3FloatingIp[] = rows.floatingIps.flatMap((f) => (f.router_id && f.fixed_ip_address && f.fixed_port_id
    ? [{ id: f.id, router_id: f.router_id, floating_ip_address: f.floating_ip_address, floating_network_id: f.floating_network_id,
      fixed_ip_address: f.fixed_ip_address, port_id: f.fixed_port_id }]
    : []));
  const routers: L3Router[] = rows.routers.map((r) => {
    const ports = rows.ports.filter((p) => p.device_id === r.id);
    const gw = ports.find((p) => p.device_owner === ROUTER_GATEWAY_OWNER && p.id === r.gw_port_id);
    const gateway = gw ? {
      ...portOf(gw, true),
      gateway_ips: rows.subnets.filter((s) => s.network_id === gw.network_id && s.gateway_ip !== null).map((s) => s.gateway_ip!),
    } : null;
    return {
      id: r.id, namespace: `qrouter-${r.id}`, admin_state_up: r.admin_state_up === 1, enable_snat: r.enable_snat === 1,
      gateway, interfaces: ports.filter((p) => p.device_owner !== ROUTER_GATEWAY_OWNER).map((p) => portOf(p, false)),
      routes: JSON.parse(r.routes) as Array<{ destination: string; nexthop: string }>,
      // Floating IPs need the gateway that holds their address.
      floating_ips: gateway ? fips.filter((f) => f.router_id === r.id) : [],
    };
  });
  return { routers, floating_ips: routers.flatMap((r) => r.floating_ips) };
}

// The answer's `routers` and `floating_ips` (host-state.ts merges the sections' keys in).
HOST_STATE_SECTIONS.push(async (ctx) => {
  const nowMs = Date.now();
  return { ...await routerHostState(ctx.db, ctx.host, { nowMs, agentDownTimeS: Math.max(0, (nowMs - Date.parse(ctx.aliveSince)) / 1000) }) };
});
