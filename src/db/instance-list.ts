import { sql, type Expression, type ExpressionBuilder, type SqlBool, type Selectable } from 'kysely';
import { BadRequest, Forbidden } from '../common/errors.js';
import { isPostgres, type Db } from './connection.js';
import type { Database, InstanceFaultTable, InstanceTable, ServiceTable } from './schema.js';
import type { InstanceRow } from './instances.js';

/**
 * Listing instances the way the servers API does (Nova's instance_get_all_by_filters_sort):
 * filters, several sort keys, and keyset pagination after a marker. Everything the page needs
 * besides the rows (metadata, faults, services) is loaded in one query per kind.
 */

type Column = keyof InstanceTable & string;

/** Columns the API may sort by, with how a NULL sorts (as the sentinel, on every database). */
const SORT_COLUMNS: Record<string, { column: Column; nullAs?: string | number }> = {
  access_ip_v4: { column: 'access_ip_v4', nullAs: '' },
  access_ip_v6: { column: 'access_ip_v6', nullAs: '' },
  availability_zone: { column: 'availability_zone', nullAs: '' },
  config_drive: { column: 'config_drive' },
  created_at: { column: 'created_at' },
  display_description: { column: 'display_description', nullAs: '' },
  display_name: { column: 'display_name' },
  host: { column: 'host', nullAs: '' },
  hostname: { column: 'hostname' },
  image_ref: { column: 'image_ref' },
  instance_type_id: { column: 'flavor_id' },
  key_name: { column: 'key_name', nullAs: '' },
  launch_index: { column: 'launch_index' },
  launched_at: { column: 'launched_at', nullAs: '' },
  locked: { column: 'locked' },
  locked_by: { column: 'locked_by', nullAs: '' },
  node: { column: 'node', nullAs: '' },
  power_state: { column: 'power_state' },
  progress: { column: 'progress' },
  project_id: { column: 'project_id' },
  task_state: { column: 'task_state', nullAs: '' },
  terminated_at: { column: 'terminated_at', nullAs: '' },
  updated_at: { column: 'updated_at' },
  user_id: { column: 'user_id' },
  uuid: { column: 'uuid' },
  vm_state: { column: 'vm_state' },
  id: { column: 'id' },
};

/** Keys Nova accepts but has no column for here (kernel and ramdisk images, disk config): ignored. */
const NO_COLUMN_SORT_KEYS = ['auto_disk_config', 'kernel_id', 'ramdisk_id', 'root_device_name'];

/** Keys Nova's schema accepts only to ignore them (SERVER_LIST_IGNORE_SORT_KEY). */
const IGNORED_SORT_KEYS = [
  'architecture', 'cell_name', 'cleaned', 'default_ephemeral_device', 'default_swap_device', 'deleted', 'deleted_at',
  'disable_terminate', 'ephemeral_gb', 'ephemeral_key_uuid', 'id', 'key_data', 'launched_on', 'locked', 'memory_mb',
  'os_type', 'reservation_id', 'root_gb', 'shutdown_terminate', 'user_data', 'vcpus', 'vm_mode',
];

/** Sort keys only admins may use; others' are dropped silently, as Nova does. */
const ADMIN_SORT_KEYS = ['host', 'node'];

export interface SortSpec {
  key: string;
  dir: 'asc' | 'desc';
}

/**
 * The sort of a listing from the query's sort_key/sort_dir, as Nova's get_sort_params,
 * remove_invalid_sort_keys and process_sort_params do it: keys default to created_at and
 * directions to desc; ignored keys drop with their direction; missing directions repeat the
 * first; created_at and id are appended so the order is total.
 */
