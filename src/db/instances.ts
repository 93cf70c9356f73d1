import { Conflict, NotFound } from '../common/errors.js';
import { now } from '../common/time.js';
import type { Flavor, ImageMeta, Instance } from '../objects/compute.js';
import type { Db } from './connection.js';
import { atomically } from './transactions.js';
import { releaseResources } from './allocations.js';
import type { InstanceTable } from './schema.js';
import type { Insertable, Selectable } from 'kysely';
import { parseNetworkInfo } from './instance-network.js';

export type InstanceRow = Selectable<InstanceTable>;

/** Maps a row (and its metadata) to the Instance object that travels over RPC; the id is not needed, so a row about to be inserted does too. */
export function rowToInstance(row: Omit<InstanceRow, 'id'>, metadata: Record<string, string>): Instance {
  return {
    uuid: row.uuid,
    name: row.display_name,
    hostname: row.hostname,
    description: row.display_description,
    projectId: row.project_id,
    userId: row.user_id,
    imageRef: row.image_ref,
    flavor: JSON.parse(row.flavor) as Flavor,
    imageMeta: JSON.parse(row.image_meta) as ImageMeta,
    vmState: row.vm_state,
    taskState: row.task_state,
    powerState: row.power_state,
    host: row.host,
    node: row.node,
    nodeUuid: row.node_uuid,
    availabilityZone: row.availability_zone,
    keyName: row.key_name,
    keyData: row.key_data,
    userData: row.user_data,
    metadata,
    locked: row.locked === 1,
    launchedAt: row.launched_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    // Only a server with a cache carries one (an Instance of before #13 looks as it did).
    ...(row.network_info ? { networkInfo: parseNetworkInfo(row.network_info) } : {}),
  };
}

export async function metadataFor(db: Db, uuids: string[]): Promise<Map<string, Record<string, string>>> {
  const entries = new Map<string, Array<[string, string]>>();
  if (uuids.length === 0) return new Map();
  const rows = await db.selectFrom('instance_metadata').selectAll().where('instance_uuid', 'in', uuids).execute();
  for (const r of rows) {
    const list = entries.get(r.instance_uuid) ?? [];
    list.push([r.key, r.value]);
    entries.set(r.instance_uuid, list);
  }
  // From entries: a key named `__proto__` is a key like any other (common/records.ts).
  return new Map([...entries].map(([uuid, list]) => [uuid, Object.fromEntries(list)]));
}

/** A live (not deleted) instance row, or null. */
export async function getInstanceRow(db: Db, uuid: string, opts: { includeDeleted?: boolean } = {}): Promise<InstanceRow | null> {
  let q = db.selectFrom('instances').selectAll().where('uuid', '=', uuid);
  if (!opts.includeDeleted) q = q.where('deleted', '=', 0);
  return (await q.executeTakeFirst()) ?? null;
}

export async function getInstance(db: Db, uuid: string): Promise<Instance | null> {
  const row = await getInstanceRow(db, uuid);
  if (!row) return null;
  const md = await metadataFor(db, [uuid]);
  return rowToInstance(row, md.get(uuid) ?? {});
}

export async function insertInstance(db: Db, row: Insertable<InstanceTable>, metadata: Record<string, string>): Promise<void> {
  await db.insertInto('instances').values(row).execute();
  const entries = Object.entries(metadata);
  if (entries.length > 0) {
    await db.insertInto('instance_metadata')
      .values(entries.map(([key, value]) => ({ instance_uuid: row.uuid, key, value })))
      .execute();
  }
}

/**
 * Rows per INSERT when many instances are inserted at once: a multi-create's 500 instances and
 * their create actions took 30–47 ms one statement each, statement building most of it, and
 * 12 ms in chunks. 100 rows of about 45 columns stay far below SQLite's 32766 and PostgreSQL's
 * 65535 bound parameters.
 */
const INSERT_CHUNK = 100;

/** insertInstance for many instances (a multi-create), a chunk of rows per statement. */
export async function insertInstances(db: Db, instances: Array<{ row: Insertable<InstanceTable>; metadata: Record<string, string> }>): Promise<void> {
  for (let i = 0; i < instances.length; i += INSERT_CHUNK) {
    const chunk = instances.slice(i, i + INSERT_CHUNK);
    await db.insertInto('instances').values(chunk.map((c) => c.row)).execute();
    const entries = chunk.flatMap((c) => Object.entries(c.metadata).map(([key, value]) => ({ instance_uuid: c.row.uuid, key, value })));
    for (let j = 0; j < entries.length; j += INSERT_CHUNK * 4) {
      await db.insertInto('instance_metadata').values(entries.slice(j, j + INSERT_CHUNK * 4)).execute();
    }
  }
}

export type InstanceRowUpdates = Partial<Omit<InstanceRow, 'id' | 'uuid'>>;

/**
 * Updates a live instance. When `expectedTaskState` is given, the update applies only while the
 * task state is one of those values: this is what makes state transitions race-free.
 */
export async function updateInstanceRow(
  db: Db, uuid: string, updates: InstanceRowUpdates, expectedTaskState?: Array<string | null>, opts: UpdateOptions = {},
): Promise<void> {
  const res = await updateQuery(db, uuid, updates, expectedTaskState).executeTakeFirst();
  if (Number(res.numUpdatedRows) === 0) await refuseUpdate(db, uuid, updates, expectedTaskState, opts);
}

