import type { Insertable, Selectable } from 'kysely';
import { Conflict, NotFound } from '../common/errors.js';
import { now } from '../common/time.js';
import type { Flavor } from '../objects/compute.js';
import type { Db } from './connection.js';
import { lockKey } from './locks.js';
import type { FlavorTable } from './schema.js';

export type FlavorRow = Selectable<FlavorTable>;

export function rowToFlavor(row: FlavorRow, extraSpecs: Record<string, string>): Flavor {
  return {
    flavorid: row.flavorid,
    name: row.name,
    vcpus: row.vcpus,
    memoryMb: row.memory_mb,
    rootGb: row.root_gb,
    ephemeralGb: row.ephemeral_gb,
    swap: row.swap,
    rxtxFactor: row.rxtx_factor,
    isPublic: row.is_public === 1,
    disabled: row.disabled === 1,
    description: row.description,
    extraSpecs,
  };
}

/** A live flavor row by its API id, or null. */
export async function getFlavorRow(db: Db, flavorid: string): Promise<FlavorRow | null> {
  return (await db.selectFrom('flavors').selectAll().where('flavorid', '=', flavorid).where('deleted', '=', 0).executeTakeFirst()) ?? null;
}

/** The Flavor object (with extra specs) the servers API and the conductor use; null when unknown. */
export async function getFlavor(db: Db, flavorid: string): Promise<Flavor | null> {
  const row = await getFlavorRow(db, flavorid);
  if (!row) return null;
  return rowToFlavor(row, await getExtraSpecs(db, flavorid));
}

export interface FlavorFilter {
  /** true: public flavors plus the private ones `projectId` may use; false: private only; null: all. */
  isPublic: boolean | null;
  projectId: string | null;
  includeDisabled: boolean;
  minMemoryMb?: number;
  minRootGb?: number;
}

/** Live flavors matching a filter, in id order (callers sort and page). */
export async function listFlavorRows(db: Db, f: FlavorFilter): Promise<FlavorRow[]> {
  let q = db.selectFrom('flavors').selectAll().where('deleted', '=', 0);
  if (!f.includeDisabled) q = q.where('disabled', '=', 0);
  if (f.minMemoryMb !== undefined) q = q.where('memory_mb', '>=', f.minMemoryMb);
  if (f.minRootGb !== undefined) q = q.where('root_gb', '>=', f.minRootGb);
  if (f.isPublic === false) q = q.where('is_public', '=', 0);
  if (f.isPublic === true) {
    const projectId = f.projectId;
    q = projectId === null
      ? q.where('is_public', '=', 1)
      : q.where((eb) => eb.or([
        eb('is_public', '=', 1),
        eb('flavorid', 'in', eb.selectFrom('flavor_projects').select('flavorid').where('project_id', '=', projectId)),
      ]));
  }
  return q.orderBy('id').execute();
}

/** Whether a project may use a flavor: public ones always, private ones when granted access. */
export async function projectCanUseFlavor(db: Db, row: FlavorRow, projectId: string | null): Promise<boolean> {
  if (row.is_public === 1) return true;
  if (projectId === null) return false;
  const hit = await db.selectFrom('flavor_projects').select('project_id')
    .where('flavorid', '=', row.flavorid).where('project_id', '=', projectId).executeTakeFirst();
  return hit !== undefined;
}

export type NewFlavor = Omit<Insertable<FlavorTable>, 'id' | 'deleted' | 'created_at'>;

/** Creates a flavor; Conflict when a live flavor already has its name or id (checked under a lock: no unique index can say it). */
export async function createFlavor(db: Db, values: NewFlavor): Promise<FlavorRow> {
  return db.transaction().execute(async (tx) => {
    await lockKey(tx, 'flavors');
    const clash = await tx.selectFrom('flavors').select(['name', 'flavorid']).where('deleted', '=', 0)
      .where((eb) => eb.or([eb('name', '=', values.name), eb('flavorid', '=', values.flavorid)]))
      .executeTakeFirst();
    if (clash?.flavorid === values.flavorid) throw new Conflict(`Flavor with ID ${values.flavorid} already exists.`);
    if (clash) throw new Conflict(`Flavor with name ${values.name} already exists.`);
    await tx.insertInto('flavors').values({ ...values, deleted: 0, created_at: now().toISOString() }).execute();
    return tx.selectFrom('flavors').selectAll().where('flavorid', '=', values.flavorid).where('deleted', '=', 0).executeTakeFirstOrThrow();
  });
}

/** Deletes a flavor (soft, Nova's way) with its extra specs and access list; false when unknown. */
export async function deleteFlavor(db: Db, flavorid: string): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const row = await tx.selectFrom('flavors').select('id').where('flavorid', '=', flavorid).where('deleted', '=', 0).executeTakeFirst();
    if (!row) return false;
    await tx.updateTable('flavors').set({ deleted: row.id }).where('id', '=', row.id).execute();
    await tx.deleteFrom('flavor_extra_specs').where('flavorid', '=', flavorid).execute();
    await tx.deleteFrom('flavor_projects').where('flavorid', '=', flavorid).execute();
    return true;
  });
}

export async function getExtraSpecs(db: Db, flavorid: string): Promise<Record<string, string>> {
  const rows = await db.selectFrom('flavor_extra_specs').select(['key', 'value']).where('flavorid', '=', flavorid).orderBy('key').execute();
  return Object.fromEntries(rows.map((r) => [r.key, r.value]));
}

