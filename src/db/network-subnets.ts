import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Db } from './connection.js';
import { NETWORK_OWNED_PORTS, type NetViewer } from './network-networks.js';
import type { SubnetTable } from './schema-network.js';
import { atomically } from './transactions.js';

/** The subnets repository. A subnet is visible where its network is (own project, shared, external). */

export type SubnetRow = Selectable<SubnetTable>;

export async function getSubnetRow(db: Db, id: string): Promise<SubnetRow | null> {
  return (await db.selectFrom('subnets').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export async function listVisibleSubnets(db: Db, viewer: NetViewer, id?: string): Promise<SubnetRow[]> {
  let q = db.selectFrom('subnets').innerJoin('networks', 'networks.id', 'subnets.network_id').selectAll('subnets');
  if (id !== undefined) q = q.where('subnets.id', '=', id);
  if (!viewer.isAdmin) {
    q = q.where((eb) => eb.or([
      eb('subnets.project_id', '=', viewer.projectId ?? ''), eb('networks.shared', '=', 1), eb('networks.router_external', '=', 1),
    ]));
  }
  return q.orderBy('subnets.id').execute();
}

export async function visibleSubnet(db: Db, viewer: NetViewer, id: string): Promise<SubnetRow | null> {
  return (await listVisibleSubnets(db, viewer, id))[0] ?? null;
}

export async function subnetsOfNetwork(db: Db, networkId: string): Promise<SubnetRow[]> {
  return db.selectFrom('subnets').selectAll().where('network_id', '=', networkId).orderBy('created_at').orderBy('id').execute();
}

export async function subnetsByIds(db: Db, ids: readonly string[]): Promise<SubnetRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('subnets').selectAll().where('id', 'in', [...ids]).execute();
}

export async function insertSubnet(db: Db, row: Insertable<SubnetTable>): Promise<void> {
  await db.insertInto('subnets').values(row).execute();
}

export async function updateSubnetRow(db: Db, id: string, changes: Updateable<SubnetTable>): Promise<boolean> {
  const r = await db.updateTable('subnets').set((eb) => ({ ...changes, revision_number: eb('revision_number', '+', 1) }))
    .where('id', '=', id).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/**
 * Deletes a subnet in one transaction with the addresses network-owned ports (DHCP) hold on it,
 * and those ports when they are left without an address; 'in-use' (nothing deleted) while any
 * other port has an address on it.
 */
export async function deleteSubnetCascade(db: Db, id: string): Promise<'deleted' | 'in-use' | 'gone'> {
  return atomically(db, async (tx) => {
    if (!(await tx.selectFrom('subnets').select('id').where('id', '=', id).executeTakeFirst())) return 'gone';
    const busy = await tx.selectFrom('ip_allocations').innerJoin('ports', 'ports.id', 'ip_allocations.port_id').select('ports.id')
      .where('ip_allocations.subnet_id', '=', id).where('ports.device_owner', 'not in', NETWORK_OWNED_PORTS).executeTakeFirst();
    if (busy) return 'in-use';
    const owned = (await tx.selectFrom('ip_allocations').select('port_id').where('subnet_id', '=', id).execute()).map((r) => r.port_id);
    await tx.deleteFrom('ip_allocations').where('subnet_id', '=', id).execute();
    for (const portId of new Set(owned)) {
      const left = await tx.selectFrom('ip_allocations').select('port_id').where('port_id', '=', portId).executeTakeFirst();
      if (!left) {
        await tx.deleteFrom('port_security_groups').where('port_id', '=', portId).execute();
        await tx.deleteFrom('ports').where('id', '=', portId).execute();
      }
    }
    await tx.deleteFrom('subnets').where('id', '=', id).execute();
    return 'deleted';
  });
}
