import { sql, type Selectable } from 'kysely';
import type { Db } from './connection.js';
import type { AllocationTable, InventoryTable } from './schema.js';

/**
 * What the Placement API reads: resource providers (one per live compute node), their
 * inventories, usages, traits, aggregates and allocations. The services write them
 * (compute-nodes.ts, allocations.ts); Placement's API only reads.
 */

export interface ResourceProvider { uuid: string; hypervisor_hostname: string; host: string }
export type InventoryRow = Selectable<InventoryTable>;
export type AllocationRow = Selectable<AllocationTable>;

/** The provider of a live node, or null. */
export async function getResourceProvider(db: Db, uuid: string): Promise<ResourceProvider | null> {
  const node = await db.selectFrom('compute_nodes').select(['uuid', 'hypervisor_hostname', 'host'])
    .where('uuid', '=', uuid).where('deleted', '=', 0).executeTakeFirst();
  return node ?? null;
}

export interface ProviderFilter {
  name?: string;
  uuid?: string;
  /** Amounts by resource class that each provider must have room for (Placement's 1.4 `resources`). */
  resources?: Array<[string, number]>;
}

/** The providers matching `f`, in node id order. */
export async function listResourceProviders(db: Db, f: ProviderFilter): Promise<Array<{ uuid: string; hypervisor_hostname: string }>> {
  let q = db.selectFrom('compute_nodes as cn').select(['cn.uuid as uuid', 'cn.hypervisor_hostname as hypervisor_hostname']).where('cn.deleted', '=', 0);
  if (f.name !== undefined) q = q.where('cn.hypervisor_hostname', '=', f.name);
  if (f.uuid !== undefined) q = q.where('cn.uuid', '=', f.uuid);
  // Providers with room for every amount asked: the claim's test (allocations.ts).
  for (const [rc, n] of f.resources ?? []) {
    q = q.where(({ exists, selectFrom }) => exists(selectFrom('inventories as inv').select('inv.node_uuid')
      .whereRef('inv.node_uuid', '=', 'cn.uuid').where('inv.resource_class', '=', rc).where('inv.max_unit', '>=', n)
      .where(sql<boolean>`inv.used + ${n} <= (inv.total - inv.reserved) * inv.allocation_ratio`)));
  }
  return q.orderBy('cn.id').execute();
}

/** A provider's inventories, by resource class. */
export async function providerInventories(db: Db, nodeUuid: string): Promise<InventoryRow[]> {
  return db.selectFrom('inventories').selectAll().where('node_uuid', '=', nodeUuid).orderBy('resource_class').execute();
}

/** A provider's inventory of one resource class, or null. */
export async function providerInventory(db: Db, nodeUuid: string, resourceClass: string): Promise<InventoryRow | null> {
  return (await db.selectFrom('inventories').selectAll().where('node_uuid', '=', nodeUuid).where('resource_class', '=', resourceClass).executeTakeFirst()) ?? null;
}

/** What is used of each resource class of a provider, by class. */
export async function providerUsages(db: Db, nodeUuid: string): Promise<Array<{ resource_class: string; used: number }>> {
  return db.selectFrom('inventories').select(['resource_class', 'used']).where('node_uuid', '=', nodeUuid).orderBy('resource_class').execute();
}

/** A provider's traits, sorted. */
export async function providerTraits(db: Db, nodeUuid: string): Promise<string[]> {
  const rows = await db.selectFrom('node_traits').select('trait').where('node_uuid', '=', nodeUuid).orderBy('trait').execute();
  return rows.map((r) => r.trait);
}

/** The uuids of the live aggregates a host is in, sorted. */
export async function aggregateUuidsOfHost(db: Db, host: string): Promise<string[]> {
  const rows = await db.selectFrom('aggregate_hosts as ah')
    .innerJoin('aggregates as a', (j) => j.onRef('a.id', '=', 'ah.aggregate_id').on('a.deleted', '=', 0))
    .select('a.uuid').where('ah.host', '=', host).orderBy('a.uuid').execute();
  return rows.map((r) => r.uuid);
}

/** The allocations against a provider, by consumer. */
export async function allocationsOnProvider(db: Db, nodeUuid: string): Promise<AllocationRow[]> {
  return db.selectFrom('allocations').selectAll().where('node_uuid', '=', nodeUuid).orderBy('consumer_uuid').execute();
}

/** A consumer's allocations, by provider. */
export async function allocationsOfConsumer(db: Db, consumerUuid: string): Promise<AllocationRow[]> {
  return db.selectFrom('allocations').selectAll().where('consumer_uuid', '=', consumerUuid).orderBy('node_uuid').execute();
}

/** The project and user of a consumer (an instance, deleted ones too), or null. */
export async function consumerOwner(db: Db, consumerUuid: string): Promise<{ project_id: string; user_id: string } | null> {
  return (await db.selectFrom('instances').select(['project_id', 'user_id']).where('uuid', '=', consumerUuid).executeTakeFirst()) ?? null;
}
