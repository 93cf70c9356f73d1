import type { Config } from '../common/config.js';
import { BadRequest, Conflict, NotFound } from '../common/errors.js';
import { newUuid } from '../common/ids.js';
import { now } from '../common/time.js';
import type { Db } from './connection.js';
import { lockKey } from './locks.js';
import type { ServiceRow } from './services.js';

/** Nova keeps an aggregate's availability zone as this metadata key. */
export const AZ_KEY = 'availability_zone';

export interface Aggregate {
  id: number;
  uuid: string;
  name: string;
  availabilityZone: string | null;
  hosts: string[];
  metadata: Record<string, string>;
  createdAt: string;
  updatedAt: string | null;
}

async function loadAggregates(db: Db, ids?: number[]): Promise<Aggregate[]> {
  let q = db.selectFrom('aggregates').selectAll().where('deleted', '=', 0);
  if (ids) q = q.where('id', 'in', ids.length > 0 ? ids : [-1]);
  const rows = await q.orderBy('id').execute();
  if (rows.length === 0) return [];
  const rowIds = rows.map((r) => r.id);
  const hosts = await db.selectFrom('aggregate_hosts').selectAll().where('aggregate_id', 'in', rowIds).orderBy('host').execute();
  const meta = await db.selectFrom('aggregate_metadata').selectAll().where('aggregate_id', 'in', rowIds).orderBy('key').execute();
  return rows.map((r) => {
    const metadata = Object.fromEntries(meta.filter((m) => m.aggregate_id === r.id).map((m) => [m.key, m.value]));
    return {
      id: r.id,
      uuid: r.uuid,
      name: r.name,
      availabilityZone: metadata[AZ_KEY] ?? null,
      hosts: hosts.filter((h) => h.aggregate_id === r.id).map((h) => h.host),
      metadata,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  });
}

export async function listAggregates(db: Db): Promise<Aggregate[]> {
  return loadAggregates(db);
}

export async function getAggregate(db: Db, id: number): Promise<Aggregate | null> {
  return (await loadAggregates(db, [id]))[0] ?? null;
}

async function mustGet(tx: Db, id: number): Promise<Aggregate> {
  const agg = (await loadAggregates(tx, [id]))[0];
  if (!agg) throw new NotFound(`Aggregate ${id} could not be found.`);
  return agg;
}

async function assertNameFree(tx: Db, name: string, exceptId?: number): Promise<void> {
  let q = tx.selectFrom('aggregates').select('id').where('name', '=', name).where('deleted', '=', 0);
  if (exceptId !== undefined) q = q.where('id', '!=', exceptId);
  if (await q.executeTakeFirst()) throw new Conflict(`Aggregate ${name} already exists.`);
}

/** Zones other than `az` that other aggregates give to any of `hosts` (Nova forbids a host in two zones). */
async function conflictingZones(tx: Db, hosts: string[], az: string, aggregateId: number): Promise<string[]> {
  if (hosts.length === 0) return [];
  const rows = await tx.selectFrom('aggregate_hosts as ah')
    .innerJoin('aggregates as a', (j) => j.onRef('a.id', '=', 'ah.aggregate_id').on('a.deleted', '=', 0))
    .innerJoin('aggregate_metadata as am', (j) => j.onRef('am.aggregate_id', '=', 'ah.aggregate_id').on('am.key', '=', AZ_KEY))
    .select('am.value').distinct()
    .where('ah.host', 'in', hosts).where('a.id', '!=', aggregateId).where('am.value', '!=', az)
    .execute();
  return rows.map((r) => r.value).sort();
}

/**
 * Nova's is_safe_to_update_az: a zone may not be empty, the aggregate's hosts may not sit in
 * another zone, and the zone of hosts that run instances may not change. Returns the reason
 * the change is refused, or null.
 */
async function unsafeZoneChange(tx: Db, agg: Aggregate, az: string | null): Promise<string | null> {
  if (!az) return `Aggregate ${agg.name} does not support empty named availability zone`;
  const conflicts = await conflictingZones(tx, agg.hosts, az, agg.id);
  if (conflicts.length > 0) return `One or more hosts already in availability zone(s) ${JSON.stringify(conflicts)}`;
  if (agg.availabilityZone !== az && agg.hosts.length > 0) {
    const r = await tx.selectFrom('instances').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('host', 'in', agg.hosts).where('deleted', '=', 0).executeTakeFirstOrThrow();
    if (Number(r.n) > 0) return "The aggregate already has instances hosted on it and its availability zone can't be changed.";
  }
  return null;
}

/**
 * Runs one change to aggregates. Nova's zone rules (a host in one zone only, no re-zoning hosts
 * that run instances, unique names) are checks over several rows before a write, so every
 * change holds one lock: concurrent API processes apply them one at a time.
 */
function changeAggregates<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (tx) => {
    await lockKey(tx, 'aggregates');
    return fn(tx);
  });
}

