import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { BadRequest, Forbidden } from '../common/errors.js';
import { isUuidLike, newUuid } from '../common/ids.js';
import { now } from '../common/time.js';
import { listAvailabilityZones } from '../db/aggregates.js';
import type { Db } from '../db/connection.js';
import { getFlavorRow, projectCanUseFlavor, rowToFlavor, getExtraSpecs } from '../db/flavors.js';
import { createAction } from '../db/instance-actions.js';
import { listInstanceRows, sortSpecs, type InstanceFilter } from '../db/instance-list.js';
import { getInstanceRow, rowToInstance, updateInstanceRow, type InstanceRow, type InstanceRowUpdates } from '../db/instances.js';
import { getKeyPair } from '../db/keypairs.js';
import { checkMetadataLimit, createInstancesWithinQuota, type NewInstance } from '../db/quota-check.js';
import { getProjectLimits } from '../db/quotas.js';
import type { Flavor, ImageMeta, RequestSpec } from '../objects/compute.js';
import { PowerState, statesForStatus, TaskState, VmState } from '../objects/states.js';
import { rpcContextOf } from '../httpkit/app.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast, mvBetween } from './microversion.js';
import { nextLinks, parseBoolParam, routeBoth, toBool } from './resource-kit.js';
import {
  bootImage, checkInstanceLock, generatePassword, findServer, instanceNotFound, instanceOf, unexpectedProperty,
} from './server-common.js';
import {
  AccessIPv4Schema, AccessIPv6Schema, BoolSchema, DescriptionSchema, DiskConfigSchema, MetadataSchema, NameSchema,
  PositiveIntSchema, TagSchema, isBase64,
} from './server-schemas.js';
import { BASIC_COLUMNS, loadViewExtras, serverLinks, ServerViewer, showServer, VIEW_COLUMNS } from './server-view.js';
import { authorize } from '../httpkit/authorize.js';

/** The servers API: create, list, show, update and delete (Nova's servers controller, up to 2.37). */

// ---- schemas (the union of every microversion's; what a version does not know is refused in code)

const NetworkSchema = Type.Object({
  fixed_ip: Type.Optional(Type.String()),
  port: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  uuid: Type.Optional(Type.String()),
  tag: Type.Optional(TagSchema),
}, { additionalProperties: false });

const HintsSchema = Type.Object({}, { additionalProperties: true });

const CreateBody = Type.Object({
  server: Type.Object({
    name: NameSchema,
    imageRef: Type.Optional(Type.String()),
    flavorRef: Type.Union([Type.String({ minLength: 1 }), Type.Integer()], { examples: ['1'] }),
    adminPass: Type.Optional(Type.String()),
    metadata: Type.Optional(MetadataSchema),
    networks: Type.Optional(Type.Union([Type.Array(NetworkSchema), Type.Union([Type.Literal('none'), Type.Literal('auto')])])),
    'OS-DCF:diskConfig': Type.Optional(DiskConfigSchema),
    accessIPv4: Type.Optional(AccessIPv4Schema),
    accessIPv6: Type.Optional(AccessIPv6Schema),
    availability_zone: Type.Optional(NameSchema),
    config_drive: Type.Optional(BoolSchema),
    key_name: Type.Optional(NameSchema),
    min_count: Type.Optional(PositiveIntSchema),
    max_count: Type.Optional(PositiveIntSchema),
    return_reservation_id: Type.Optional(BoolSchema),
    security_groups: Type.Optional(Type.Array(Type.Object({ name: Type.Optional(NameSchema) }, { additionalProperties: false }))),
    user_data: Type.Optional(Type.String({ maxLength: 65535 })),
    description: Type.Optional(DescriptionSchema),
  }, { additionalProperties: false }),
  'os:scheduler_hints': Type.Optional(HintsSchema),
  'OS-SCH-HNT:scheduler_hints': Type.Optional(HintsSchema),
}, { additionalProperties: false });
type CreateBody = Static<typeof CreateBody>;