/** Adds or replaces extra specs of a live flavor (others are kept). */
export async function setExtraSpecs(db: Db, flavorid: string, specs: Record<string, string>): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const live = await tx.selectFrom('flavors').select('id').where('flavorid', '=', flavorid).where('deleted', '=', 0).executeTakeFirst();
    if (!live) throw new NotFound(`Flavor ${flavorid} could not be found.`);
    for (const [key, value] of Object.entries(specs)) {
      await tx.insertInto('flavor_extra_specs').values({ flavorid, key, value })
        .onConflict((oc) => oc.columns(['flavorid', 'key']).doUpdateSet({ value })).execute();
    }
  });
}

/** Removes one extra spec; false when the flavor has no such key. */
export async function deleteExtraSpec(db: Db, flavorid: string, key: string): Promise<boolean> {
  const res = await db.deleteFrom('flavor_extra_specs').where('flavorid', '=', flavorid).where('key', '=', key).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/** Projects granted access to a (private) flavor, sorted. */
export async function flavorAccessProjects(db: Db, flavorid: string): Promise<string[]> {
  const rows = await db.selectFrom('flavor_projects').select('project_id').where('flavorid', '=', flavorid).orderBy('project_id').execute();
  return rows.map((r) => r.project_id);
}

/** Grants a project access; Conflict when it already has it. */
export async function addFlavorAccess(db: Db, flavorid: string, projectId: string): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const hit = await tx.selectFrom('flavor_projects').select('project_id')
      .where('flavorid', '=', flavorid).where('project_id', '=', projectId).executeTakeFirst();
    if (hit) throw new Conflict(`Flavor access already exists for flavor ${flavorid} and project ${projectId} combination.`);
    await tx.insertInto('flavor_projects').values({ flavorid, project_id: projectId }).execute();
  });
}

/** Revokes a project's access; NotFound when it had none. */
export async function removeFlavorAccess(db: Db, flavorid: string, projectId: string): Promise<void> {
  const res = await db.deleteFrom('flavor_projects').where('flavorid', '=', flavorid).where('project_id', '=', projectId).executeTakeFirst();
  if (Number(res.numDeletedRows) === 0) {
    throw new NotFound(`Flavor access not found for ${flavorid} / ${projectId} combination.`);
  }
}

/** devstack's default flavors. */
const DEFAULT_FLAVORS: Array<{ flavorid: string; name: string; memory_mb: number; root_gb: number; vcpus: number }> = [
  { flavorid: '1', name: 'm1.tiny', memory_mb: 512, root_gb: 1, vcpus: 1 },
  { flavorid: '2', name: 'm1.small', memory_mb: 2048, root_gb: 20, vcpus: 1 },
  { flavorid: '3', name: 'm1.medium', memory_mb: 4096, root_gb: 40, vcpus: 2 },
  { flavorid: '4', name: 'm1.large', memory_mb: 8192, root_gb: 80, vcpus: 4 },
  { flavorid: '5', name: 'm1.xlarge', memory_mb: 16384, root_gb: 160, vcpus: 8 },
  { flavorid: '42', name: 'm1.nano', memory_mb: 128, root_gb: 1, vcpus: 1 },
  { flavorid: '84', name: 'm1.micro', memory_mb: 192, root_gb: 1, vcpus: 1 },
];

/**
 * Creates the default flavors that do not exist yet. Idempotent; a default an operator deleted
 * (its soft-deleted row remains) or whose name a live flavor took is not brought back.
 */
export async function seedFlavors(db: Db): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const existing = await tx.selectFrom('flavors').select(['flavorid', 'name', 'deleted']).execute();
    const ids = new Set(existing.map((r) => r.flavorid));
    const liveNames = new Set(existing.filter((r) => r.deleted === 0).map((r) => r.name));
    const ts = now().toISOString();
    for (const f of DEFAULT_FLAVORS) {
      if (ids.has(f.flavorid) || liveNames.has(f.name)) continue;
      await tx.insertInto('flavors').values({
        ...f, ephemeral_gb: 0, swap: 0, rxtx_factor: 1, is_public: 1, disabled: 0, description: null, deleted: 0, created_at: ts,
      }).execute();
    }
  });
}

/** Sets a live flavor's description (the one thing Nova lets change, from 2.55); null when unknown. */
export async function updateFlavorDescription(db: Db, flavorid: string, description: string | null): Promise<FlavorRow | null> {
  const res = await db.updateTable('flavors').set({ description }).where('flavorid', '=', flavorid).where('deleted', '=', 0).executeTakeFirst();
  return Number(res.numUpdatedRows) === 0 ? null : getFlavorRow(db, flavorid);
}

/** The extra specs of many flavors in one query (the flavor views of 2.61 embed them). */
export async function getExtraSpecsOf(db: Db, flavorids: string[]): Promise<Map<string, Record<string, string>>> {
  const entries = new Map<string, Array<[string, string]>>(flavorids.map((id) => [id, []]));
  if (flavorids.length > 0) {
    const rows = await db.selectFrom('flavor_extra_specs').select(['flavorid', 'key', 'value']).where('flavorid', 'in', flavorids).orderBy('key').execute();
    for (const r of rows) entries.get(r.flavorid)?.push([r.key, r.value]);
  }
  return new Map([...entries].map(([id, e]) => [id, Object.fromEntries(e)])); // keys are data: see common/records.ts
}