async function writeMetadata(tx: Db, id: number, metadata: Record<string, string | null>): Promise<void> {
  for (const [key, value] of Object.entries(metadata)) {
    await tx.deleteFrom('aggregate_metadata').where('aggregate_id', '=', id).where('key', '=', key).execute();
    if (value !== null) await tx.insertInto('aggregate_metadata').values({ aggregate_id: id, key, value }).execute();
  }
  await tx.updateTable('aggregates').set({ updated_at: now().toISOString() }).where('id', '=', id).execute();
}

export async function createAggregate(db: Db, name: string, availabilityZone: string | null): Promise<Aggregate> {
  return changeAggregates(db, async (tx) => {
    await assertNameFree(tx, name);
    await tx.insertInto('aggregates').values({ uuid: newUuid(), name, created_at: now().toISOString(), updated_at: null, deleted: 0 }).execute();
    const { id } = await tx.selectFrom('aggregates').select('id').where('name', '=', name).where('deleted', '=', 0).executeTakeFirstOrThrow();
    if (availabilityZone) await tx.insertInto('aggregate_metadata').values({ aggregate_id: id, key: AZ_KEY, value: availabilityZone }).execute();
    return mustGet(tx, id);
  });
}

/** Renames and/or re-zones an aggregate (`availabilityZone` present, even null, means change it). */
export async function updateAggregate(db: Db, id: number, changes: { name?: string; availabilityZone?: string | null }): Promise<Aggregate> {
  return changeAggregates(db, async (tx) => {
    const agg = await mustGet(tx, id);
    if (changes.name !== undefined) {
      await assertNameFree(tx, changes.name, id);
      await tx.updateTable('aggregates').set({ name: changes.name, updated_at: now().toISOString() }).where('id', '=', id).execute();
    }
    if ('availabilityZone' in changes) {
      const az = changes.availabilityZone ?? null;
      const why = await unsafeZoneChange(tx, agg, az);
      if (why) throw new BadRequest(`Cannot update aggregate ${id}. Reason: ${why}.`);
      await writeMetadata(tx, id, { [AZ_KEY]: az });
    }
    return mustGet(tx, id);
  });
}

/** Merges metadata into an aggregate's; a null value removes the key. */
export async function setAggregateMetadata(db: Db, id: number, metadata: Record<string, string | null>): Promise<Aggregate> {
  return changeAggregates(db, async (tx) => {
    const agg = await mustGet(tx, id);
    if (AZ_KEY in metadata) {
      const why = await unsafeZoneChange(tx, agg, metadata[AZ_KEY] ?? null);
      if (why) throw new BadRequest(`Cannot update metadata of aggregate ${id}. Reason: ${why}.`);
    }
    await writeMetadata(tx, id, metadata);
    return mustGet(tx, id);
  });
}

/** Adds a compute host: NotFound for an unknown host, Conflict when already there or zoned elsewhere. */
export async function addAggregateHost(db: Db, id: number, host: string): Promise<Aggregate> {
  return changeAggregates(db, async (tx) => {
    const service = await tx.selectFrom('services').select('host')
      .where('host', '=', host).where('binary', '=', 'nova-compute').where('deleted', '=', 0).executeTakeFirst();
    if (!service) throw new NotFound(`Compute host ${host} could not be found.`);
    const agg = await mustGet(tx, id);
    if (agg.availabilityZone !== null) {
      const conflicts = await conflictingZones(tx, [host], agg.availabilityZone, id);
      if (conflicts.length > 0) {
        throw new Conflict(`Cannot add host to aggregate ${id}. Reason: One or more hosts already in availability zone(s) ${JSON.stringify(conflicts)}.`);
      }
    }
    if (agg.hosts.includes(host)) throw new Conflict(`Aggregate ${id} already has host ${host}.`);
    await tx.insertInto('aggregate_hosts').values({ aggregate_id: id, host }).execute();
    return mustGet(tx, id);
  });
}

export async function removeAggregateHost(db: Db, id: number, host: string): Promise<Aggregate> {
  return changeAggregates(db, async (tx) => {
    const res = await tx.deleteFrom('aggregate_hosts').where('aggregate_id', '=', id).where('host', '=', host)
      .where('aggregate_id', 'in', tx.selectFrom('aggregates').select('id').where('deleted', '=', 0))
      .executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) throw new NotFound(`Cannot remove host ${host} in aggregate ${id}`);
    return mustGet(tx, id);
  });
}

