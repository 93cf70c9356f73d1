import type { Selectable } from 'kysely';
import type { Db } from './connection.js';
import type { BmPortTable } from './schema-baremetal.js';

/** The Bare Metal service's ports: a node's network interfaces by MAC address (unique across nodes). */

export type BmPortRow = Selectable<BmPortTable>;

export async function insertPort(db: Db, row: BmPortRow): Promise<void> {
  await db.insertInto('bm_ports').values(row).execute();
}

export async function getPort(db: Db, uuid: string): Promise<BmPortRow | null> {
  return (await db.selectFrom('bm_ports').selectAll().where('uuid', '=', uuid.toLowerCase()).executeTakeFirst()) ?? null;
}

export async function getPortByAddress(db: Db, address: string): Promise<BmPortRow | null> {
  return (await db.selectFrom('bm_ports').selectAll().where('address', '=', address).executeTakeFirst()) ?? null;
}

export interface PortFilters { node_uuid?: string; address?: string; after?: string }

/** Ports in uuid order, at most `limit`. */
export async function listPorts(db: Db, f: PortFilters, limit: number): Promise<BmPortRow[]> {
  let q = db.selectFrom('bm_ports').selectAll();
  if (f.node_uuid !== undefined) q = q.where('node_uuid', '=', f.node_uuid);
  if (f.address !== undefined) q = q.where('address', '=', f.address);
  if (f.after !== undefined) q = q.where('uuid', '>', f.after);
  return q.orderBy('uuid').limit(limit).execute();
}

export async function countNodePorts(db: Db, nodeUuid: string): Promise<number> {
  const row = await db.selectFrom('bm_ports').select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('node_uuid', '=', nodeUuid).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function updatePort(db: Db, uuid: string, changes: Partial<Omit<BmPortRow, 'uuid' | 'created_at'>>, now = new Date()): Promise<void> {
  await db.updateTable('bm_ports').set({ ...changes, updated_at: now.toISOString() }).where('uuid', '=', uuid).execute();
}

export async function deletePort(db: Db, uuid: string): Promise<boolean> {
  const res = await db.deleteFrom('bm_ports').where('uuid', '=', uuid).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/** Removes a node's ports (deleting a node takes its ports with it, as Ironic does). */
export async function deleteNodePorts(db: Db, nodeUuid: string): Promise<void> {
  await db.deleteFrom('bm_ports').where('node_uuid', '=', nodeUuid).execute();
}
