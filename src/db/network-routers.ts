import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Db } from './connection.js';
import type { PortTable, RouterTable, SubnetTable } from './schema-network.js';
import { atomically } from './transactions.js';

/**
 * The routers repository: rows, the router's ports (ports whose device_id is the router), and
 * the choice of the L3 agent host that serves each router (`agent_host`).
 */

export type RouterRow = Selectable<RouterTable>;
export type RouterPortRow = Selectable<PortTable>;

export const ROUTER_INTERFACE_OWNER = 'network:router_interface';
export const ROUTER_GATEWAY_OWNER = 'network:router_gateway';
export const FLOATING_IP_OWNER = 'network:floatingip';

export async function getRouterRow(db: Db, id: string): Promise<RouterRow | null> {
  return (await db.selectFrom('routers').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

/** Every router of `projectId` (null: every project's), in id order. */
export async function listRouterRows(db: Db, projectId: string | null): Promise<RouterRow[]> {
  let q = db.selectFrom('routers').selectAll();
  if (projectId !== null) q = q.where('project_id', '=', projectId);
  return q.orderBy('id').execute();
}

export async function insertRouter(db: Db, row: Insertable<RouterTable>): Promise<void> {
  await db.insertInto('routers').values(row).execute();
}

/** Applies `changes` and bumps the revision; false when the row is gone. */
export async function updateRouterRow(db: Db, id: string, changes: Updateable<RouterTable>): Promise<boolean> {
  const r = await db.updateTable('routers').set((eb) => ({ ...changes, revision_number: eb('revision_number', '+', 1) }))
    .where('id', '=', id).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function deleteRouterRow(db: Db, id: string): Promise<boolean> {
  const r = await db.deleteFrom('routers').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function countRouters(db: Db, projectId: string): Promise<number> {
  const r = await db.selectFrom('routers').select((eb) => eb.fn.countAll<number | string>().as('n')).where('project_id', '=', projectId).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The ports of the given routers (interfaces and gateways), in creation order. */
export async function routerPorts(db: Db, routerIds: readonly string[], owner?: string): Promise<RouterPortRow[]> {
  if (routerIds.length === 0) return [];
  let q = db.selectFrom('ports').selectAll().where('device_id', 'in', [...routerIds])
    .where('device_owner', 'in', owner ? [owner] : [ROUTER_INTERFACE_OWNER, ROUTER_GATEWAY_OWNER]);
  q = q.orderBy('created_at').orderBy('id');
  return q.execute();
}

/** The addresses of the given ports, as (port, subnet, address). */
export async function portAddresses(db: Db, portIds: readonly string[]): Promise<Array<{ port_id: string; subnet_id: string; ip_address: string; network_id: string }>> {
  if (portIds.length === 0) return [];
  return db.selectFrom('ip_allocations').select(['port_id', 'subnet_id', 'ip_address', 'network_id']).where('port_id', 'in', [...portIds])
    .orderBy('port_id').orderBy('ip_address').execute();
}

/** The routers with an interface on any of `subnetIds` (the routers a fixed address can be reached through). */
export async function routersOnSubnets(db: Db, subnetIds: readonly string[]): Promise<Array<{ router_id: string; subnet_id: string }>> {
  if (subnetIds.length === 0) return [];
  const rows = await db.selectFrom('ip_allocations').innerJoin('ports', 'ports.id', 'ip_allocations.port_id')
    .select(['ports.device_id as router_id', 'ip_allocations.subnet_id as subnet_id'])
    .where('ports.device_owner', '=', ROUTER_INTERFACE_OWNER).where('ip_allocations.subnet_id', 'in', [...subnetIds]).execute();
  return rows;
}

/** Router ports follow their router to its agent host (Neutron binds them to the L3 agent's host). */
async function bindRouterPorts(db: Db, routerId: string, host: string): Promise<void> {
  await db.updateTable('ports').set({ binding_host_id: host, status: 'DOWN' })
    .where('device_id', '=', routerId).where('device_owner', 'in', [ROUTER_INTERFACE_OWNER, ROUTER_GATEWAY_OWNER])
    .where('binding_host_id', '!=', host).execute();
}

/** An L3 agent as the scheduler sees it. */
export interface L3AgentCandidate {
  host: string;
  alive: boolean;
  adminUp: boolean;
}

/**
 * The agents that may serve routers: every agent row whose configurations say `l3: true`,
 * alive when its heartbeat is within `downTimeS` seconds of `nowMs`.
 */
export async function l3Agents(db: Db, nowMs: number, downTimeS: number): Promise<L3AgentCandidate[]> {
  const rows = await db.selectFrom('network_agents').select(['host', 'configurations', 'heartbeat_at', 'admin_state_up']).orderBy('host').execute();
  const out: L3AgentCandidate[] = [];
  for (const r of rows) {
    let conf: unknown;
    try {
      conf = JSON.parse(r.configurations);
    } catch {
      continue;
    }
    if (typeof conf !== 'object' || conf === null || (conf as { l3?: unknown }).l3 !== true) continue;
    out.push({ host: r.host, alive: nowMs - Date.parse(r.heartbeat_at) <= downTimeS * 1000, adminUp: r.admin_state_up === 1 });
  }
  return out;
}

/**
 * Gives every router without a live agent host one: the live, enabled L3 agent serving the
 * fewest routers (ties by host name), so no single network node carries them all and a dead
 * agent's routers move to the others. The move is conditional on the row still naming the old
 * host, so two servers rescheduling at once move a router once. Returns the routers moved.
 */
export async function scheduleRouters(db: Db, nowMs: number, downTimeS: number, only?: readonly string[]): Promise<Array<{ id: string; from: string | null; to: string }>> {
  const agents = await l3Agents(db, nowMs, downTimeS);
  const live = agents.filter((a) => a.alive && a.adminUp).map((a) => a.host);
  const alive = new Set(agents.filter((a) => a.alive).map((a) => a.host));
  if (live.length === 0) return [];
  let q = db.selectFrom('routers').select(['id', 'agent_host']);
  if (only) {
    if (only.length === 0) return [];
    q = q.where('id', 'in', [...only]);
  }
  const routers = await q.orderBy('created_at').orderBy('id').execute();
  const load = new Map<string, number>(live.map((h) => [h, 0]));
  for (const r of routers) if (r.agent_host !== null && load.has(r.agent_host)) load.set(r.agent_host, load.get(r.agent_host)! + 1);
  if (only) {
    // The load of the hosts counts every router, not only the ones being placed.
    const all = await db.selectFrom('routers').select(['agent_host']).where('agent_host', 'in', live).where('id', 'not in', [...only]).execute();
    for (const r of all) load.set(r.agent_host!, load.get(r.agent_host!)! + 1);
  }
  const moved: Array<{ id: string; from: string | null; to: string }> = [];
  for (const r of routers) {
    if (r.agent_host !== null && alive.has(r.agent_host)) continue;
    const to = [...load.entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
    const done = await atomically(db, async (tx) => {
      let u = tx.updateTable('routers').set((eb) => ({ agent_host: to, revision_number: eb('revision_number', '+', 1) })).where('id', '=', r.id);
      u = r.agent_host === null ? u.where('agent_host', 'is', null) : u.where('agent_host', '=', r.agent_host);
      const res = await u.executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return false;
      await bindRouterPorts(tx, r.id, to);
      return true;
    });
    if (!done) continue;
    load.set(to, load.get(to)! + 1);
    moved.push({ id: r.id, from: r.agent_host, to });
  }
  return moved;
}

/** The routers an agent host serves, with their ports bound to it. */
export async function routersOnHost(db: Db, host: string): Promise<RouterRow[]> {
  return db.selectFrom('routers').selectAll().where('agent_host', '=', host).orderBy('id').execute();
}

/** Everything the L3 section of a host's desired state is built from, read in a handful of queries. */
export interface RouterHostRows {
  routers: RouterRow[];
  ports: RouterPortRow[];
  addresses: Array<{ port_id: string; subnet_id: string; ip_address: string; network_id: string }>;
  subnets: Array<{ id: string; network_id: string; cidr: string; gateway_ip: string | null; ip_version: number }>;
  networks: Array<{ id: string; mtu: number }>;
  floatingIps: Array<{ id: string; router_id: string | null; floating_ip_address: string; floating_network_id: string; fixed_ip_address: string | null; fixed_port_id: string | null }>;
}

export async function routerHostRows(db: Db, host: string): Promise<RouterHostRows> {
  const routers = await routersOnHost(db, host);
  const ids = routers.map((r) => r.id);
  const ports = await routerPorts(db, ids);
  const addresses = await portAddresses(db, ports.map((p) => p.id));
  const netIds = [...new Set(ports.map((p) => p.network_id))];
  const subnets = netIds.length === 0 ? [] : await db.selectFrom('subnets').select(['id', 'network_id', 'cidr', 'gateway_ip', 'ip_version'])
    .where('network_id', 'in', netIds).orderBy('id').execute();
  const networks = netIds.length === 0 ? [] : await db.selectFrom('networks').select(['id', 'mtu']).where('id', 'in', netIds).execute();
  // Only associations whose fixed port still exists (a port deleted without its floating IP
  // disassociated must not keep a NAT rule alive).
  const floatingIps = ids.length === 0 ? [] : await db.selectFrom('floating_ips')
    .innerJoin('ports', 'ports.id', 'floating_ips.fixed_port_id')
    .select(['floating_ips.id', 'floating_ips.router_id', 'floating_ips.floating_ip_address', 'floating_ips.floating_network_id',
      'floating_ips.fixed_ip_address', 'floating_ips.fixed_port_id'])
    .where('floating_ips.router_id', 'in', ids).orderBy('floating_ips.id').execute();
  return { routers, ports, addresses, subnets, networks, floatingIps };
}

/** Subnets by id (the router's connected subnets, a floating IP's fixed address's subnet). */
export async function getSubnetsByIds(db: Db, ids: readonly string[]): Promise<Array<Selectable<SubnetTable>>> {
  if (ids.length === 0) return [];
  return db.selectFrom('subnets').selectAll().where('id', 'in', [...ids]).orderBy('id').execute();
}

/**
 * Makes an unused port (no device) a device's port: bound to `host`, port security off, no
 * security groups. Conditional on the port still being unused; false when it is not.
 */
export async function claimPortForDevice(db: Db, portId: string, deviceId: string, owner: string, host: string, at: string): Promise<boolean> {
  return atomically(db, async (tx) => {
    const r = await tx.updateTable('ports').set((eb) => ({
      device_id: deviceId, device_owner: owner, binding_host_id: host, port_security_enabled: 0, status: 'DOWN', updated_at: at,
      revision_number: eb('revision_number', '+', 1),
    })).where('id', '=', portId).where('device_id', '=', '').where('device_owner', '=', '').executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return false;
    await tx.deleteFrom('port_security_groups').where('port_id', '=', portId).execute();
    return true;
  });
}
