import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { newUuid } from '../common/ids.js';
import { DuplicateEntry } from '../db/connection.js';
import {
  deleteNetworkCascade, flatNetworkOn, insertNetwork, listVisibleNetworks, parseRanges, subnetIdsFor, updateNetworkRow, visibleNetwork,
  type NetworkRow,
} from '../db/network-networks.js';
import { otherProjectsOnNetwork } from '../db/network-ports.js';
import { ensureDefaultGroup } from '../db/network-security-groups.js';
import { atomically } from '../db/transactions.js';
import { allowed, authorize } from '../httpkit/authorize.js';
import {
  bit, bool, conflict, Description, IdParams, invalidInput, Name, networkNotFound, nowIso, ProjectId, requestedProject, standardAttrs,
  Tags, viewerOf, checkIfMatch,
} from './common.js';
import { fieldsOf, listAnswer, pickFields, type View } from './list-kit.js';
import { MTU, networkOpt, type NetworkAppOptions } from './options.js';
import { checkQuota } from './quota.js';

/** /v2.0/networks: project networks (VXLAN, a VNI each) and admin's flat provider, shared and external networks. */

const NetworkType = Type.Union([Type.Literal('vxlan'), Type.Literal('flat')]);
const Mtu = Type.Integer({ minimum: 68, maximum: 65535 });

