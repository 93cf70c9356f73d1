import type { Insertable, Selectable, Updateable } from 'kysely';
import { DuplicateEntry, type Db } from './connection.js';
import type { NetworkTable } from './schema-network.js';
import { atomically } from './transactions.js';

/** The networks repository: rows, visibility, and the atomic choice of a VXLAN segment (VNI). */

export type NetworkRow = Selectable<NetworkTable>;

/** Who is looking: admins see every row, others their project's and the shared and external ones. */
export interface NetViewer {
  projectId: string | null;
  isAdmin: boolean;
}

export async function getNetworkRow(db: Db, id: string): Promise<NetworkRow | null> {
  return (await db.selectFrom('networks').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

/** A network the viewer may see (shared and external networks are visible to every project), else null. */
export async function visibleNetwork(db: Db, viewer: NetViewer, id: string): Promise<NetworkRow | null> {
  const row = await getNetworkRow(db, id);
  if (!row) return null;
  return networkVisible(viewer, row) ? row : null;
}

export const networkVisible = (viewer: NetViewer, row: NetworkRow): boolean =>
  viewer.isAdmin || row.project_id === viewer.projectId || row.shared === 1 || row.router_external === 1;

export async function listVisibleNetworks(db: Db, viewer: NetViewer): Promise<NetworkRow[]> {
  let q = db.selectFrom('networks').selectAll();
  if (!viewer.isAdmin) {
    q = q.where((eb) => eb.or([eb('project_id', '=', viewer.projectId ?? ''), eb('shared', '=', 1), eb('router_external', '=', 1)]));
  }
  return q.orderBy('id').execute();
}

export async function listNetworksByIds(db: Db, ids: readonly string[]): Promise<NetworkRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('networks').selectAll().where('id', 'in', [...ids]).execute();
}

/** Parses `[network] vni_ranges` (`1:16000,20000:20100`). */
export function parseRanges(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+):(\d+)$/.exec(part);
    if (!m || Number(m[1]) > Number(m[2]) || Number(m[2]) > 16777215) throw new Error(`config: [network] vni_ranges: bad range ${part}`);
    out.push([Number(m[1]), Number(m[2])]);
  }
  return out;
}

/** The lowest VNI in `ranges` no network uses, or null when all are taken. */
async function freeSegment(db: Db, ranges: ReadonlyArray<[number, number]>, skip: ReadonlySet<number>): Promise<number | null> {
  const used = new Set((await db.selectFrom('networks').select('segmentation_id').where('network_type', '=', 'vxlan')
    .where('segmentation_id', 'is not', null).execute()).map((r) => r.segmentation_id!));
  for (const [lo, hi] of ranges) {
    for (let v = lo; v <= hi; v++) if (!used.has(v) && !skip.has(v)) return v;
  }
  return null;
}

/**
 * Inserts a network. A vxlan network without a segmentation id gets the lowest free VNI: the
 * unique index networks_segment is what makes two concurrent creates never share one — the one
 * that loses the race retries with the next free VNI. Returns false when the ranges are exhausted.
 */
export async function insertNetwork(db: Db, row: Insertable<NetworkTable>, vniRanges: ReadonlyArray<[number, number]>): Promise<boolean> {
  if (row.network_type !== 'vxlan' || row.segmentation_id !== null) {
    await db.insertInto('networks').values(row).execute();
    return true;
  }
  const lost = new Set<number>();
  for (let attempt = 0; attempt < 64; attempt++) {
    const vni = await freeSegment(db, vniRanges, lost);
    if (vni === null) return false;
    try {
      await db.insertInto('networks').values({ ...row, segmentation_id: vni }).execute();
      return true;
    } catch (err) {
      if (!(err instanceof DuplicateEntry)) throw err;
      lost.add(vni);
    }
  }
  throw new DuplicateEntry(new Error('no VNI could be claimed after 64 attempts'));
}

/** Applies `changes` and bumps the revision; false when the row is gone. */
export async function updateNetworkRow(db: Db, id: string, changes: Updateable<NetworkTable>): Promise<boolean> {
  const r = await db.updateTable('networks').set((eb) => ({ ...changes, revision_number: eb('revision_number', '+', 1) }))
    .where('id', '=', id).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function countNetworks(db: Db, projectId: string): Promise<number> {
  const r = await db.selectFrom('networks').select((eb) => eb.fn.countAll<number | string>().as('n')).where('project_id', '=', projectId).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The ids of each network's subnets (the `subnets` attribute of its view). */
export async function subnetIdsFor(db: Db, networkIds: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(networkIds.map((id) => [id, []]));
  if (networkIds.length === 0) return out;
  const rows = await db.selectFrom('subnets').select(['id', 'network_id']).where('network_id', 'in', [...networkIds]).orderBy('created_at').orderBy('id').execute();
  for (const r of rows) out.get(r.network_id)?.push(r.id);
  return out;
}

/** A flat network already on `physicalNetwork`, if any (one flat network per physical network). */
export async function flatNetworkOn(db: Db, physicalNetwork: string): Promise<NetworkRow | null> {
  return (await db.selectFrom('networks').selectAll().where('network_type', '=', 'flat').where('physical_network', '=', physicalNetwork).executeTakeFirst()) ?? null;
}

/** Device owners whose ports go with their network (Neutron deletes them with it instead of refusing). */
export const NETWORK_OWNED_PORTS = ['network:dhcp'];

/**
 * Deletes a network with its subnets and its network-owned ports, in one transaction; answers
 * 'in-use' (nothing deleted) when another port is still on it, 'gone' when it is already gone.
 */
export async function deleteNetworkCascade(db: Db, id: string): Promise<'deleted' | 'in-use' | 'gone'> {
  return atomically(db, async (tx) => {
    if (!(await tx.selectFrom('networks').select('id').where('id', '=', id).executeTakeFirst())) return 'gone';
    const busy = await tx.selectFrom('ports').select('id').where('network_id', '=', id).where('device_owner', 'not in', NETWORK_OWNED_PORTS).executeTakeFirst();
    if (busy) return 'in-use';
    const ports = (await tx.selectFrom('ports').select('id').where('network_id', '=', id).execute()).map((p) => p.id);
    if (ports.length > 0) {
      await tx.deleteFrom('port_security_groups').where('port_id', 'in', ports).execute();
      await tx.deleteFrom('ip_allocations').where('port_id', 'in', ports).execute();
      await tx.deleteFrom('ports').where('id', 'in', ports).execute();
    }
    await tx.deleteFrom('ip_allocations').where('network_id', '=', id).execute();
    await tx.deleteFrom('subnets').where('network_id', '=', id).execute();
    await tx.deleteFrom('networks').where('id', '=', id).execute();
    return 'deleted';
  });
}