export function sortSpecs(givenKeys: string[], givenDirs: string[], isAdmin: boolean, opts: { locked?: boolean } = {}): SortSpec[] {
  // `locked` sorts from 2.73 on (Nova's VALID_SORT_KEYS_V273); before, it is accepted and ignored.
  const validKeys = [...Object.keys(SORT_COLUMNS).filter((k) => k !== 'id' && (k !== 'locked' || opts.locked)), ...NO_COLUMN_SORT_KEYS];
  const ignoredKeys = IGNORED_SORT_KEYS.filter((k) => k !== 'locked' || !opts.locked);
  for (const k of givenKeys) {
    if (!validKeys.includes(k) && !ignoredKeys.includes(k)) {
      throw new BadRequest(`Invalid input for query parameters sort_key. Value: ${k}. '${k}' is not one of [${[...validKeys, ...ignoredKeys].map((s) => `'${s}'`).join(', ')}]`);
    }
  }
  const keys = givenKeys.length > 0 ? [...givenKeys] : ['created_at'];
  const dirs = givenDirs.length > 0 ? [...givenDirs] : ['desc'];
  for (const key of [...keys]) {
    if (ignoredKeys.includes(key) || NO_COLUMN_SORT_KEYS.includes(key)) {
      const i = keys.indexOf(key);
      if (dirs.length > i) dirs.splice(i, 1);
      keys.splice(i, 1);
    } else if (ADMIN_SORT_KEYS.includes(key) && !isAdmin) {
      throw new Forbidden(`Only administrators can sort servers by ${key}`);
    }
  }
  for (const d of dirs) {
    if (d !== 'asc' && d !== 'desc') throw new BadRequest("Invalid input received: Unknown sort direction, must be 'desc' or 'asc'");
  }
  if (dirs.length > keys.length) throw new BadRequest('Invalid input received: Sort direction size exceeds sort key size');
  const defaultDir = (dirs[0] ?? 'asc') as 'asc' | 'desc';
  const out: SortSpec[] = keys.map((key, i) => ({ key, dir: (dirs[i] ?? defaultDir) as 'asc' | 'desc' }));
  for (const key of ['created_at', 'id']) {
    if (!out.some((s) => s.key === key)) out.push({ key, dir: defaultDir });
  }
  return out;
}

export interface InstanceFilter {
  projectId?: string;
  userId?: string;
  uuid?: string;
  /**
   * Which of a batch of names the name filter keeps (a regular expression no database matches
   * the same way, so it runs in the caller): the listing reads batches until the page is full.
   */
  nameMatches?: (names: string[]) => boolean[];
  /** Up to this ISO timestamp (2.66 changes-before), deleted ones included. */
  changesBefore?: string;
  locked?: boolean;
  powerState?: number;
  progress?: number;
  configDrive?: string;
  createdAt?: string;
  launchedAt?: string;
  terminatedAt?: string;
  vmStates?: string[];
  taskStates?: string[];
  imageRef?: string;
  flavorId?: string;
  host?: string;
  node?: string;
  reservationId?: string;
  availabilityZone?: string;
  keyName?: string;
  hostname?: string;
  /** ISO timestamp: instances updated at or after it (deleted ones included). */
  changesSince?: string;
  deleted: 'no' | 'only' | 'include';
  tags?: string[];
  tagsAny?: string[];
  notTags?: string[];
  notTagsAny?: string[];
}

type Eb = ExpressionBuilder<Database, 'instances'>;

/** Tags are a JSON array of strings: a tag (case-sensitive, as Nova's) matches its quoted JSON form. */
function hasTag(tag: string, pg: boolean): Expression<SqlBool> {
  const needle = JSON.stringify(tag);
  return pg ? sql<SqlBool>`strpos(tags, ${needle}) > 0` : sql<SqlBool>`instr(tags, ${needle}) > 0`;
}

