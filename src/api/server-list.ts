import type { FastifyRequest } from 'fastify';
import { BadRequest, Forbidden } from '../common/errors.js';
import { listInstanceRows, sortSpecs, type InstanceFilter } from '../db/instance-list.js';
import { statesForStatus, VmState } from '../objects/states.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { NameMatcher } from './name-regex.js';
import { nextLinks, parseBoolParam } from './resource-kit.js';
import { BASIC_COLUMNS, loadViewExtras, ServerViewer, VIEW_COLUMNS } from './server-view.js';

/** GET /servers and /servers/detail: Nova's query schema, search options and filters, up to 2.93. */


type Query = Record<string, string | string[] | undefined>;

function allValues(q: Query, key: string): string[] {
  const v = q[key];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** The value of a single-valued parameter (the last one when repeated, as webob's MultiDict). */
function lastValue(q: Query, key: string): string | undefined {
  const all = allValues(q, key);
  return all.length > 0 ? all[all.length - 1] : undefined;
}

const BOOL_WORDS = "'0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'";

/** Parses Nova's lenient ISO 8601 (timezone optional, UTC assumed) into our timestamp format. */
export function parseChangesSince(v: string, param = 'changes-since'): string {
  const m = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(v.trim());
  const text = m ? (m[1] ? v.trim().replace(' ', 'T') + (m[4] ? '' : 'Z') : `${v.trim()}T00:00:00Z`) : '';
  const t = m ? Date.parse(text) : NaN;
  if (Number.isNaN(t)) throw new BadRequest(`Invalid input for query parameters ${param}. Value: ${v}. '${v}' is not a 'date-time'`);
  return new Date(t).toISOString();
}

/**
 * The `changes-since`/`changes-before` window of a list query (either may be missing), each
 * parsed as Nova does; a window that ends before it starts is a 400.
 */
export function changesWindow(sinceRaw: string | undefined, beforeRaw: string | undefined): { since?: string; before?: string } {
  const since = sinceRaw !== undefined ? parseChangesSince(sinceRaw) : undefined;
  const before = beforeRaw !== undefined ? parseChangesSince(beforeRaw, 'changes-before') : undefined;
  if (since !== undefined && before !== undefined && before < since) {
    throw new BadRequest('The value of changes-since must be less than or equal to changes-before.');
  }
  return { since, before };
}

export function parseLimit(raw: string | undefined, maxLimit: number): number {
  if (raw === undefined) return maxLimit;
  if (!/^[0-9]+$/.test(raw)) throw new BadRequest(`Invalid input for query parameters limit. Value: ${raw}. '${raw}' does not match '^[0-9]*$'`);
  return Math.min(Number(raw), maxLimit);
}

export function maxLimit(deps: ComputeApiDeps): number {
  const v = Number(deps.config.opt('api', 'max_limit') ?? 1000);
  return Number.isInteger(v) && v > 0 ? v : 1000;
}

/** Filters a member may use; admins may use every filter (Nova's _get_server_search_options). */
function memberFilters(req: FastifyRequest): Set<string> {
  const keys = ['reservation_id', 'name', 'status', 'image', 'flavor', 'ip', 'changes-since', 'all_tenants'];
  if (mvAtLeast(req, '2.5')) keys.push('ip6');
  if (mvAtLeast(req, '2.26')) keys.push('tags', 'tags-any', 'not-tags', 'not-tags-any');
  if (mvAtLeast(req, '2.66')) keys.push('changes-before');
  if (mvAtLeast(req, '2.73')) keys.push('locked');
  if (mvAtLeast(req, '2.83')) keys.push(...FILTERS_2_83);
  return new Set(keys);
}

/** What 2.83 opened to non-admins (Nova's _get_server_search_options). */
const FILTERS_2_83 = [
  'availability_zone', 'config_drive', 'key_name', 'created_at', 'launched_at', 'terminated_at', 'power_state', 'task_state', 'vm_state',
  'progress', 'user_id',
];

/** Every parameter Nova's query schema names (query_params_v21); from 2.75 on anything else is a 400. */
const KNOWN_PARAMS = new Set([
  'user_id', 'project_id', 'tenant_id', 'launch_index', 'image_ref', 'image', 'kernel_id', 'ramdisk_id', 'hostname', 'key_name',
  'power_state', 'vm_state', 'task_state', 'host', 'node', 'flavor', 'reservation_id', 'launched_at', 'terminated_at',
  'availability_zone', 'name', 'display_name', 'description', 'display_description', 'locked_by', 'uuid', 'root_device_name',
  'config_drive', 'access_ip_v4', 'access_ip_v6', 'auto_disk_config', 'progress', 'sort_key', 'sort_dir', 'all_tenants',
  'soft_deleted', 'deleted', 'status', 'changes-since', 'ip', 'ip6', 'created_at', 'block_device_mapping', 'services', 'metadata',
  'system_metadata', 'info_cache', 'security_groups', 'pci_devices', 'limit', 'marker',
]);

function knownParam(req: FastifyRequest, key: string): boolean {
  if (KNOWN_PARAMS.has(key)) return true;
  if (['tags', 'tags-any', 'not-tags', 'not-tags-any'].includes(key)) return mvAtLeast(req, '2.26');
  if (key === 'changes-before') return mvAtLeast(req, '2.66');
  if (key === 'locked') return mvAtLeast(req, '2.73');
  return false;
}

/** 2.75: the query schema allows no additional properties. */
function checkStrictQuery(req: FastifyRequest, q: Query): void {
  if (!mvAtLeast(req, '2.75')) return;
  const unknown = Object.keys(q).filter((k) => !knownParam(req, k));
  if (unknown.length > 0) {
    throw new BadRequest(`Invalid input for query parameters. Additional properties are not allowed (${unknown.map((k) => `'${k}'`).join(', ')} ${unknown.length > 1 ? 'were' : 'was'} unexpected)`);
  }
}

function strictBool(param: string, value: string): boolean {
  const b = parseBoolParam(value);
  if (b === undefined) throw new BadRequest(`Invalid input received: Unrecognized value '${value}', acceptable values are: ${BOOL_WORDS}`);
  return b;
}

function intParam(param: string, value: string): number {
  if (!/^-?[0-9]+$/.test(value.trim())) throw new BadRequest(`Invalid input for query parameters ${param}. Value: ${value}. '${value}' is not a valid integer`);
  return Number(value);
}

const EMPTY = { servers: [] };

export async function listServers(deps: ComputeApiDeps, req: FastifyRequest, detail: boolean): Promise<unknown> {
  const q = (req.query ?? {}) as Query;
  checkStrictQuery(req, q);
  const isAdmin = req.auth.isAdmin;
  const allowed = memberFilters(req);
  const opt = (key: string): string | undefined => (isAdmin || allowed.has(key) ? lastValue(q, key) : undefined);

  // what Nova's query schema checks first
  const changesSinceRaw = lastValue(q, 'changes-since');
  const changesSince = changesSinceRaw !== undefined ? parseChangesSince(changesSinceRaw) : undefined;
  const changesBeforeRaw = mvAtLeast(req, '2.66') ? lastValue(q, 'changes-before') : undefined;
  const changesBefore = changesBeforeRaw !== undefined ? parseChangesSince(changesBeforeRaw, 'changes-before') : undefined;
  if (changesSince !== undefined && changesBefore !== undefined && changesBefore < changesSince) {
    throw new BadRequest('The value of changes-since must be less than or equal to changes-before.');
  }
  // Checked at every version, as Nova's schema (format "regex"): a bad pattern is a 400.
  const namePattern = lastValue(q, 'name');
  const matcher = namePattern !== undefined ? new NameMatcher(namePattern) : undefined;
  const limit = parseLimit(lastValue(q, 'limit'), maxLimit(deps));
  const sort = sortSpecs(allValues(q, 'sort_key').map((s) => s.trim()), allValues(q, 'sort_dir').map((s) => s.trim()), isAdmin, { locked: mvAtLeast(req, '2.73') });

  const filter: InstanceFilter = { deleted: 'no' };
  let deletedStatus = false;
  if (q.status !== undefined) {
    const vmStates = new Set<string>();
    const taskStates = new Set<string>();
    let anyTask = false;
    for (const status of allValues(q, 'status')) {
      const states = statesForStatus(status.trim());
      if (!states) continue;
      states.vmStates.forEach((s) => vmStates.add(s));
      if (states.taskStates) states.taskStates.forEach((s) => taskStates.add(s));
      else anyTask = true;
    }
    if (vmStates.size === 0) {
      if (mvAtLeast(req, '2.38')) throw new BadRequest('Invalid status value');
      return EMPTY;
    }
    filter.vmStates = [...vmStates];
    if (!anyTask) filter.taskStates = [...taskStates];
    deletedStatus = vmStates.size === 1 && vmStates.has(VmState.DELETED);
  }
  if (changesSince !== undefined) filter.changesSince = changesSince;
  if (changesBefore !== undefined) filter.changesBefore = changesBefore;
  if (changesSince !== undefined || changesBefore !== undefined) filter.deleted = 'include';
  const deletedParam = isAdmin ? lastValue(q, 'deleted') : undefined;
  if (deletedParam !== undefined) filter.deleted = parseBoolParam(deletedParam) ? 'only' : 'no';
  if (deletedStatus) {
    if (!isAdmin) throw new Forbidden('Only administrators may list deleted instances');
    filter.deleted = 'only';
  }

  // No addresses without a network service: an address filter matches nothing.
  if (opt('ip') !== undefined || opt('ip6') !== undefined) return EMPTY;

  if (matcher) filter.nameMatches = (names) => matcher.matches(names);
  const image = opt('image');
  if (image !== undefined) filter.imageRef = image;
  const flavor = opt('flavor');
  if (flavor !== undefined) filter.flavorId = flavor;
  const reservationId = opt('reservation_id');
  if (reservationId !== undefined) filter.reservationId = reservationId;
  applyStateFilters(filter, opt, q.status !== undefined);
  const stringFilters: Array<[string, 'host' | 'node' | 'userId' | 'uuid' | 'availabilityZone' | 'keyName' | 'hostname' | 'configDrive']> = [
    ['host', 'host'], ['node', 'node'], ['user_id', 'userId'], ['uuid', 'uuid'], ['availability_zone', 'availabilityZone'],
    ['key_name', 'keyName'], ['hostname', 'hostname'], ['config_drive', 'configDrive'],
  ];
  for (const [param, field] of stringFilters) {
    const v = opt(param);
    if (v !== undefined) filter[field] = v;
  }
  const locked = mvAtLeast(req, '2.73') ? opt('locked') : undefined;
  if (locked !== undefined) filter.locked = strictBool('locked', locked);
  if (mvAtLeast(req, '2.26')) {
    const tags = (key: string): string[] | undefined => opt(key)?.split(',').map((t) => t.trim()).filter(Boolean);
    filter.tags = tags('tags');
    filter.tagsAny = tags('tags-any');
    filter.notTags = tags('not-tags');
    filter.notTagsAny = tags('not-tags-any');
  }

  if (q.all_tenants !== undefined && allowsAllTenants(lastValue(q, 'all_tenants') ?? '')) {
    if (!isAdmin) {
      throw new Forbidden(`Policy doesn't allow os_compute_api:servers:${detail ? 'detail' : 'index'}:get_all_tenants to be performed.`);
    }
    const project = lastValue(q, 'project_id') ?? lastValue(q, 'tenant_id');
    if (project !== undefined) filter.projectId = project;
  } else if (req.auth.projectId) {
    filter.projectId = req.auth.projectId;
  } else {
    filter.userId = req.auth.userId;
  }

  const page = { limit, marker: lastValue(q, 'marker') };
  const viewer = new ServerViewer(req, deps.config);
  let servers: unknown[];
  let lastId: string | undefined;
  if (detail) {
    const rows = await listInstanceRows(deps.db, filter, sort, page, VIEW_COLUMNS);
    const extras = await loadViewExtras(deps.db, rows, { services: viewer.needsServices });
    servers = rows.map((r) => viewer.detail(r, extras));
    lastId = rows[rows.length - 1]?.uuid;
  } else {
    const rows = await listInstanceRows(deps.db, filter, sort, page, BASIC_COLUMNS);
    servers = rows.map((r) => viewer.basic(r));
    lastId = rows[rows.length - 1]?.uuid;
  }
  const links = nextLinks(req, detail ? 'servers/detail' : 'servers', { limit }, servers.length, lastId);
  return links.length > 0 ? { servers, servers_links: links } : { servers };
}

/** power_state, vm_state, task_state, progress and the timestamps: admins always, members from 2.83. */
function applyStateFilters(filter: InstanceFilter, opt: (key: string) => string | undefined, hasStatus: boolean): void {
  const power = opt('power_state');
  if (power !== undefined) filter.powerState = intParam('power_state', power);
  const progress = opt('progress');
  if (progress !== undefined) filter.progress = intParam('progress', progress);
  // status names the states itself; vm_state and task_state refine only a listing without it.
  const vm = opt('vm_state');
  if (vm !== undefined && !hasStatus) filter.vmStates = [vm];
  const task = opt('task_state');
  if (task !== undefined && !hasStatus) filter.taskStates = [task];
  for (const [param, field] of [['created_at', 'createdAt'], ['launched_at', 'launchedAt'], ['terminated_at', 'terminatedAt']] as const) {
    const v = opt(param);
    if (v !== undefined) filter[field] = parseChangesSince(v, param);
  }
}

/** Nova's is_all_tenants: present and empty means yes; otherwise a strict boolean word. */
function allowsAllTenants(value: string): boolean {
  if (value === '') return true;
  const b = parseBoolParam(value);
  if (b === undefined) {
    throw new BadRequest(`Invalid input received: Unrecognized value '${value}', acceptable values are: ${BOOL_WORDS}`);
  }
  return b;
}