const CreateBody = Type.Object({
  network: Type.Object({
    name: Type.Optional(Name), description: Type.Optional(Description), admin_state_up: Type.Optional(Type.Boolean()),
    shared: Type.Optional(Type.Boolean()), 'router:external': Type.Optional(Type.Boolean()), is_default: Type.Optional(Type.Boolean()),
    mtu: Type.Optional(Mtu), port_security_enabled: Type.Optional(Type.Boolean()),
    project_id: Type.Optional(ProjectId), tenant_id: Type.Optional(ProjectId),
    'provider:network_type': Type.Optional(NetworkType),
    'provider:physical_network': Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' })),
    'provider:segmentation_id': Type.Optional(Type.Integer({ minimum: 1, maximum: 16777215 })),
    availability_zone_hints: Type.Optional(Type.Array(Type.String({ maxLength: 255 }), { maxItems: 16 })),
    tags: Type.Optional(Tags),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
type CreateBody = Static<typeof CreateBody>;

const UpdateBody = Type.Object({
  network: Type.Object({
    name: Type.Optional(Name), description: Type.Optional(Description), admin_state_up: Type.Optional(Type.Boolean()),
    shared: Type.Optional(Type.Boolean()), 'router:external': Type.Optional(Type.Boolean()), is_default: Type.Optional(Type.Boolean()),
    mtu: Type.Optional(Mtu), port_security_enabled: Type.Optional(Type.Boolean()),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
type UpdateBody = Static<typeof UpdateBody>;

export const NETWORK_ATTRIBUTES = [
  'id', 'name', 'tenant_id', 'project_id', 'admin_state_up', 'status', 'subnets', 'shared', 'router:external', 'is_default', 'mtu',
  'port_security_enabled', 'availability_zone_hints', 'availability_zones', 'ipv4_address_scope', 'ipv6_address_scope', 'l2_adjacency',
  'provider:network_type', 'provider:physical_network', 'provider:segmentation_id', 'description', 'tags', 'created_at', 'updated_at',
  'revision_number',
] as const;

/** A network as Neutron shows it; the provider attributes only to whom `get_network:provider:*` allows. */
export function networkView(req: FastifyRequest, row: NetworkRow, subnets: string[]): View {
  const v: View = {
    id: row.id, name: row.name, tenant_id: row.project_id, project_id: row.project_id, admin_state_up: bool(row.admin_state_up),
    status: row.status, subnets, shared: bool(row.shared), 'router:external': bool(row.router_external), is_default: bool(row.is_default),
    mtu: row.mtu, port_security_enabled: bool(row.port_security_enabled), availability_zone_hints: [], availability_zones: ['nova'],
    ipv4_address_scope: null, ipv6_address_scope: null, l2_adjacency: true,
    ...standardAttrs(row),
  };
  if (allowed(req, 'get_network:provider:network_type')) {
    Object.assign(v, {
      'provider:network_type': row.network_type, 'provider:physical_network': row.physical_network, 'provider:segmentation_id': row.segmentation_id,
    });
  }
  return v;
}

/** The attributes of a create or update body that need an admin rule of their own (Neutron's attribute policies). */
function checkAttributeRules(req: FastifyRequest, action: 'create' | 'update', body: Record<string, unknown>, projectId: string): void {
  for (const attr of ['shared', 'router:external', 'is_default', 'provider:network_type', 'provider:physical_network', 'provider:segmentation_id']) {
    if (Object.hasOwn(body, attr)) authorize(req, `${action}_network:${attr}`, { project_id: projectId });
  }
}

export function registerNetworkRoutes(app: FastifyInstance, opts: NetworkAppOptions): void {
  const { db, config } = opts;
  const vniRanges = parseRanges(networkOpt(config, 'vni_ranges'));

  const showOne = async (req: FastifyRequest, row: NetworkRow): Promise<View> =>
    networkView(req, row, (await subnetIdsFor(db, [row.id])).get(row.id) ?? []);

  app.get('/v2.0/networks', { config: { policy: 'get_network' } }, async (req) => {
    const rows = await listVisibleNetworks(db, viewerOf(req));
    const subnets = await subnetIdsFor(db, rows.map((r) => r.id));
    return listAnswer(req, { collection: 'networks', attributes: NETWORK_ATTRIBUTES }, rows.map((r) => networkView(req, r, subnets.get(r.id) ?? [])));
  });

  app.get<{ Params: { id: string } }>('/v2.0/networks/:id', { config: { policy: 'get_network' }, schema: { params: IdParams } }, async (req) => {
    const row = await visibleNetwork(db, viewerOf(req), req.params.id);
    if (!row) throw networkNotFound(req.params.id);
    return { network: pickFields(await showOne(req, row), fieldsOf(req)) };
  });

  app.post<{ Body: CreateBody }>('/v2.0/networks', { config: { policy: 'create_network' }, schema: { body: CreateBody } }, async (req, reply) => {
    const b = req.body.network;
    const projectId = requestedProject(req, b);
    authorize(req, 'create_network', { project_id: projectId });
    checkAttributeRules(req, 'create', b, projectId);
    const type = b['provider:network_type'] ?? 'vxlan';
    const physnet = b['provider:physical_network'] ?? null;
    const segment = b['provider:segmentation_id'] ?? null;
    if (type === 'flat') {
      if (physnet === null) throw invalidInput('physical_network required for flat provider network');
      if (segment !== null) throw invalidInput('segmentation_id prohibited for flat provider network');
      if (await flatNetworkOn(db, physnet)) {
        throw conflict('FlatNetworkInUse', `Unable to create the flat network. Physical network ${physnet} is in use.`);
      }
    } else if (physnet !== null) {
      throw invalidInput('provider:physical_network specified for vxlan network');
    }
    const maxMtu = MTU[type];
    if (b.mtu !== undefined && b.mtu > maxMtu) throw invalidInput(`Requested MTU is too big, maximum is ${maxMtu}`);
    const at = nowIso();
    const row = {
      id: newUuid(), project_id: projectId, name: b.name ?? '', description: b.description ?? '', admin_state_up: bit(b.admin_state_up ?? true),
      status: 'ACTIVE', shared: bit(b.shared ?? false), router_external: bit(b['router:external'] ?? false), is_default: bit(b.is_default ?? false),
      mtu: b.mtu ?? maxMtu, network_type: type, physical_network: physnet, segmentation_id: segment,
      port_security_enabled: bit(b.port_security_enabled ?? true), tags: JSON.stringify([...new Set(b.tags ?? [])]), revision_number: 1,
      created_at: at, updated_at: at,
    };
    // The quota is counted, then the network inserted; a VNI race inside insertNetwork retries on its own.
    await checkQuota(db, config, projectId, 'network');
    let inserted: boolean;
    try {
      inserted = await insertNetwork(db, row, vniRanges);
    } catch (err) {
      if (err instanceof DuplicateEntry && segment !== null) {
        throw conflict('TunnelIdInUse', `Unable to create the network. The tunnel ID ${segment} is in use.`);
      }
      throw err;
    }
    if (!inserted) throw conflict('NoNetworkAvailable', 'Unable to create the network. No tenant network is available for allocation.');
    // The project's default security group exists from its first network on (its ports will want it).
    await ensureDefaultGroup(db, projectId, at);
    const created = await visibleNetwork(db, { projectId, isAdmin: true }, row.id);
    reply.code(201);
    return { network: await showOne(req, created!) };
  });

  app.put<{ Params: { id: string }; Body: UpdateBody }>('/v2.0/networks/:id', {
    config: { policy: 'update_network' }, schema: { params: IdParams, body: UpdateBody },
  }, async (req) => {
    const b = req.body.network;
    const row = await visibleNetwork(db, viewerOf(req), req.params.id);
    if (!row) throw networkNotFound(req.params.id);
    authorize(req, 'update_network', { project_id: row.project_id });
    checkIfMatch(req, row.revision_number);
    checkAttributeRules(req, 'update', b, row.project_id);
    const maxMtu = MTU[row.network_type as keyof typeof MTU] ?? 1500;
    if (b.mtu !== undefined && b.mtu > maxMtu) throw invalidInput(`Requested MTU is too big, maximum is ${maxMtu}`);
    const changes = {
      ...(b.name !== undefined ? { name: b.name } : {}), ...(b.description !== undefined ? { description: b.description } : {}),
      ...(b.admin_state_up !== undefined ? { admin_state_up: bit(b.admin_state_up) } : {}),
      ...(b.shared !== undefined ? { shared: bit(b.shared) } : {}),
      ...(b['router:external'] !== undefined ? { router_external: bit(b['router:external']) } : {}),
      ...(b.is_default !== undefined ? { is_default: bit(b.is_default) } : {}),
      ...(b.mtu !== undefined ? { mtu: b.mtu } : {}),
      ...(b.port_security_enabled !== undefined ? { port_security_enabled: bit(b.port_security_enabled) } : {}),
    };
    await atomically(db, async (tx) => {
      // Neutron refuses to unshare a network other projects have ports on.
      if (b.shared === false && row.shared === 1) {
        if (await otherProjectsOnNetwork(tx, row.id, row.project_id)) throw conflict('InvalidSharedSetting', `Unable to reconfigure sharing settings for network ${row.id}. Multiple tenants are using it.`);
      }
      if (!(await updateNetworkRow(tx, row.id, { ...changes, updated_at: nowIso() }))) throw networkNotFound(row.id);
    });
    const updated = await visibleNetwork(db, { projectId: row.project_id, isAdmin: true }, row.id);
    if (!updated) throw networkNotFound(row.id);
    return { network: await showOne(req, updated) };
  });

  app.delete<{ Params: { id: string } }>('/v2.0/networks/:id', {
    config: { policy: 'delete_network' }, schema: { params: IdParams },
  }, async (req, reply) => {
    const row = await visibleNetwork(db, viewerOf(req), req.params.id);
    if (!row) throw networkNotFound(req.params.id);
    authorize(req, 'delete_network', { project_id: row.project_id });
    checkIfMatch(req, row.revision_number);
    const r = await deleteNetworkCascade(db, row.id);
    if (r === 'gone') throw networkNotFound(row.id);
    if (r === 'in-use') {
      throw conflict('NetworkInUse', `Unable to complete operation on network ${row.id}. There are one or more ports still in use on the network.`);
    }
    reply.code(204);
  });
}