function filterExpression(eb: Eb, f: InstanceFilter, pg: boolean): Expression<SqlBool> {
  const tagged = (t: string): Expression<SqlBool> => hasTag(t, pg);
  const and: Array<Expression<SqlBool>> = [];
  if (f.deleted === 'no') and.push(eb('deleted', '=', 0));
  if (f.deleted === 'only') and.push(eb('deleted', '!=', 0));
  if (f.projectId !== undefined) and.push(eb('project_id', '=', f.projectId));
  if (f.userId !== undefined) and.push(eb('user_id', '=', f.userId));
  if (f.uuid !== undefined) and.push(eb('uuid', '=', f.uuid));
  if (f.vmStates !== undefined) and.push(f.vmStates.length > 0 ? eb('vm_state', 'in', f.vmStates) : sql<SqlBool>`1 = 0`);
  if (f.taskStates !== undefined) and.push(f.taskStates.length > 0 ? eb('task_state', 'in', f.taskStates) : sql<SqlBool>`1 = 0`);
  if (f.imageRef !== undefined) and.push(eb('image_ref', '=', f.imageRef));
  if (f.flavorId !== undefined) and.push(eb('flavor_id', '=', f.flavorId));
  if (f.host !== undefined) and.push(eb('host', '=', f.host));
  if (f.node !== undefined) and.push(eb('node', '=', f.node));
  if (f.reservationId !== undefined) and.push(eb('reservation_id', '=', f.reservationId));
  if (f.availabilityZone !== undefined) and.push(eb('availability_zone', '=', f.availabilityZone));
  if (f.keyName !== undefined) and.push(eb('key_name', '=', f.keyName));
  if (f.hostname !== undefined) and.push(eb('hostname', '=', f.hostname));
  if (f.changesSince !== undefined) and.push(eb('updated_at', '>=', f.changesSince));
  if (f.changesBefore !== undefined) and.push(eb('updated_at', '<=', f.changesBefore));
  if (f.locked !== undefined) and.push(eb('locked', '=', f.locked ? 1 : 0));
  if (f.powerState !== undefined) and.push(eb('power_state', '=', f.powerState));
  if (f.progress !== undefined) and.push(eb('progress', '=', f.progress));
  if (f.configDrive !== undefined) and.push(eb('config_drive', '=', f.configDrive));
  if (f.createdAt !== undefined) and.push(eb('created_at', '=', f.createdAt));
  if (f.launchedAt !== undefined) and.push(eb('launched_at', '=', f.launchedAt));
  if (f.terminatedAt !== undefined) and.push(eb('terminated_at', '=', f.terminatedAt));
  if (f.tags?.length) and.push(eb.and(f.tags.map(tagged)));
  if (f.tagsAny?.length) and.push(eb.or(f.tagsAny.map(tagged)));
  if (f.notTags?.length) and.push(eb.not(eb.and(f.notTags.map(tagged))));
  if (f.notTagsAny?.length) and.push(eb.and(f.notTagsAny.map((t) => eb.not(tagged(t)))));
  return eb.and(and);
}

function sortExpression(spec: SortSpec): Expression<unknown> {
  const col = SORT_COLUMNS[spec.key]!;
  return col.nullAs === undefined ? sql.ref(col.column) : sql`coalesce(${sql.ref(col.column)}, ${col.nullAs})`;
}

function sortValue(row: Partial<InstanceRow>, spec: SortSpec): unknown {
  const col = SORT_COLUMNS[spec.key]!;
  return row[col.column] ?? col.nullAs;
}

/** Rows strictly after `marker` in the sort order: (k1 > v1) or (k1 = v1 and k2 > v2) or … */
function afterMarker(eb: Eb, sort: SortSpec[], marker: Partial<InstanceRow>): Expression<SqlBool> {
  const ors: Array<Expression<SqlBool>> = [];
  for (let i = 0; i < sort.length; i++) {
    const ands: Array<Expression<SqlBool>> = [];
    for (let j = 0; j < i; j++) ands.push(sql<SqlBool>`${sortExpression(sort[j]!)} = ${sortValue(marker, sort[j]!)}`);
    const op = sort[i]!.dir === 'asc' ? sql.raw('>') : sql.raw('<');
    ands.push(sql<SqlBool>`${sortExpression(sort[i]!)} ${op} ${sortValue(marker, sort[i]!)}`);
    ors.push(eb.and(ands));
  }
  return eb.or(ors);
}

export interface ListPage {
  limit: number;
  /** uuid of the last instance of the previous page (deleted ones too). */
  marker?: string;
}

