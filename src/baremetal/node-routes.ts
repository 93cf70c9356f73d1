import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requestBaseUrl } from '../httpkit/app.js';
import { BadRequest, Conflict, NotFound } from '../common/errors.js';
import {
  deleteNode, findNode, getNodeByInstance, insertNode, isReserved, listNodes, updateNodeIf, type BmNodeChanges, type BmNodeRow, type NodeFilters,
} from '../db/baremetal-nodes.js';
import { deleteNodePorts } from '../db/baremetal-ports.js';
import { openDriverInfo, sealDriverInfo, type Json } from './driver-info.js';
import type { BaremetalAppOptions } from './options.js';
import { applyPatch, PATCH_SCHEMA, type PatchOp } from './patch.js';
import { ProvisionStates as S } from './states.js';
import {
  checkDriver, checkFields, checkInstanceUuid, checkJsonField, checkLimit, checkName, checkResourceClass, isUuid,
} from './validate.js';
import { nodeFieldsAt, nodeView, type ViewContext } from './views.js';

/** Nodes: enrol, list, show (by uuid or name), JSON-patch, delete (Ironic's /v1/nodes). */

const JSON_FIELDS = ['driver_info', 'properties', 'extra', 'instance_info'] as const;
/** The fields a PATCH may change (Ironic's other fields are read-only or not carried here). */
const PATCHABLE = new Set(['name', 'driver', ...JSON_FIELDS, 'instance_uuid', 'resource_class']);
/** States a node's resource class may change in (Ironic: not once it may be scheduled or is in use). */
const RESOURCE_CLASS_STATES = new Set<string>([S.ENROLL, S.MANAGEABLE, S.AVAILABLE]);
/** Ironic's DELETE_ALLOWED_STATES (any state in maintenance). */
const DELETE_ALLOWED = new Set<string>([S.MANAGEABLE, S.ENROLL]);

export const nodeNotFound = (ident: string): NotFound => new NotFound(`Node ${ident} could not be found.`);
export const nodeLocked = (n: BmNodeRow): Conflict =>
  new Conflict(`Node ${n.uuid} is locked by host ${n.reservation ?? `a conductor (${n.provision_state})`}, please retry after the current operation is completed.`);

/** The node a path names (uuid or name), or Ironic's 404. */
export async function nodeOf(opts: BaremetalAppOptions, ident: string): Promise<BmNodeRow> {
  const n = await findNode(opts.db, ident);
  if (!n) throw nodeNotFound(ident);
  return n;
}

export function viewContext(opts: BaremetalAppOptions, req: FastifyRequest): ViewContext {
  return { keys: opts.keys, base: requestBaseUrl(req) };
}

const CREATE_SCHEMA = {
  type: 'object', additionalProperties: false, required: ['driver'],
  properties: {
    uuid: { type: 'string', maxLength: 36 }, name: { type: ['string', 'null'], maxLength: 255 }, driver: { type: 'string', maxLength: 64 },
    driver_info: { type: 'object' }, properties: { type: 'object' }, extra: { type: 'object' }, instance_info: { type: 'object' },
    resource_class: { type: ['string', 'null'], maxLength: 80 },
  },
} as const;

const LIST_QUERY = {
  type: 'object', additionalProperties: false,
  properties: {
    limit: { type: 'string', maxLength: 10 }, marker: { type: 'string', maxLength: 255 }, fields: { type: 'string', maxLength: 2000 },
    detail: { type: 'string', maxLength: 5 }, sort_key: { enum: ['id', 'uuid', 'created_at'] }, sort_dir: { enum: ['asc'] },
    provision_state: { type: 'string', maxLength: 32 }, maintenance: { enum: ['true', 'false', 'True', 'False'] },
    associated: { enum: ['true', 'false', 'True', 'False'] }, resource_class: { type: 'string', maxLength: 80 },
    driver: { type: 'string', maxLength: 64 }, instance_uuid: { type: 'string', maxLength: 36 },
  },
} as const;

type ListQuery = Partial<Record<keyof typeof LIST_QUERY.properties, string>>;

const bool = (v: string | undefined): boolean | undefined => (v === undefined ? undefined : v.toLowerCase() === 'true');

