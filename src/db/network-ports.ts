import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Db } from './connection.js';
import type { NetViewer } from './network-networks.js';
import type { PortTable } from './schema-network.js';
import { atomically } from './transactions.js';
import { disassociatePort } from './network-floating-ips.js';

/**
 * The ports repository and the IPAM's one write. An address is handed out by inserting its
 * (subnet, address) row into ip_allocations with ON CONFLICT DO NOTHING: the primary key is the
 * guarantee, so two concurrent creates can both pick one address and only one gets it — the
 * other sees no row inserted and tries the next free one. DO NOTHING (rather than catching the
 * unique violation) keeps a PostgreSQL transaction usable after the conflict, so a whole port
 * create — port row, addresses, groups — stays one transaction on both databases.
 */

export type PortRow = Selectable<PortTable>;
export interface FixedIp { subnet_id: string; ip_address: string }

export async function getPortRow(db: Db, id: string): Promise<PortRow | null> {
  return (await db.selectFrom('ports').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

/** Ports a viewer sees: its project's (admin: all). */
export async function visiblePort(db: Db, viewer: NetViewer, id: string): Promise<PortRow | null> {
  const row = await getPortRow(db, id);
  return row && (viewer.isAdmin || row.project_id === viewer.projectId) ? row : null;
}

export async function listVisiblePorts(db: Db, viewer: NetViewer, narrow: { network_id?: string[]; device_id?: string[]; binding_host_id?: string } = {}): Promise<PortRow[]> {
  let q = db.selectFrom('ports').selectAll();
  if (!viewer.isAdmin) q = q.where('project_id', '=', viewer.projectId ?? '');
  // The cheap, indexed narrowing of the commonest filters; the list kit applies every filter again on the views.
  if (narrow.network_id && narrow.network_id.length > 0) q = q.where('network_id', 'in', narrow.network_id);
  if (narrow.device_id && narrow.device_id.length > 0) q = q.where('device_id', 'in', narrow.device_id);
  if (narrow.binding_host_id !== undefined) q = q.where('binding_host_id', '=', narrow.binding_host_id);
  return q.orderBy('id').execute();
}

export async function portsByIds(db: Db, ids: readonly string[]): Promise<PortRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('ports').selectAll().where('id', 'in', [...ids]).execute();
}

export async function portsOfNetworks(db: Db, networkIds: readonly string[]): Promise<PortRow[]> {
  if (networkIds.length === 0) return [];
  return db.selectFrom('ports').selectAll().where('network_id', 'in', [...networkIds]).orderBy('id').execute();
}

/** Each port's addresses, in allocation order of subnets. */
export async function fixedIpsOf(db: Db, portIds: readonly string[]): Promise<Map<string, FixedIp[]>> {
  const out = new Map<string, FixedIp[]>(portIds.map((id) => [id, []]));
  if (portIds.length === 0) return out;
  const rows = await db.selectFrom('ip_allocations').select(['port_id', 'subnet_id', 'ip_address']).where('port_id', 'in', [...portIds]).execute();
  for (const r of rows) out.get(r.port_id)?.push({ subnet_id: r.subnet_id, ip_address: r.ip_address });
  return out;
}

export async function securityGroupIdsOf(db: Db, portIds: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(portIds.map((id) => [id, []]));
  if (portIds.length === 0) return out;
  const rows = await db.selectFrom('port_security_groups').selectAll().where('port_id', 'in', [...portIds]).orderBy('security_group_id').execute();
  for (const r of rows) out.get(r.port_id)?.push(r.security_group_id);
  return out;
}

/** The addresses of a subnet already handed out (to skip when choosing a free one). */
export async function usedAddresses(db: Db, subnetId: string): Promise<Set<string>> {
  return new Set((await db.selectFrom('ip_allocations').select('ip_address').where('subnet_id', '=', subnetId).execute()).map((r) => r.ip_address));
}

/** Claims one address for a port: true when this call got it, false when it was taken (by anyone). */
export async function claimAddress(db: Db, a: { subnet_id: string; ip_address: string; network_id: string; port_id: string }): Promise<boolean> {
  const r = await db.insertInto('ip_allocations').values(a).onConflict((oc) => oc.columns(['subnet_id', 'ip_address']).doNothing()).executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
}

export async function releaseAddress(db: Db, portId: string, a: FixedIp): Promise<void> {
  await db.deleteFrom('ip_allocations').where('port_id', '=', portId).where('subnet_id', '=', a.subnet_id).where('ip_address', '=', a.ip_address).execute();
}

/** Inserts a port unless its MAC is taken on its network: false then (the caller picks another or refuses). */
export async function insertPortRow(db: Db, row: Insertable<PortTable>): Promise<boolean> {
  const r = await db.insertInto('ports').values(row).onConflict((oc) => oc.columns(['network_id', 'mac_address']).doNothing()).executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
}

export async function setPortSecurityGroups(db: Db, portId: string, groupIds: readonly string[]): Promise<void> {
  await db.deleteFrom('port_security_groups').where('port_id', '=', portId).execute();
  if (groupIds.length > 0) {
    await db.insertInto('port_security_groups').values([...new Set(groupIds)].map((g) => ({ port_id: portId, security_group_id: g }))).execute();
  }
}

export async function updatePortRow(db: Db, id: string, changes: Updateable<PortTable>, bump = true): Promise<boolean> {
  const r = await db.updateTable('ports')
    .set((eb) => (bump ? { ...changes, revision_number: eb('revision_number', '+', 1) } : changes))
    .where('id', '=', id).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Sets the status of the listed ports bound to `host` (what the agent reports); answers the ids that changed. */
export async function setPortStatus(db: Db, host: string, ids: readonly string[], status: 'ACTIVE' | 'DOWN', at: string): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('ports').select('id').where('id', 'in', [...ids]).where('binding_host_id', '=', host).where('status', '!=', status).execute();
  if (rows.length === 0) return [];
  await db.updateTable('ports').set((eb) => ({ status, updated_at: at, revision_number: eb('revision_number', '+', 1) }))
    .where('id', 'in', rows.map((r) => r.id)).execute();
  return rows.map((r) => r.id);
}

/** Deletes a port with its addresses and group memberships; false when it was already gone. */
export async function deletePortRow(db: Db, id: string): Promise<boolean> {
  return atomically(db, async (tx) => {
    await tx.deleteFrom('ip_allocations').where('port_id', '=', id).execute();
    await tx.deleteFrom('port_security_groups').where('port_id', '=', id).execute();
    // A deleted port's floating IPs are disassociated with it (Neutron's disassociate_floatingips).
    await disassociatePort(tx, id, new Date().toISOString());
    const r = await tx.deleteFrom('ports').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  });
}

/** The port holding an address of a subnet, with its owner, or null. */
export async function addressHolder(db: Db, subnetId: string, ip: string): Promise<{ port_id: string; device_owner: string } | null> {
  return (await db.selectFrom('ip_allocations').innerJoin('ports', 'ports.id', 'ip_allocations.port_id')
    .select(['ip_allocations.port_id', 'ports.device_owner']).where('ip_allocations.subnet_id', '=', subnetId)
    .where('ip_allocations.ip_address', '=', ip).executeTakeFirst()) ?? null;
}

/** Whether a project other than `projectId` has a port on the network (a network others use cannot be unshared). */
export async function otherProjectsOnNetwork(db: Db, networkId: string, projectId: string): Promise<boolean> {
  return (await db.selectFrom('ports').select('id').where('network_id', '=', networkId).where('project_id', '!=', projectId).executeTakeFirst()) !== undefined;
}