/** One page of instance rows (just `columns`) matching `filter` in `sort` order. */
export async function listInstanceRows<C extends keyof InstanceRow & string>(
  db: Db, filter: InstanceFilter, sort: SortSpec[], page: ListPage, columns: readonly C[],
): Promise<Array<Pick<InstanceRow, C>>> {
  if (page.limit <= 0) return [];
  let markerRow: InstanceRow | undefined;
  if (page.marker !== undefined) {
    // Only a row the listing could show may be the marker: another project's server must answer
    // exactly as a random uuid does (as Nova's project_only lookup of the marker).
    let mq = db.selectFrom('instances').selectAll().where('uuid', '=', page.marker);
    if (filter.projectId !== undefined) mq = mq.where('project_id', '=', filter.projectId);
    if (filter.userId !== undefined) mq = mq.where('user_id', '=', filter.userId);
    markerRow = await mq.executeTakeFirst();
    if (!markerRow) throw new BadRequest(`marker [${page.marker}] not found`);
  }
  if (filter.nameMatches) return namedPage(db, filter, filter.nameMatches, sort, page.limit, markerRow, columns);
  const q = pageQuery(db, filter, sort, markerRow, columns);
  return (await q.limit(page.limit).execute()) as unknown as Array<Pick<InstanceRow, C>>;
}

function pageQuery(db: Db, filter: InstanceFilter, sort: SortSpec[], markerRow: Partial<InstanceRow> | undefined, columns: readonly string[]) {
  let q = db.selectFrom('instances').select(columns as unknown as Array<keyof InstanceRow & string>).where((eb) => filterExpression(eb, filter, isPostgres(db)));
  if (markerRow) {
    const m = markerRow;
    q = q.where((eb) => afterMarker(eb, sort, m));
  }
  for (const s of sort) q = q.orderBy(sortExpression(s), s.dir);
  return q;
}

/** Rows read per batch while a name filter runs in the caller: big enough that most pages take one or two. */
const NAME_BATCH = 500;

/**
 * A page under a name filter the database cannot evaluate: batches in sort order, each after the
 * last row of the one before, kept by `matches`, until the page is full or the rows run out.
 * The matcher bounds its own time, so a costly pattern stops this loop with its 400.
 */
async function namedPage<C extends keyof InstanceRow & string>(
  db: Db, filter: InstanceFilter, matches: (names: string[]) => boolean[], sort: SortSpec[], limit: number,
  markerRow: Partial<InstanceRow> | undefined, columns: readonly C[],
): Promise<Array<Pick<InstanceRow, C>>> {
  const wanted = [...new Set<string>([...columns, 'display_name', ...sort.map((s) => SORT_COLUMNS[s.key]!.column)])];
  const out: Array<Pick<InstanceRow, C>> = [];
  let after = markerRow;
  for (;;) {
    const batch = (await pageQuery(db, filter, sort, after, wanted).limit(NAME_BATCH).execute()) as unknown as InstanceRow[];
    const keep = matches(batch.map((r) => r.display_name));
    for (const [i, row] of batch.entries()) {
      if (keep[i]) out.push(row);
      if (out.length === limit) return out;
    }
    if (batch.length < NAME_BATCH) return out;
    after = batch[batch.length - 1];
  }
}

export type FaultRow = Selectable<InstanceFaultTable>;

/** The newest fault of each instance that has one. */
export async function latestFaults(db: Db, uuids: string[]): Promise<Map<string, FaultRow>> {
  const out = new Map<string, FaultRow>();
  if (uuids.length === 0) return out;
  const rows = await db.selectFrom('instance_faults').selectAll().where('instance_uuid', 'in', uuids).orderBy('id', 'desc').execute();
  for (const r of rows) if (!out.has(r.instance_uuid)) out.set(r.instance_uuid, r);
  return out;
}

export type ComputeServiceRow = Selectable<ServiceTable>;

/** The compute service of each host (for host_status). */
export async function computeServicesOf(db: Db, hosts: string[]): Promise<Map<string, ComputeServiceRow>> {
  const out = new Map<string, ComputeServiceRow>();
  if (hosts.length === 0) return out;
  const rows = await db.selectFrom('services').selectAll()
    .where('host', 'in', [...new Set(hosts)]).where('binary', '=', 'nova-compute').where('deleted', '=', 0).execute();
  for (const r of rows) out.set(r.host, r);
  return out;
}