const UpdateBody = Type.Object({
  server: Type.Object({
    name: Type.Optional(NameSchema),
    'OS-DCF:diskConfig': Type.Optional(DiskConfigSchema),
    accessIPv4: Type.Optional(AccessIPv4Schema),
    accessIPv6: Type.Optional(AccessIPv6Schema),
    description: Type.Optional(DescriptionSchema),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
type UpdateBody = Static<typeof UpdateBody>;

type ServerParams = { Params: { server_id: string } };

export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  routeBoth(app, 'GET', '/servers', { policy: 'os_compute_api:servers:index' }, (req) => listServers(deps, req, false));
  routeBoth(app, 'GET', '/servers/detail', { policy: 'os_compute_api:servers:detail' }, (req) => listServers(deps, req, true));
  routeBoth<ServerParams>(app, 'GET', '/servers/:server_id', { policy: 'os_compute_api:servers:show' }, async (req) => {
    const row = await findServer(deps.db, req, req.params.server_id);
    return { server: await showServer(deps.db, req, deps.config, row) };
  });
  routeBoth<{ Body: CreateBody }>(app, 'POST', '/servers', { policy: 'os_compute_api:servers:create', schema: { body: CreateBody }, status: 202 }, (req, reply) => createServers(deps, req, reply));
  routeBoth<ServerParams & { Body: UpdateBody }>(app, 'PUT', '/servers/:server_id', { policy: 'os_compute_api:servers:update', schema: { body: UpdateBody } }, (req) => updateServer(deps, req));
  routeBoth<ServerParams>(app, 'DELETE', '/servers/:server_id', { policy: 'os_compute_api:servers:delete', status: 204 }, async (req) => {
    await deleteServer(deps, req, req.params.server_id);
    return undefined;
  });
}

// ---- listing

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
function parseChangesSince(v: string): string {
  const m = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(v.trim());
  const text = m ? (m[1] ? v.trim().replace(' ', 'T') + (m[4] ? '' : 'Z') : `${v.trim()}T00:00:00Z`) : '';
  const t = m ? Date.parse(text) : NaN;
  if (Number.isNaN(t)) throw new BadRequest(`Invalid input for query parameters changes-since. Value: ${v}. '${v}' is not a 'date-time'`);
  return new Date(t).toISOString();
}

function parseLimit(raw: string | undefined, maxLimit: number): number {
  if (raw === undefined) return maxLimit;
  if (!/^[0-9]+$/.test(raw)) throw new BadRequest(`Invalid input for query parameters limit. Value: ${raw}. '${raw}' does not match '^[0-9]*$'`);
  return Math.min(Number(raw), maxLimit);
}

function maxLimit(deps: ComputeApiDeps): number {
  const v = Number(deps.config.opt('api', 'max_limit') ?? 1000);
  return Number.isInteger(v) && v > 0 ? v : 1000;
}

/** Filters a member may use; admins may use every filter (Nova's _get_server_search_options). */
function memberFilters(req: FastifyRequest): Set<string> {
  const keys = ['reservation_id', 'name', 'status', 'image', 'flavor', 'ip', 'changes-since', 'all_tenants'];
  if (mvAtLeast(req, '2.5')) keys.push('ip6');
  if (mvAtLeast(req, '2.26')) keys.push('tags', 'tags-any', 'not-tags', 'not-tags-any');
  return new Set(keys);
}

const EMPTY = { servers: [] };

async function listServers(deps: ComputeApiDeps, req: FastifyRequest, detail: boolean): Promise<unknown> {
  const q = (req.query ?? {}) as Query;
  const isAdmin = req.auth.isAdmin;
  const allowed = memberFilters(req);
  const opt = (key: string): string | undefined => (isAdmin || allowed.has(key) ? lastValue(q, key) : undefined);

  // what Nova's query schema checks first
  const changesSinceRaw = lastValue(q, 'changes-since');
  const changesSince = changesSinceRaw !== undefined ? parseChangesSince(changesSinceRaw) : undefined;
  const limit = parseLimit(lastValue(q, 'limit'), maxLimit(deps));
  const sort = sortSpecs(allValues(q, 'sort_key').map((s) => s.trim()), allValues(q, 'sort_dir').map((s) => s.trim()), isAdmin);

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
    if (vmStates.size === 0) return EMPTY;
    filter.vmStates = [...vmStates];
    if (!anyTask) filter.taskStates = [...taskStates];
    deletedStatus = vmStates.size === 1 && vmStates.has(VmState.DELETED);
  }
  if (changesSince !== undefined) {
    filter.changesSince = changesSince;
    filter.deleted = 'include';
  }
  const deletedParam = isAdmin ? lastValue(q, 'deleted') : undefined;
  if (deletedParam !== undefined) filter.deleted = parseBoolParam(deletedParam) ? 'only' : 'no';
  if (deletedStatus) {
    if (!isAdmin) throw new Forbidden('Only administrators may list deleted instances');
    filter.deleted = 'only';
  }

  // No addresses without a network service: an address filter matches nothing.
  if (opt('ip') !== undefined || opt('ip6') !== undefined) return EMPTY;

  const name = opt('name');
  if (name !== undefined) filter.name = name;
  const image = opt('image');
  if (image !== undefined) filter.imageRef = image;
  const flavor = opt('flavor');
  if (flavor !== undefined) filter.flavorId = flavor;
  const reservationId = opt('reservation_id');
  if (reservationId !== undefined) filter.reservationId = reservationId;
  if (isAdmin) {
    const adminFilters: Array<[string, keyof InstanceFilter]> = [
      ['host', 'host'], ['node', 'node'], ['user_id', 'userId'], ['uuid', 'uuid'], ['availability_zone', 'availabilityZone'],
      ['key_name', 'keyName'], ['hostname', 'hostname'],
    ];
    for (const [param, field] of adminFilters) {
      const v = lastValue(q, param);
      if (v !== undefined) (filter as unknown as Record<string, string>)[field] = v;
    }
  }
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

/** Nova's is_all_tenants: present and empty means yes; otherwise a strict boolean word. */
function allowsAllTenants(value: string): boolean {
  if (value === '') return true;
  const b = parseBoolParam(value);
  if (b === undefined) {
    throw new BadRequest(`Invalid input received: Unrecognized value '${value}', acceptable values are: ${BOOL_WORDS}`);
  }
  return b;
}

// ---- create

/** Nova's reservation ids: r-xxxxxxxx. */
function newReservationId(): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  return `r-${[...randomBytes(8)].map((b) => alphabet[b % alphabet.length]).join('')}`;
}

/** Nova's sanitize_hostname. */
export function sanitizeHostname(name: string, fallback: string): string {
  let h = [...name].filter((c) => c.charCodeAt(0) < 256).join('').slice(0, 63);
  h = h.replace(/[ _.]/g, '-').replace(/[^\w.-]+/g, '').toLowerCase().replace(/^[.-]+|[.-]+$/g, '');
  return h === '' ? fallback.slice(0, 63) : h;
}

/** Nova's get_id_from_href: a flavor may be given by id or by link. */
function idFromHref(href: string): string {
  let path = href;
  try {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(href)) path = new URL(href).pathname;
  } catch {
    // not a URL: the id itself
  }
  return path.split('/').pop() ?? path;
}

/** Nova's parse_availability_zone: "az", "az:host", "az:host:node" or "az::node". */
function parseAvailabilityZone(value: string | undefined): { zone: string | null; host: string | null; node: string | null } {
  if (value === undefined) return { zone: null, host: null, node: null };
  let zone = value;
  let host: string | null = null;
  let node: string | null = null;
  const colons = value.split(':').length - 1;
  if (colons === 1) [zone, host] = value.split(':') as [string, string];
  else if (colons === 2) {
    if (value.includes('::')) [zone, node] = value.split('::') as [string, string];
    else [zone, host, node] = value.split(':') as [string, string, string];
  } else if (colons > 2) {
    throw new BadRequest('Invalid input received: Unable to parse availability_zone');
  }
  return { zone: zone === '' ? null : zone, host: host || null, node: node || null };
}

/** Requested networks: without a network service only "none"/"auto" (and no list) can be met. */
function checkNetworks(req: FastifyRequest, networks: CreateBody['server']['networks']): void {
  if (mvAtLeast(req, '2.37')) {
    if (networks === undefined) {
      throw new BadRequest("Invalid input for field/attribute server. 'networks' is a required property");
    }
  } else if (typeof networks === 'string') {
    throw new BadRequest(`Invalid input for field/attribute networks. Value: ${networks}. '${networks}' is not of type 'array'`);
  }
  if (!Array.isArray(networks)) return;
  for (const n of networks) {
    if (n.tag !== undefined && !mvBetween(req, '2.32', '2.36')) throw unexpectedProperty('networks', 'tag');
    if (n.fixed_ip !== undefined && isIP(n.fixed_ip) === 0) {
      throw new BadRequest(`Invalid input for field/attribute fixed_ip. Value: ${n.fixed_ip}. '${n.fixed_ip}' is not valid under any of the given schemas`);
    }
    if (n.port) {
      if (n.fixed_ip !== undefined) {
        throw new BadRequest(`Specified Fixed IP '${n.fixed_ip}' cannot be used with port '${n.port}': the two cannot be specified together.`);
      }
      if (!isUuidLike(n.port)) throw new BadRequest(`Invalid input for field/attribute port. Value: ${n.port}. '${n.port}' is not a 'uuid'`);
      throw new BadRequest(`Port id ${n.port} could not be found.`);
    }
    if (n.uuid === undefined) throw new BadRequest("Bad network format: missing 'uuid'");
    if (!isUuidLike(n.uuid)) {
      throw mvAtLeast(req, '2.37')
        ? new BadRequest(`Invalid input for field/attribute uuid. Value: ${n.uuid}. '${n.uuid}' is not a 'uuid'`)
        : new BadRequest(`Bad networks format: network uuid is not in proper format (${n.uuid})`);
    }
    throw new BadRequest(`Network ${n.uuid} could not be found.`);
  }
}

/** The flavor a create asked for, as the caller may use it (Nova answers 400 for anything else). */
async function requestedFlavor(db: Db, req: FastifyRequest, flavorRef: string | number): Promise<Flavor> {
  const flavorid = idFromHref(String(flavorRef));
  const row = await getFlavorRow(db, flavorid);
  if (!row || row.disabled === 1 || (!req.auth.isAdmin && !(await projectCanUseFlavor(db, row, req.auth.projectId)))) {
    throw new BadRequest(`Flavor ${flavorid} could not be found.`);
  }
  return rowToFlavor(row, await getExtraSpecs(db, flavorid));
}

async function createServers(deps: ComputeApiDeps, req: FastifyRequest<{ Body: CreateBody }>, reply: FastifyReply): Promise<unknown> {
  const { db, config } = deps;
  const s = req.body.server;
  if (s.description !== undefined && !mvAtLeast(req, '2.19')) throw unexpectedProperty('server', 'description');
  checkNetworks(req, s.networks);
  if (!req.auth.projectId) throw new BadRequest('A project-scoped token is required to create servers.');
  const projectId = req.auth.projectId;

  const minCount = s.min_count !== undefined ? Number(s.min_count) : 1;
  const maxCount = s.max_count !== undefined ? Number(s.max_count) : minCount;
  for (const [field, v] of [['min_count', minCount], ['max_count', maxCount]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new BadRequest(`Invalid input for field/attribute ${field}. Value: ${v}. ${v} is less than the minimum of 1`);
  }
  if (minCount > maxCount) throw new BadRequest('min_count must be <= max_count');
  // Quota alone is no bound (it may be unlimited): one request of 2^31 servers ran the process out of heap.
  const most = config.num('api', 'max_servers_per_request');
  for (const [field, v] of [['min_count', minCount], ['max_count', maxCount]] as const) {
    if (v > most) throw new BadRequest(`Invalid input for field/attribute ${field}. Value: ${v}. ${v} is greater than the maximum of ${most} servers per request`);
  }

  if (s.user_data !== undefined && !isBase64(s.user_data)) {
    throw new BadRequest(`Invalid input for field/attribute user_data. Value: ${s.user_data}. '${s.user_data}' is not a 'base64'`);
  }
  const imageRef = s.imageRef ?? '';
  if (imageRef !== '' && !isUuidLike(imageRef)) {
    throw new BadRequest(`Invalid input for field/attribute imageRef. Value: ${imageRef}. '${imageRef}' is not a 'uuid'`);
  }
  if (imageRef === '') throw new BadRequest('Missing imageRef attribute');

  const az = parseAvailabilityZone(s.availability_zone);
  if (az.host || az.node) authorize(req, 'os_compute_api:servers:create:forced_host');

  const flavor = await requestedFlavor(db, req, s.flavorRef);
  const metadata = s.metadata ?? {};
  // Read once: the metadata check here and the instance quota at insert.
  const limits = await getProjectLimits(db, config, projectId);
  checkMetadataLimit(limits, Object.keys(metadata).length);
  const image = await bootImage(deps.images, req, imageRef, flavor);

  let keyData: string | null = null;
  if (s.key_name !== undefined) {
    const kp = await getKeyPair(db, req.auth.userId, s.key_name);
    if (!kp) throw new BadRequest('Invalid key_name provided.');
    keyData = kp.publicKey;
  }
  if (az.zone !== null && az.host === null) {
    const { available } = await listAvailabilityZones(db, config);
    if (!available.includes(az.zone)) throw new BadRequest('The requested availability zone is not available');
  }

  const reservationId = newReservationId();
  const build = (count: number): Array<NewInstance<Omit<InstanceRow, 'id'>>> => {
    const ts = now().toISOString();
    return Array.from({ length: count }, (_, index) => {
      const uuid = newUuid();
      const name = count > 1 ? `${s.name}-${index + 1}` : s.name;
      return {
        metadata,
        row: {
          uuid,
          display_name: name,
          display_description: s.description ?? null,
          project_id: projectId,
          user_id: req.auth.userId,
          image_ref: image.id,
          flavor: JSON.stringify(flavor),
          flavor_id: flavor.flavorid,
          vcpus: flavor.vcpus,
          memory_mb: flavor.memoryMb,
          root_gb: flavor.rootGb,
          ephemeral_gb: flavor.ephemeralGb,
          vm_state: VmState.BUILDING,
          task_state: TaskState.SCHEDULING,
          power_state: PowerState.NOSTATE,
          host: null,
          node: null,
          node_uuid: null,
          availability_zone: az.zone,
          key_name: s.key_name ?? null,
          key_data: keyData,
          user_data: s.user_data ?? null,
          hostname: sanitizeHostname(name, `Server-${uuid}`),
          reservation_id: reservationId,
          launch_index: index,
          locked: 0,
          locked_by: null,
          config_drive: s.config_drive !== undefined && toBool(s.config_drive) ? 'True' : '',
          access_ip_v4: s.accessIPv4 ?? null,
          access_ip_v6: s.accessIPv6 ?? null,
          progress: 0,
          image_meta: JSON.stringify(image),
          tags: '[]',
          launched_at: null,
          terminated_at: null,
          created_at: ts,
          updated_at: ts,
          deleted_at: null,
          deleted: 0,
        },
      };
    });
  };
  const created = await createInstancesWithinQuota(db, config, {
    projectId, userId: req.auth.userId, requestId: req.requestId, minCount, maxCount,
    vcpus: flavor.vcpus, memoryMb: flavor.memoryMb, limits,
  }, build);

  await castBuild(deps, req, created, flavor, image, az);

  if (s.return_reservation_id !== undefined && toBool(s.return_reservation_id)) {
    return { reservation_id: reservationId };
  }
  const first = created[0]!.row.uuid;
  const links = serverLinks(req, first);
  reply.header('location', links[0]!.href);
  return {
    server: {
      id: first,
      links,
      'OS-DCF:diskConfig': 'MANUAL',
      security_groups: s.security_groups ?? [{ name: 'default' }],
      adminPass: s.adminPass ?? generatePassword(),
    },
  };
}

/** Hands the new instances (the rows just inserted, in launch order) to the conductor, which schedules and builds them. */
async function castBuild(
  deps: ComputeApiDeps, req: FastifyRequest, created: Array<NewInstance<Omit<InstanceRow, 'id'>>>, flavor: Flavor, image: ImageMeta,
  az: { zone: string | null; host: string | null; node: string | null },
): Promise<void> {
  const instances = created.map((c) => rowToInstance(c.row, c.metadata));
  const spec: RequestSpec = {
    instanceUuids: instances.map((i) => i.uuid),
    projectId: req.auth.projectId!,
    userId: req.auth.userId,
    flavor,
    image,
    availabilityZone: az.zone,
    ignoreHosts: [],
    forceHost: az.host,
    forceNode: az.node,
    attempt: 0,
  };
  await deps.conductor.buildInstances(rpcContextOf(req), instances, spec);
}

// ---- update

async function updateServer(deps: ComputeApiDeps, req: FastifyRequest<ServerParams & { Body: UpdateBody }>): Promise<unknown> {
  const s = req.body.server;
  if (s.description !== undefined && !mvAtLeast(req, '2.19')) throw unexpectedProperty('server', 'description');
  const row = await findServer(deps.db, req, req.params.server_id);
  const updates: InstanceRowUpdates = {};
  if (s.name !== undefined) updates.display_name = s.name;
  if (s.description !== undefined) updates.display_description = s.description;
  if (s.accessIPv4 !== undefined) updates.access_ip_v4 = s.accessIPv4;
  if (s.accessIPv6 !== undefined) updates.access_ip_v6 = s.accessIPv6;
  await updateInstanceRow(deps.db, row.uuid, updates);
  const after = await getInstanceRow(deps.db, row.uuid);
  if (!after) throw instanceNotFound(row.uuid);
  return { server: await showServer(deps.db, req, deps.config, after, { reduced: true }) };
}

// ---- delete

/**
 * Deletes an instance no compute node has, only while it still has none, so that a concurrent
 * scheduling either wins (and the delete goes to its node) or finds the instance deleted.
 */
async function deleteUnscheduled(db: Db, req: FastifyRequest, row: InstanceRow): Promise<boolean> {
  const ts = now().toISOString();
  return db.transaction().execute(async (tx) => {
    const res = await tx.updateTable('instances')
      .set((eb) => ({
        deleted: eb.ref('id'), deleted_at: ts, terminated_at: ts, updated_at: ts,
        vm_state: VmState.DELETED, task_state: null, power_state: PowerState.NOSTATE,
      }))
      .where('uuid', '=', row.uuid).where('deleted', '=', 0).where('node', 'is', null)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) return false;
    await tx.deleteFrom('instance_metadata').where('instance_uuid', '=', row.uuid).execute();
    await createAction(tx, { instanceUuid: row.uuid, action: 'delete', requestId: req.requestId, projectId: row.project_id, userId: req.auth.userId });
    return true;
  });
}

async function deleteServer(deps: ComputeApiDeps, req: FastifyRequest, id: string): Promise<void> {
  const { db } = deps;
  const row = await findServer(db, req, id);
  checkInstanceLock(req, row);
  if (row.node === null && await deleteUnscheduled(db, req, row)) return;
  // Placed on a node (perhaps just now): the node's compute service deletes it.
  const current = row.node !== null ? row : await findServer(db, req, id);
  if (current.node === null) throw instanceNotFound(id);
  await updateInstanceRow(db, current.uuid, { task_state: TaskState.DELETING });
  await createAction(db, { instanceUuid: current.uuid, action: 'delete', requestId: req.requestId, projectId: current.project_id, userId: req.auth.userId });
  const instance = await instanceOf(db, { ...current, task_state: TaskState.DELETING });
  await deps.compute.instanceAction(rpcContextOf(req), 'terminate_instance', instance);
}
