import type { FastifyRequest } from 'fastify';
import type { Db } from '../db/connection.js';
import { getRouterRow, portAddresses, ROUTER_GATEWAY_OWNER, routerPorts, type RouterRow } from '../db/network-routers.js';
import { badRequest, bool, conflict, notFound, standardAttrs, viewerOf, type NeutronError } from './common.js';
import type { View } from './list-kit.js';

/** What the router and floating IP route modules share: lookups with visibility, errors, the router view. */

export const routerNotFound = (id: string): NeutronError => notFound('RouterNotFound', `Router ${id} could not be found`);
export const floatingIpNotFound = (id: string): NeutronError => notFound('FloatingIPNotFound', `Floating IP ${id} could not be found`);
export const routerInUse = (id: string, why = 'still has ports'): NeutronError => conflict('RouterInUse', `Router ${id} ${why}`);
/** Neutron's BadRequest(resource=…, msg=…). */
export const badResource = (resource: string, msg: string): NeutronError => badRequest('BadRequest', `Bad ${resource} request: ${msg}.`);

/** A router the caller may see (its project's, or any for admin), else null: another project's is a 404. */
export async function visibleRouter(db: Db, req: FastifyRequest, id: string): Promise<RouterRow | null> {
  const row = await getRouterRow(db, id);
  if (!row) return null;
  const v = viewerOf(req);
  return v.isAdmin || row.project_id === v.projectId ? row : null;
}

export const ROUTER_ATTRIBUTES = [
  'id', 'name', 'description', 'tenant_id', 'project_id', 'admin_state_up', 'status', 'external_gateway_info', 'routes',
  'distributed', 'ha', 'flavor_id', 'availability_zone_hints', 'availability_zones', 'tags', 'created_at', 'updated_at', 'revision_number',
] as const;

/** The gateway addresses of each router (`external_fixed_ips`). */
export async function gatewayIps(db: Db, rows: readonly RouterRow[]): Promise<Map<string, Array<{ subnet_id: string; ip_address: string }>>> {
  const out = new Map<string, Array<{ subnet_id: string; ip_address: string }>>();
  const gwPorts = rows.map((r) => r.gw_port_id).filter((p): p is string => p !== null);
  const byPort = new Map<string, string>(rows.filter((r) => r.gw_port_id).map((r) => [r.gw_port_id!, r.id]));
  for (const a of await portAddresses(db, gwPorts)) {
    const rid = byPort.get(a.port_id);
    if (rid) out.set(rid, [...(out.get(rid) ?? []), { subnet_id: a.subnet_id, ip_address: a.ip_address }]);
  }
  return out;
}

/** A router as Neutron shows it (l3, extraroute, l3-ha/dvr attributes fixed: Orrery's routers are legacy, centralized). */
export function routerView(row: RouterRow, gwIps: Array<{ subnet_id: string; ip_address: string }>): View {
  return {
    id: row.id, name: row.name, tenant_id: row.project_id, project_id: row.project_id, admin_state_up: bool(row.admin_state_up),
    status: row.status,
    external_gateway_info: row.gw_network_id === null ? null : {
      network_id: row.gw_network_id, enable_snat: bool(row.enable_snat), external_fixed_ips: gwIps,
    },
    routes: JSON.parse(row.routes) as unknown[],
    distributed: false, ha: false, flavor_id: null, availability_zone_hints: [], availability_zones: ['nova'],
    ...standardAttrs(row),
  };
}

export async function routerViewOf(db: Db, row: RouterRow): Promise<View> {
  return routerView(row, (await gatewayIps(db, [row])).get(row.id) ?? []);
}

/** The router's interface ports with their addresses. */
export async function interfacesOf(db: Db, routerId: string): Promise<Array<{ id: string; network_id: string; project_id: string; ips: Array<{ subnet_id: string; ip_address: string }> }>> {
  const ports = (await routerPorts(db, [routerId])).filter((p) => p.device_owner !== ROUTER_GATEWAY_OWNER);
  const addrs = await portAddresses(db, ports.map((p) => p.id));
  return ports.map((p) => ({
    id: p.id, network_id: p.network_id, project_id: p.project_id,
    ips: addrs.filter((a) => a.port_id === p.id).map((a) => ({ subnet_id: a.subnet_id, ip_address: a.ip_address })),
  }));
}
