import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Db } from './connection.js';
import type { FloatingIpTable } from './schema-network.js';

/**
 * The floating IPs repository. The unique index floating_ips_fixed (fixed port, fixed address)
 * is what keeps one fixed address from getting two floating addresses under concurrency: the
 * second association fails with DuplicateEntry.
 */

export type FloatingIpRow = Selectable<FloatingIpTable>;

export async function getFloatingIpRow(db: Db, id: string): Promise<FloatingIpRow | null> {
  return (await db.selectFrom('floating_ips').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

/** Every floating IP of `projectId` (null: every project's), in id order. */
export async function listFloatingIpRows(db: Db, projectId: string | null): Promise<FloatingIpRow[]> {
  let q = db.selectFrom('floating_ips').selectAll();
  if (projectId !== null) q = q.where('project_id', '=', projectId);
  return q.orderBy('id').execute();
}

export async function insertFloatingIp(db: Db, row: Insertable<FloatingIpTable>): Promise<void> {
  await db.insertInto('floating_ips').values(row).execute();
}

/** Applies `changes` and bumps the revision; false when the row is gone. */
export async function updateFloatingIpRow(db: Db, id: string, changes: Updateable<FloatingIpTable>): Promise<boolean> {
  const r = await db.updateTable('floating_ips').set((eb) => ({ ...changes, revision_number: eb('revision_number', '+', 1) }))
    .where('id', '=', id).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function deleteFloatingIpRow(db: Db, id: string): Promise<boolean> {
  const r = await db.deleteFrom('floating_ips').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function countFloatingIps(db: Db, projectId: string): Promise<number> {
  const r = await db.selectFrom('floating_ips').select((eb) => eb.fn.countAll<number | string>().as('n')).where('project_id', '=', projectId).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The associated floating IPs of the given routers (what their NAT must hold). */
export async function floatingIpsOfRouters(db: Db, routerIds: readonly string[]): Promise<FloatingIpRow[]> {
  if (routerIds.length === 0) return [];
  return db.selectFrom('floating_ips').selectAll().where('router_id', 'in', [...routerIds]).where('fixed_port_id', 'is not', null)
    .orderBy('id').execute();
}

/** The floating IPs associated with any of `portIds`. */
export async function floatingIpsOfPorts(db: Db, portIds: readonly string[]): Promise<FloatingIpRow[]> {
  if (portIds.length === 0) return [];
  return db.selectFrom('floating_ips').selectAll().where('fixed_port_id', 'in', [...portIds]).orderBy('id').execute();
}

/**
 * Disassociates every floating IP of `portId` (its port is being deleted, as Neutron's
 * disassociate_floatingips does); returns the ones that were associated.
 */
export async function disassociatePort(db: Db, portId: string, nowIso: string): Promise<FloatingIpRow[]> {
  const rows = await floatingIpsOfPorts(db, [portId]);
  if (rows.length === 0) return [];
  await db.updateTable('floating_ips').set((eb) => ({
    fixed_port_id: null, fixed_ip_address: null, router_id: null, status: 'DOWN', updated_at: nowIso, revision_number: eb('revision_number', '+', 1),
  })).where('fixed_port_id', '=', portId).execute();
  return rows;
}

/** Whether any floating IP is associated through `routerId` to an address on one of `subnetIds` (RouterInterfaceInUseByFloatingIP). */
export async function floatingIpsThroughRouter(db: Db, routerId: string, subnetIds: readonly string[]): Promise<FloatingIpRow[]> {
  if (subnetIds.length === 0) return [];
  return db.selectFrom('floating_ips').selectAll().where('router_id', '=', routerId)
    .where('fixed_port_id', 'in', (eb) => eb.selectFrom('ip_allocations').select('port_id').where('subnet_id', 'in', [...subnetIds]))
    .execute();
}