/** Deletes an empty aggregate (soft, Nova's way); BadRequest while it still has hosts. */
export async function deleteAggregate(db: Db, id: number): Promise<void> {
  await changeAggregates(db, async (tx) => {
    const agg = await mustGet(tx, id);
    if (agg.hosts.length > 0) throw new BadRequest(`Cannot delete aggregate ${id}. Reason: Host aggregate is not empty.`);
    await tx.updateTable('aggregates').set({ deleted: id, updated_at: now().toISOString() }).where('id', '=', id).execute();
    await tx.deleteFrom('aggregate_metadata').where('aggregate_id', '=', id).execute();
  });
}

/** Drops a host from every aggregate (when its compute service is deleted). */
export async function removeHostFromAllAggregates(db: Db, host: string): Promise<void> {
  await db.deleteFrom('aggregate_hosts').where('host', '=', host).execute();
}

// ---- availability zones: a host is in the zone of its aggregates, else in the default zone

/** Host → availability zone, for hosts in an aggregate that has one. */
export async function hostAvailabilityZones(db: Db): Promise<Map<string, string>> {
  const rows = await db.selectFrom('aggregate_hosts as ah')
    .innerJoin('aggregates as a', (j) => j.onRef('a.id', '=', 'ah.aggregate_id').on('a.deleted', '=', 0))
    .innerJoin('aggregate_metadata as am', (j) => j.onRef('am.aggregate_id', '=', 'ah.aggregate_id').on('am.key', '=', AZ_KEY))
    .select(['ah.host', 'am.value']).orderBy('ah.host').orderBy('am.value').execute();
  const zones = new Map<string, Set<string>>();
  for (const r of rows) zones.set(r.host, (zones.get(r.host) ?? new Set()).add(r.value));
  // The API keeps a host in one zone; should data say otherwise, show all as Nova does.
  return new Map([...zones].map(([host, azs]) => [host, [...azs].join(',')]));
}

export async function availabilityZoneOfHost(db: Db, config: Config, host: string): Promise<string> {
  const row = await db.selectFrom('aggregate_hosts as ah')
    .innerJoin('aggregates as a', (j) => j.onRef('a.id', '=', 'ah.aggregate_id').on('a.deleted', '=', 0))
    .innerJoin('aggregate_metadata as am', (j) => j.onRef('am.aggregate_id', '=', 'ah.aggregate_id').on('am.key', '=', AZ_KEY))
    .select('am.value').where('ah.host', '=', host).orderBy('am.value').executeTakeFirst();
  return row?.value ?? config.str('DEFAULT', 'default_availability_zone');
}

/** The zone of a service: compute services are in their host's zone, the others in the internal one. */
export function serviceZone(service: Pick<ServiceRow, 'host' | 'binary'>, hostZones: Map<string, string>, config: Config): string {
  if (service.binary !== 'nova-compute') return config.str('DEFAULT', 'internal_service_availability_zone');
  return hostZones.get(service.host) ?? config.str('DEFAULT', 'default_availability_zone');
}

/** Live services with their zones, in id order. */
export async function servicesWithZones(db: Db, config: Config): Promise<ZonedService[]> {
  const [rows, hostZones] = await Promise.all([
    db.selectFrom('services').selectAll().where('deleted', '=', 0).orderBy('id').execute(),
    hostAvailabilityZones(db),
  ]);
  return rows.map((r) => ({ ...r, zone: serviceZone(r, hostZones, config) }));
}

export type ZonedService = ServiceRow & { zone: string };

/** Zones with an enabled service are available; zones whose services are all disabled are not. */
export function zonesOfServices(services: ZonedService[]): { available: string[]; unavailable: string[] } {
  const available = [...new Set(services.filter((s) => s.disabled === 0).map((s) => s.zone))].sort();
  const unavailable = [...new Set(services.filter((s) => s.disabled === 1).map((s) => s.zone))].filter((z) => !available.includes(z)).sort();
  return { available, unavailable };
}

/**
 * The zones users can see and boot into: those of compute services. A zone is available while
 * at least one of its compute services is enabled (Nova's get_availability_zones).
 */
export async function listAvailabilityZones(db: Db, config: Config): Promise<{ available: string[]; unavailable: string[] }> {
  return zonesOfServices((await servicesWithZones(db, config)).filter((s) => s.binary === 'nova-compute'));
}