export function registerNodeRoutes(app: FastifyInstance, opts: BaremetalAppOptions): void {
  const maxLimit = opts.config.num('api', 'max_limit');

  const list = async (req: FastifyRequest, detail: boolean): Promise<unknown> => {
    const q = req.query as ListQuery;
    const minor = req.ironicMinor;
    const fields = checkFields(q.fields, nodeFieldsAt(minor));
    if (fields && (detail || q.detail !== undefined)) throw new BadRequest("Can not specify ?detail=True and fields in the same request.");
    const limit = checkLimit(q.limit, maxLimit);
    const f: NodeFilters = {
      ...(q.provision_state !== undefined ? { provision_state: q.provision_state } : {}),
      ...(q.maintenance !== undefined ? { maintenance: bool(q.maintenance)! } : {}),
      ...(q.associated !== undefined ? { associated: bool(q.associated)! } : {}),
      ...(q.resource_class !== undefined ? { resource_class: q.resource_class } : {}),
      ...(q.driver !== undefined ? { driver: q.driver } : {}),
      ...(q.instance_uuid !== undefined ? { instance_uuid: q.instance_uuid.toLowerCase() } : {}),
    };
    if (q.marker !== undefined) {
      const m = await findNode(opts.db, q.marker);
      if (!m) throw new BadRequest(`Node ${q.marker} could not be found.`);
      f.after = m.uuid;
    }
    const rows = await listNodes(opts.db, f, limit);
    const ctx = viewContext(opts, req);
    const full = detail || bool(q.detail) === true;
    const out: Json = { nodes: rows.map((n) => nodeView(n, minor, ctx, full ? undefined : fields ?? 'list')) };
    if (rows.length === limit) {
      const next = new URLSearchParams({ ...(q as Record<string, string>), limit: String(limit), marker: rows.at(-1)!.uuid });
      out.next = `${ctx.base}/v1/nodes${detail ? '/detail' : ''}?${next}`;
    }
    return out;
  };

  for (const path of ['/v1/nodes', '/v1/nodes/']) {
    app.get(path, { schema: { querystring: LIST_QUERY }, config: { policy: 'baremetal:node:list' } }, (req) => list(req, false));
  }
  app.get('/v1/nodes/detail', { schema: { querystring: LIST_QUERY }, config: { policy: 'baremetal:node:list_all' } }, (req) => list(req, true));

  app.get<{ Params: { node: string }; Querystring: { fields?: string } }>('/v1/nodes/:node', {
    schema: { querystring: { type: 'object', additionalProperties: false, properties: { fields: { type: 'string', maxLength: 2000 } } } },
    config: { policy: 'baremetal:node:get' },
  }, async (req) => {
    const fields = checkFields(req.query.fields, nodeFieldsAt(req.ironicMinor));
    return nodeView(await nodeOf(opts, req.params.node), req.ironicMinor, viewContext(opts, req), fields);
  });

  app.post<{ Body: Record<string, unknown> }>('/v1/nodes', { schema: { body: CREATE_SCHEMA }, config: { policy: 'baremetal:node:create' } }, async (req, reply) => {
    const b = req.body;
    const minor = req.ironicMinor;
    if (b.name !== undefined && minor < 5) throw new BadRequest('Unknown attribute for argument node: name');
    if (b.resource_class !== undefined && minor < 21) throw new BadRequest('Unknown attribute for argument node: resource_class');
    const uuid = b.uuid === undefined ? randomUUID() : String(b.uuid).toLowerCase();
    if (!isUuid(uuid)) throw new BadRequest(`Expected a UUID but received ${JSON.stringify(b.uuid)}.`);
    const name = b.name === undefined ? null : checkName(b.name);
    const json = Object.fromEntries(JSON_FIELDS.map((f) => [f, b[f] === undefined ? {} : checkJsonField(f, b[f])])) as Record<typeof JSON_FIELDS[number], Json>;
    if (name !== null && await findNode(opts.db, name)) throw new Conflict(`A node with name ${name} already exists.`);
    if (await findNode(opts.db, uuid)) throw new Conflict(`A node with UUID ${uuid} already exists.`);
    const now = new Date().toISOString();
    const row: BmNodeRow = {
      uuid, name, driver: checkDriver(b.driver), ...sealDriverInfo(opts.keys, uuid, json.driver_info),
      properties: JSON.stringify(json.properties), extra: JSON.stringify(json.extra), instance_info: JSON.stringify(json.instance_info),
      resource_class: b.resource_class === undefined ? null : checkResourceClass(b.resource_class),
      // Before 1.11 a new node was available at once (Ironic's old default); since, it is enrolled.
      provision_state: minor >= 11 ? S.ENROLL : S.AVAILABLE, target_provision_state: null, provision_updated_at: now,
      power_state: null, target_power_state: null, maintenance: 0, maintenance_reason: null, last_error: null,
      instance_uuid: null, boot_device: null, boot_device_persistent: 0, reservation: null, reservation_expires_at: null,
      created_at: now, updated_at: null,
    };
    await insertNode(opts.db, row).catch(async (err: unknown) => {
      // A create racing this one with the same name or uuid.
      if (await findNode(opts.db, name ?? uuid)) throw new Conflict(`A node with name ${name ?? uuid} already exists.`);
      throw err;
    });
    reply.code(201).header('location', `${requestBaseUrl(req)}/v1/nodes/${uuid}`);
    return nodeView(row, minor, viewContext(opts, req));
  });

  app.patch<{ Params: { node: string }; Body: PatchOp[] }>('/v1/nodes/:node', { schema: { body: PATCH_SCHEMA }, config: { policy: 'baremetal:node:update' } }, async (req) => {
    const n = await nodeOf(opts, req.params.node);
    if (isReserved(n)) throw nodeLocked(n);
    for (const op of req.body) {
      const top = op.path.split('/')[1] ?? '';
      if (!PATCHABLE.has(top) || (top === 'resource_class' && req.ironicMinor < 21) || (top === 'name' && req.ironicMinor < 5)) {
        throw new BadRequest(`Couldn't apply patch '${JSON.stringify(op)}'. Reason: '/${top}' is a read-only attribute or not known to this service`);
      }
      if (top === 'driver' && op.op === 'remove') throw new BadRequest("Couldn't apply patch: 'driver' is a mandatory attribute and can not be removed");
    }
    const doc: Json = {
      name: n.name, driver: n.driver, driver_info: openDriverInfo(opts.keys, n.uuid, n), properties: JSON.parse(n.properties),
      extra: JSON.parse(n.extra), instance_info: JSON.parse(n.instance_info), instance_uuid: n.instance_uuid, resource_class: n.resource_class,
    };
    const patched = applyPatch(doc, req.body);
    const get = (k: string): unknown => (Object.hasOwn(patched, k) ? patched[k] : null);
    const changes: BmNodeChanges = {
      name: checkName(get('name')), driver: checkDriver(get('driver')),
      ...sealDriverInfo(opts.keys, n.uuid, checkJsonField('driver_info', get('driver_info') ?? {})),
      properties: JSON.stringify(checkJsonField('properties', get('properties') ?? {})),
      extra: JSON.stringify(checkJsonField('extra', get('extra') ?? {})),
      instance_info: JSON.stringify(checkJsonField('instance_info', get('instance_info') ?? {})),
      instance_uuid: checkInstanceUuid(get('instance_uuid')), resource_class: checkResourceClass(get('resource_class')),
    };
    if (changes.resource_class !== n.resource_class && !RESOURCE_CLASS_STATES.has(n.provision_state)) {
      throw new BadRequest(`The resource_class of node ${n.uuid} can only be changed in the enroll, manageable or available state, not "${n.provision_state}".`);
    }
    if (changes.name !== n.name && changes.name !== null) {
      const other = await findNode(opts.db, changes.name!);
      if (other && other.uuid !== n.uuid) throw new Conflict(`A node with name ${changes.name} already exists.`);
    }
    if (changes.instance_uuid !== n.instance_uuid && changes.instance_uuid !== null) {
      if (n.instance_uuid !== null) throw new Conflict(`Node ${n.uuid} is associated with instance ${n.instance_uuid}.`);
      const other = await getNodeByInstance(opts.db, changes.instance_uuid!);
      if (other) throw new Conflict(`Instance ${changes.instance_uuid} is already associated with a node, it cannot be associated with this other node ${n.uuid}`);
    }
    // A compare-and-set on what the checks saw: a racing PATCH or transition makes this one a 409.
    const ok = await updateNodeIf(opts.db, n.uuid, { provision_state: n.provision_state, instance_uuid: n.instance_uuid, reservation: n.reservation }, changes)
      .catch(() => false);
    if (!ok) throw new Conflict(`Node ${n.uuid} changed while it was being updated, please retry.`);
    return nodeView((await findNode(opts.db, n.uuid))!, req.ironicMinor, viewContext(opts, req));
  });

  app.delete<{ Params: { node: string } }>('/v1/nodes/:node', { config: { policy: 'baremetal:node:delete' } }, async (req, reply) => {
    const n = await nodeOf(opts, req.params.node);
    if (isReserved(n)) throw nodeLocked(n);
    if (n.instance_uuid !== null) throw new Conflict(`Node ${n.uuid} is associated with instance ${n.instance_uuid}.`);
    if (n.maintenance === 0 && !DELETE_ALLOWED.has(n.provision_state)) {
      throw new Conflict(`Can not delete node "${n.uuid}" while it is in provision state "${n.provision_state}". Valid provision states to start deletion are: ['manageable', 'enroll'], or any state in maintenance.`);
    }
    await deleteNodePorts(opts.db, n.uuid);
    await deleteNode(opts.db, n.uuid);
    reply.code(204);
  });
}
