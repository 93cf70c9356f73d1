import { parseCidr, validId, validIp, validMac } from './host-state.js';
import type { L3FloatingIp, L3Gateway, L3HostState, L3Port, L3Router } from './l3-types.js';
import { bridgeName, routerGatewayName, routerInternalName, tapName } from './names.js';

/**
 * The usable part of the answer's `routers` / `floating_ips` (as checkHostState does for the
 * rest): every router, port and floating IP whose ids, addresses, MAC or MTU are not what they
 * must be is dropped with a problem named, and the device names are derived here from the ids
 * (#13's names), never taken from the answer. Counts are bounded.
 */

export const L3_LIMITS = { routers: 1000, portsPerRouter: 64, fixedIpsPerPort: 16, routesPerRouter: 128, floatingIpsPerRouter: 4000 } as const;

const arr = (v: unknown, max: number): Array<Record<string, unknown>> =>
  (Array.isArray(v) ? v.slice(0, max).filter((x): x is Record<string, unknown> => x !== null && typeof x === 'object') : []);

function port(raw: Record<string, unknown>, gateway: boolean, problems: string[], where: string): L3Port | null {
  const mtu = Number(raw.mtu);
  if (!validId(raw.port_id) || !validId(raw.network_id) || !validMac(raw.mac_address) || !(mtu >= 576 && mtu <= 9000)) {
    problems.push(`${where}: port ${String(raw.port_id).slice(0, 64)} unusable (id, network, mac or mtu)`);
    return null;
  }
  const fixed_ips: L3Port['fixed_ips'] = [];
  for (const f of arr(raw.fixed_ips, L3_LIMITS.fixedIpsPerPort)) {
    const c = parseCidr(f.cidr);
    const len = Number(f.prefixlen);
    if (!validId(f.subnet_id) || !validIp(f.ip_address) || !c || c[1] !== len) {
      problems.push(`${where}: port ${raw.port_id}: an address dropped (${String(f.ip_address).slice(0, 50)})`);
      continue;
    }
    fixed_ips.push({ subnet_id: f.subnet_id, ip_address: f.ip_address, prefixlen: len, cidr: f.cidr as string });
  }
  const id = raw.port_id as string;
  return {
    port_id: id, network_id: raw.network_id as string, interface: gateway ? routerGatewayName(id) : routerInternalName(id),
    tap_name: tapName(id), bridge_name: bridgeName(raw.network_id as string), mac_address: (raw.mac_address as string).toLowerCase(), mtu, fixed_ips,
  };
}

export function checkL3State(routersRaw: unknown, floatingRaw: unknown): { state: L3HostState; problems: string[] } {
  const problems: string[] = [];
  const routers: L3Router[] = [];
  for (const r of arr(routersRaw, L3_LIMITS.routers)) {
    if (!validId(r.id)) {
      problems.push(`router ${String(r.id).slice(0, 64)}: unusable id`);
      continue;
    }
    const where = `router ${r.id}`;
    const interfaces = arr(r.interfaces, L3_LIMITS.portsPerRouter).map((p) => port(p, false, problems, where)).filter((p): p is L3Port => p !== null);
    let gateway: L3Gateway | null = null;
    if (r.gateway && typeof r.gateway === 'object') {
      const g = r.gateway as Record<string, unknown>;
      const p = port(g, true, problems, where);
      if (p) gateway = { ...p, gateway_ips: (Array.isArray(g.gateway_ips) ? g.gateway_ips.slice(0, 16) : []).filter((ip): ip is string => validIp(ip)) };
    }
    const routes = arr(r.routes, L3_LIMITS.routesPerRouter).flatMap((x) => {
      const c = parseCidr(x.destination);
      return c && validIp(x.nexthop, c[2]) ? [{ destination: x.destination as string, nexthop: x.nexthop as string }] : [];
    });
    const floating_ips: L3FloatingIp[] = [];
    for (const f of arr(r.floating_ips, L3_LIMITS.floatingIpsPerRouter)) {
      if (!validId(f.id) || !validIp(f.floating_ip_address, 4) || !validIp(f.fixed_ip_address, 4) || !validId(f.port_id)) {
        problems.push(`${where}: floating IP ${String(f.id).slice(0, 64)} unusable`);
        continue;
      }
      floating_ips.push({
        id: f.id, router_id: r.id, floating_ip_address: f.floating_ip_address, fixed_ip_address: f.fixed_ip_address,
        floating_network_id: typeof f.floating_network_id === 'string' ? f.floating_network_id : '', port_id: f.port_id,
      });
    }
    routers.push({
      id: r.id, namespace: `qrouter-${r.id}`, admin_state_up: r.admin_state_up !== false, enable_snat: r.enable_snat !== false,
      gateway, interfaces, routes, floating_ips,
    });
  }
  return { state: { routers, floating_ips: routers.flatMap((r) => r.floating_ips) }, problems };
}
