import type { Selectable } from 'kysely';
import type { Db } from './connection.js';
import type { CatalogEndpointTable, CatalogServiceTable, RegionTable } from './catalog-schema.js';
import { atomically } from './transactions.js';

/** The catalog repository: Keystone's regions, services and endpoints. */

export type RegionRow = Selectable<RegionTable>;
export type CatalogServiceRow = Selectable<CatalogServiceTable>;
export type CatalogEndpointRow = Selectable<CatalogEndpointTable>;

/** Most regions, services and endpoints each: the catalog is read whole into every token. */
export const MAX_CATALOG_ROWS = 1000;

export async function countRows(db: Db, table: 'regions' | 'catalog_services' | 'catalog_endpoints'): Promise<number> {
  const row = await db.selectFrom(table).select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

// ---- regions

export async function getRegion(db: Db, id: string): Promise<RegionRow | null> {
  return (await db.selectFrom('regions').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export async function listRegions(db: Db, parentRegionId?: string): Promise<RegionRow[]> {
  let q = db.selectFrom('regions').selectAll();
  if (parentRegionId !== undefined) q = q.where('parent_region_id', '=', parentRegionId);
  return q.orderBy('id').execute();
}

export async function insertRegion(db: Db, row: RegionRow): Promise<void> {
  await db.insertInto('regions').values(row).execute();
}

export async function updateRegion(db: Db, id: string, changes: Partial<Omit<RegionRow, 'id'>>): Promise<void> {
  await db.updateTable('regions').set(changes).where('id', '=', id).execute();
}

/** The region and every region below it (what a delete removes), by walking parent links. */
export async function regionSubtree(db: Db, id: string): Promise<string[]> {
  const all = await db.selectFrom('regions').select(['id', 'parent_region_id']).execute();
  const children = new Map<string, string[]>();
  for (const r of all) if (r.parent_region_id !== null) children.set(r.parent_region_id, [...(children.get(r.parent_region_id) ?? []), r.id]);
  const out: string[] = [];
  const seen = new Set<string>();
  const stack = [id];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    out.push(next);
    stack.push(...(children.get(next) ?? []));
  }
  return out;
}

export async function deleteRegions(db: Db, ids: string[]): Promise<void> {
  if (ids.length > 0) await db.deleteFrom('regions').where('id', 'in', ids).execute();
}

export async function endpointsInRegions(db: Db, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const row = await db.selectFrom('catalog_endpoints').select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('region_id', 'in', ids).executeTakeFirstOrThrow();
  return Number(row.n);
}

// ---- services

export async function getService(db: Db, id: string): Promise<CatalogServiceRow | null> {
  return (await db.selectFrom('catalog_services').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export async function listServices(db: Db, f: { type?: string; name?: string } = {}): Promise<CatalogServiceRow[]> {
  let q = db.selectFrom('catalog_services').selectAll();
  if (f.type !== undefined) q = q.where('type', '=', f.type);
  if (f.name !== undefined) q = q.where('name', '=', f.name);
  return q.orderBy('type').orderBy('id').execute();
}

export async function insertService(db: Db, row: CatalogServiceRow): Promise<void> {
  await db.insertInto('catalog_services').values(row).execute();
}

export async function updateService(db: Db, id: string, changes: Partial<Omit<CatalogServiceRow, 'id'>>): Promise<void> {
  await db.updateTable('catalog_services').set(changes).where('id', '=', id).execute();
}

/** A service goes with its endpoints, as Keystone's does. */
export async function deleteService(db: Db, id: string): Promise<void> {
  await atomically(db, async (tx) => {
    await tx.deleteFrom('catalog_endpoints').where('service_id', '=', id).execute();
    await tx.deleteFrom('catalog_services').where('id', '=', id).execute();
  });
}

// ---- endpoints

export async function getEndpoint(db: Db, id: string): Promise<CatalogEndpointRow | null> {
  return (await db.selectFrom('catalog_endpoints').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export interface EndpointFilters { interface?: string; service_id?: string; region_id?: string }

export async function listEndpoints(db: Db, f: EndpointFilters = {}): Promise<CatalogEndpointRow[]> {
  let q = db.selectFrom('catalog_endpoints').selectAll();
  if (f.interface !== undefined) q = q.where('interface', '=', f.interface);
  if (f.service_id !== undefined) q = q.where('service_id', '=', f.service_id);
  if (f.region_id !== undefined) q = q.where('region_id', '=', f.region_id);
  return q.orderBy('service_id').orderBy('interface').orderBy('id').execute();
}

export async function insertEndpoint(db: Db, row: CatalogEndpointRow): Promise<void> {
  await db.insertInto('catalog_endpoints').values(row).execute();
}

export async function updateEndpoint(db: Db, id: string, changes: Partial<Omit<CatalogEndpointRow, 'id'>>): Promise<void> {
  await db.updateTable('catalog_endpoints').set(changes).where('id', '=', id).execute();
}

export async function deleteEndpoint(db: Db, id: string): Promise<boolean> {
  const res = await db.deleteFrom('catalog_endpoints').where('id', '=', id).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/** The enabled services and their enabled endpoints: what a token's catalog is built from. */
export async function enabledCatalog(db: Db): Promise<{ services: CatalogServiceRow[]; endpoints: CatalogEndpointRow[] }> {
  const services = await db.selectFrom('catalog_services').selectAll().where('enabled', '=', 1).orderBy('type').orderBy('id').execute();
  const endpoints = await db.selectFrom('catalog_endpoints').selectAll().where('enabled', '=', 1).orderBy('interface').orderBy('id').execute();
  return { services, endpoints };
}

/**
 * Writes the rows of a service the process runs (its stable id, its endpoints' stable ids),
 * as `keystone-manage bootstrap` does: created when missing, its URLs brought up to date.
 */
export async function upsertRunningService(
  db: Db, service: CatalogServiceRow, endpoints: CatalogEndpointRow[], region: RegionRow,
): Promise<void> {
  await atomically(db, async (tx) => {
    if (!(await getRegion(tx, region.id))) await insertRegion(tx, region);
    const existing = await getService(tx, service.id);
    if (!existing) await insertService(tx, service);
    for (const e of endpoints) {
      const current = await getEndpoint(tx, e.id);
      if (!current) await insertEndpoint(tx, e);
      else if (current.url !== e.url) await updateEndpoint(tx, e.id, { url: e.url });
    }
  });
}
