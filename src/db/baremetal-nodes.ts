import type { Selectable } from 'kysely';
import type { Db } from './connection.js';
import type { BmNodeTable } from './schema-baremetal.js';

/**
 * The Bare Metal service's nodes (Ironic's `nodes` table). Rows come back as stored (JSON as
 * text, booleans 0/1); src/baremetal/node-view.ts turns them into the API's shapes and
 * src/baremetal/driver-info.ts seals and opens the driver's secrets.
 */

export type BmNodeRow = Selectable<BmNodeTable>;
export type BmNodeChanges = Partial<Omit<BmNodeRow, 'uuid' | 'created_at'>>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function insertNode(db: Db, row: BmNodeRow): Promise<void> {
  await db.insertInto('bm_nodes').values(row).execute();
}

export async function getNode(db: Db, uuid: string): Promise<BmNodeRow | null> {
  return (await db.selectFrom('bm_nodes').selectAll().where('uuid', '=', uuid.toLowerCase()).executeTakeFirst()) ?? null;
}

/** A node by UUID or, failing that, by name (Ironic's node identifiers). */
export async function findNode(db: Db, ident: string): Promise<BmNodeRow | null> {
  if (UUID.test(ident)) {
    const byUuid = await getNode(db, ident);
    if (byUuid) return byUuid;
  }
  return (await db.selectFrom('bm_nodes').selectAll().where('name', '=', ident).executeTakeFirst()) ?? null;
}

export async function getNodeByInstance(db: Db, instanceUuid: string): Promise<BmNodeRow | null> {
  return (await db.selectFrom('bm_nodes').selectAll().where('instance_uuid', '=', instanceUuid).executeTakeFirst()) ?? null;
}

export interface NodeFilters {
  provision_state?: string;
  maintenance?: boolean;
  /** true: with an instance; false: without. */
  associated?: boolean;
  resource_class?: string;
  driver?: string;
  instance_uuid?: string;
  /** Only nodes whose uuid sorts after this one (the API's `marker`). */
  after?: string;
}

/** Nodes in uuid order, at most `limit`. */
export async function listNodes(db: Db, f: NodeFilters, limit: number): Promise<BmNodeRow[]> {
  let q = db.selectFrom('bm_nodes').selectAll();
  if (f.provision_state !== undefined) q = q.where('provision_state', '=', f.provision_state);
  if (f.maintenance !== undefined) q = q.where('maintenance', '=', f.maintenance ? 1 : 0);
  if (f.associated === true) q = q.where('instance_uuid', 'is not', null);
  if (f.associated === false) q = q.where('instance_uuid', 'is', null);
  if (f.resource_class !== undefined) q = q.where('resource_class', '=', f.resource_class);
  if (f.driver !== undefined) q = q.where('driver', '=', f.driver);
  if (f.instance_uuid !== undefined) q = q.where('instance_uuid', '=', f.instance_uuid);
  if (f.after !== undefined) q = q.where('uuid', '>', f.after);
  return q.orderBy('uuid').limit(limit).execute();
}

export async function updateNode(db: Db, uuid: string, changes: BmNodeChanges, now = new Date()): Promise<void> {
  await db.updateTable('bm_nodes').set({ ...changes, updated_at: now.toISOString() }).where('uuid', '=', uuid).execute();
}

/**
 * Applies `changes` only while the node's columns still hold `expected` (a compare-and-set:
 * two API calls racing on one transition, one wins) and answers whether it did.
 */
export async function updateNodeIf(
  db: Db, uuid: string, expected: Partial<Pick<BmNodeRow, 'provision_state' | 'target_provision_state' | 'target_power_state' | 'reservation' | 'instance_uuid'>>,
  changes: BmNodeChanges, now = new Date(),
): Promise<boolean> {
  let q = db.updateTable('bm_nodes').set({ ...changes, updated_at: now.toISOString() }).where('uuid', '=', uuid);
  for (const [col, value] of Object.entries(expected) as [keyof typeof expected, string | null][]) {
    q = value === null ? q.where(col, 'is', null) : q.where(col, '=', value);
  }
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function deleteNode(db: Db, uuid: string): Promise<boolean> {
  const res = await db.deleteFrom('bm_nodes').where('uuid', '=', uuid).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/**
 * Takes the node's lock for conductor `host` for `ttlSeconds` (Ironic's reservation): one
 * conditional update that succeeds when nobody holds it, `host` holds it already (renewal), or
 * the holder's lease ran out (a killed conductor). False when another live conductor holds it.
 */
export async function reserveNode(db: Db, uuid: string, host: string, ttlSeconds: number, now = new Date()): Promise<boolean> {
  const res = await db.updateTable('bm_nodes')
    .set({ reservation: host, reservation_expires_at: new Date(now.getTime() + ttlSeconds * 1000).toISOString() })
    .where('uuid', '=', uuid)
    .where((eb) => eb.or([
      eb('reservation', 'is', null),
      eb('reservation', '=', host),
      eb('reservation_expires_at', '<', now.toISOString()),
    ]))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** Gives the lock back if `host` still holds it; answers whether it did. */
export async function releaseNode(db: Db, uuid: string, host: string): Promise<boolean> {
  const res = await db.updateTable('bm_nodes').set({ reservation: null, reservation_expires_at: null })
    .where('uuid', '=', uuid).where('reservation', '=', host).executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** Whether a live conductor holds the node's lock (the API refuses changes to a locked node: Ironic's NodeLocked). */
export function isReserved(row: Pick<BmNodeRow, 'reservation' | 'reservation_expires_at'>, now = new Date()): boolean {
  return row.reservation !== null && (row.reservation_expires_at === null || row.reservation_expires_at >= now.toISOString());
}
