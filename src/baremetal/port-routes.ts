import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requestBaseUrl } from '../httpkit/app.js';
import { BadRequest, Conflict, NotFound } from '../common/errors.js';
import { findNode } from '../db/baremetal-nodes.js';
import { deletePort, getPort, getPortByAddress, insertPort, listPorts, updatePort, type BmPortRow, type PortFilters } from '../db/baremetal-ports.js';
import type { Json } from './driver-info.js';
import { nodeOf } from './node-routes.js';
import type { BaremetalAppOptions } from './options.js';
import { applyPatch, PATCH_SCHEMA, type PatchOp } from './patch.js';
import { checkFields, checkJsonField, checkLimit, checkMac, isUuid } from './validate.js';
import { portFieldsAt, portView } from './views.js';

/** Ports: a node's network interfaces by MAC address (Ironic's /v1/ports and /v1/nodes/{node}/ports). */

const portNotFound = (ident: string): NotFound => new NotFound(`Port ${ident} could not be found.`);
const macTaken = (mac: string): Conflict => new Conflict(`A port with MAC address ${mac} already exists.`);

const LIST_QUERY = {
  type: 'object', additionalProperties: false,
  properties: {
    limit: { type: 'string', maxLength: 10 }, marker: { type: 'string', maxLength: 36 }, fields: { type: 'string', maxLength: 2000 },
    detail: { type: 'string', maxLength: 5 }, sort_key: { enum: ['id', 'uuid', 'created_at'] }, sort_dir: { enum: ['asc'] },
    node: { type: 'string', maxLength: 255 }, node_uuid: { type: 'string', maxLength: 36 }, address: { type: 'string', maxLength: 17 },
  },
} as const;
type ListQuery = Partial<Record<keyof typeof LIST_QUERY.properties, string>>;