/** updateInstanceRow that answers the row as the update left it (one statement, where a re-read would be two). */
export async function updateInstanceRowReturning(
  db: Db, uuid: string, updates: InstanceRowUpdates, expectedTaskState?: Array<string | null>, opts: UpdateOptions = {},
): Promise<InstanceRow> {
  const row = await updateQuery(db, uuid, updates, expectedTaskState).returningAll().executeTakeFirst();
  return row ?? refuseUpdate(db, uuid, updates, expectedTaskState, opts);
}

export interface UpdateOptions {
  /**
   * The update may be one made before, again: a message redelivered after its first handling
   * committed (its answer lost with a killed conductor). Then an instance already as the
   * update would leave it is a success, not a conflict. Not for API requests: two users' equal
   * requests racing are two requests, and the second is refused as Nova refuses it.
   */
  repeatable?: boolean;
}

function updateQuery(db: Db, uuid: string, updates: InstanceRowUpdates, expectedTaskState?: Array<string | null>) {
  let q = db.updateTable('instances')
    .set({ ...updates, updated_at: now().toISOString() })
    .where('uuid', '=', uuid)
    .where('deleted', '=', 0);
  if (expectedTaskState) {
    const values = expectedTaskState.filter((s): s is string => s !== null);
    const allowNull = expectedTaskState.includes(null);
    q = q.where((eb) => {
      const ors = [];
      if (values.length > 0) ors.push(eb('task_state', 'in', values));
      if (allowNull) ors.push(eb('task_state', 'is', null));
      return eb.or(ors);
    });
  }
  return q;
}

/**
 * Why an update changed nothing: the instance is gone (404) or its task state moved on (409) —
 * unless the update is `repeatable` and the instance already is as it would leave it, which
 * answers the row.
 */
async function refuseUpdate(
  db: Db, uuid: string, updates: InstanceRowUpdates, expectedTaskState: Array<string | null> | undefined, opts: UpdateOptions,
): Promise<InstanceRow> {
  const row = await getInstanceRow(db, uuid);
  if (!row) throw new NotFound(`Instance ${uuid} could not be found.`);
  const entries = Object.entries(updates) as Array<[keyof InstanceRowUpdates, unknown]>;
  if (opts.repeatable && entries.length > 0 && entries.every(([column, value]) => row[column] === value)) return row;
  throw new Conflict(
    `Cannot update instance ${uuid}: task_state is ${row.task_state ?? 'None'}, expected ${expectedTaskState?.map((s) => s ?? 'None').join(' or ')}`,
  );
}

/**
 * Soft-deletes an instance the Nova way (deleted = id) and drops its metadata; false when there
 * was no live instance to delete. `unscheduled`: only while no node has it (the API's delete of
 * a server not yet placed, so that a concurrent scheduling either wins or finds it deleted).
 */
export async function markInstanceDeleted(db: Db, uuid: string, opts: { unscheduled?: boolean } = {}): Promise<boolean> {
  const ts = now().toISOString();
  // Also inside a caller's transaction (a compute's claim checked with it, conductor/cluster.ts).
  return atomically(db, async (tx) => {
    let q = tx.updateTable('instances')
      .set((eb) => ({
        deleted: eb.ref('id'), deleted_at: ts, terminated_at: ts, updated_at: ts, vm_state: 'deleted', task_state: null, power_state: 0,
      }))
      .where('uuid', '=', uuid).where('deleted', '=', 0);
    if (opts.unscheduled) q = q.where('node', 'is', null);
    const res = await q.executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) return false;
    await tx.deleteFrom('instance_metadata').where('instance_uuid', '=', uuid).execute();
    // A move under way holds the source's claim under its migration's uuid: gone with the instance.
    for (const m of await tx.selectFrom('migrations').select('uuid').where('instance_uuid', '=', uuid).execute()) await releaseResources(tx, m.uuid);
    return true;
  });
}

/**
 * updateInstanceRowReturning that also says whether this call made the update: false for a
 * repeat found already made (`repeatable`), so that what is written with the update (conductor
 * RPC 1.5: its action event) is not written twice.
 */
export async function updateInstanceRowOnce(
  db: Db, uuid: string, updates: InstanceRowUpdates, expectedTaskState?: Array<string | null>, opts: UpdateOptions = {},
): Promise<{ applied: boolean; row: InstanceRow }> {
  const row = await updateQuery(db, uuid, updates, expectedTaskState).returningAll().executeTakeFirst();
  return row ? { applied: true, row } : { applied: false, row: await refuseUpdate(db, uuid, updates, expectedTaskState, opts) };
}

/** The live instances on a host, with their metadata (a compute's start-up recovery and power sync). */
export async function instancesOnHost(db: Db, host: string): Promise<Instance[]> {
  const rows = await db.selectFrom('instances').selectAll().where('host', '=', host).where('deleted', '=', 0).execute();
  const md = await metadataFor(db, rows.map((r) => r.uuid));
  return rows.map((r) => rowToInstance(r, md.get(r.uuid) ?? {}));
}