export function registerPortRoutes(app: FastifyInstance, opts: BaremetalAppOptions): void {
  const maxLimit = opts.config.num('api', 'max_limit');

  const portOf = async (ident: string): Promise<BmPortRow> => {
    const p = isUuid(ident) ? await getPort(opts.db, ident) : null;
    if (!p) throw portNotFound(ident);
    return p;
  };

  const list = async (req: FastifyRequest, detail: boolean, nodeIdent?: string): Promise<unknown> => {
    const q = req.query as ListQuery;
    const minor = req.ironicMinor;
    const fields = checkFields(q.fields, portFieldsAt(minor));
    const limit = checkLimit(q.limit, maxLimit);
    const f: PortFilters = {};
    const node = nodeIdent ?? q.node ?? q.node_uuid;
    if (node !== undefined) f.node_uuid = (await nodeOf(opts, node)).uuid;
    if (q.address !== undefined) f.address = q.address.toLowerCase();
    if (q.marker !== undefined) f.after = (await portOf(q.marker)).uuid;
    const rows = await listPorts(opts.db, f, limit);
    const base = requestBaseUrl(req);
    const full = detail || q.detail?.toLowerCase() === 'true';
    const out: Json = { ports: rows.map((p) => portView(p, minor, base, full ? undefined : fields ?? 'list')) };
    if (rows.length === limit) out.next = `${base}${req.url.split('?')[0]}?${new URLSearchParams({ ...(q as Record<string, string>), limit: String(limit), marker: rows.at(-1)!.uuid })}`;
    return out;
  };

  // python3-ironicclient asks for /v1/ports/?node=… (a trailing slash) when it filters.
  for (const path of ['/v1/ports', '/v1/ports/']) {
    app.get(path, { schema: { querystring: LIST_QUERY }, config: { policy: 'baremetal:port:list' } }, (req) => list(req, false));
  }
  app.get('/v1/ports/detail', { schema: { querystring: LIST_QUERY }, config: { policy: 'baremetal:port:list_all' } }, (req) => list(req, true));
  app.get<{ Params: { node: string } }>('/v1/nodes/:node/ports', { schema: { querystring: LIST_QUERY }, config: { policy: 'baremetal:port:list' } },
    (req) => list(req, false, req.params.node));

  app.get<{ Params: { port: string }; Querystring: { fields?: string } }>('/v1/ports/:port', {
    schema: { querystring: { type: 'object', additionalProperties: false, properties: { fields: { type: 'string', maxLength: 2000 } } } },
    config: { policy: 'baremetal:port:get' },
  }, async (req) => portView(await portOf(req.params.port), req.ironicMinor, requestBaseUrl(req), checkFields(req.query.fields, portFieldsAt(req.ironicMinor))));

  app.post<{ Body: { address: string; node_uuid: string; extra?: Json; pxe_enabled?: boolean; uuid?: string } }>('/v1/ports', {
    schema: {
      body: {
        type: 'object', required: ['address', 'node_uuid'], additionalProperties: false,
        properties: {
          address: { type: 'string', maxLength: 17 }, node_uuid: { type: 'string', maxLength: 36 }, extra: { type: 'object' },
          pxe_enabled: { type: 'boolean' }, uuid: { type: 'string', maxLength: 36 },
          local_link_connection: { type: 'object', maxProperties: 0 },
        },
      },
    },
    config: { policy: 'baremetal:port:create' },
  }, async (req, reply) => {
    const b = req.body;
    const address = checkMac(b.address);
    const uuid = (b.uuid ?? randomUUID()).toLowerCase();
    if (!isUuid(uuid)) throw new BadRequest(`Expected a UUID but received ${JSON.stringify(b.uuid)}.`);
    const node = isUuid(b.node_uuid) ? await findNode(opts.db, b.node_uuid) : null;
    if (!node) throw new BadRequest(`Node ${b.node_uuid} could not be found.`);
    if (await getPortByAddress(opts.db, address)) throw macTaken(address);
    if (await getPort(opts.db, uuid)) throw new Conflict(`A port with UUID ${uuid} already exists.`);
    const row: BmPortRow = {
      uuid, node_uuid: node.uuid, address, pxe_enabled: b.pxe_enabled === false ? 0 : 1,
      extra: JSON.stringify(b.extra === undefined ? {} : checkJsonField('extra', b.extra)), created_at: new Date().toISOString(), updated_at: null,
    };
    await insertPort(opts.db, row).catch(async (err: unknown) => {
      if (await getPortByAddress(opts.db, address)) throw macTaken(address);
      throw err;
    });
    reply.code(201).header('location', `${requestBaseUrl(req)}/v1/ports/${uuid}`);
    return portView(row, req.ironicMinor, requestBaseUrl(req));
  });

  app.patch<{ Params: { port: string }; Body: PatchOp[] }>('/v1/ports/:port', { schema: { body: PATCH_SCHEMA }, config: { policy: 'baremetal:port:update' } }, async (req) => {
    const p = await portOf(req.params.port);
    for (const op of req.body) {
      const top = op.path.split('/')[1] ?? '';
      if (!['address', 'node_uuid', 'extra', 'pxe_enabled'].includes(top)) {
        throw new BadRequest(`Couldn't apply patch '${JSON.stringify(op)}'. Reason: '/${top}' is a read-only attribute or not known to this service`);
      }
    }
    const patched = applyPatch({ address: p.address, node_uuid: p.node_uuid, extra: JSON.parse(p.extra), pxe_enabled: p.pxe_enabled === 1 }, req.body);
    const address = checkMac(patched.address);
    const nodeUuid = typeof patched.node_uuid === 'string' && isUuid(patched.node_uuid) ? patched.node_uuid.toLowerCase() : '';
    if (nodeUuid !== p.node_uuid && !(await findNode(opts.db, nodeUuid || 'none'))) throw new BadRequest(`Node ${String(patched.node_uuid).slice(0, 40)} could not be found.`);
    if (typeof (patched.pxe_enabled ?? true) !== 'boolean') throw new BadRequest('Invalid input for field/attribute pxe_enabled: expected a boolean.');
    if (address !== p.address) {
      const other = await getPortByAddress(opts.db, address);
      if (other) throw macTaken(address);
    }
    await updatePort(opts.db, p.uuid, {
      address, node_uuid: nodeUuid, extra: JSON.stringify(checkJsonField('extra', patched.extra ?? {})), pxe_enabled: patched.pxe_enabled === false ? 0 : 1,
    }).catch(() => {
      throw macTaken(address);
    });
    return portView((await getPort(opts.db, p.uuid))!, req.ironicMinor, requestBaseUrl(req));
  });

  app.delete<{ Params: { port: string } }>('/v1/ports/:port', { config: { policy: 'baremetal:port:delete' } }, async (req, reply) => {
    const p = await portOf(req.params.port);
    await deletePort(opts.db, p.uuid);
    reply.code(204);
  });
}
