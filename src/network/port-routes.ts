import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { newUuid } from '../common/ids.js';
import { getNetworkRow, visibleNetwork, type NetworkRow } from '../db/network-networks.js';
import {
  deletePortRow, fixedIpsOf, insertPortRow, listVisiblePorts, releaseAddress, securityGroupIdsOf, setPortSecurityGroups, updatePortRow,
  visiblePort, type FixedIp, type PortRow,
} from '../db/network-ports.js';
import { ensureDefaultGroup, visibleSecurityGroup } from '../db/network-security-groups.js';
import { subnetsOfNetwork } from '../db/network-subnets.js';
import { atomically } from '../db/transactions.js';
import { authorize } from '../httpkit/authorize.js';
import {
  bit, conflict, Description, IdParams, invalidInput, Name, NeutronError, networkNotFound, nowIso, portNotFound, ProjectId, requestedProject,
  sgNotFound, Tags, viewerOf, checkIfMatch,
} from './common.js';
import { canonicalIp, formatCidr, parseCidr } from './ip.js';
import { allocate, type IpRequest } from './ipam.js';
import { fieldsOf, listAnswer, pickFields, valuesOf, type RawQuery, type View } from './list-kit.js';
import type { NetworkAppOptions } from './options.js';
import { fixedIpsFilter, newMac, PORT_ATTRIBUTES, portView } from './port-views.js';
import { checkQuota } from './quota.js';

/** /v2.0/ports: a port's addresses (the IPAM), MAC, device, binding, security groups and address pairs. */

export const MAX_FIXED_IPS = 32;
export const MAX_ADDRESS_PAIRS = 10;
export const MAX_PORT_GROUPS = 32;
const MAC_RE = '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$';

const FixedIpT = Type.Object({
  subnet_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })), ip_address: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
}, { additionalProperties: false });
const PairT = Type.Object({
  ip_address: Type.String({ minLength: 1, maxLength: 64 }), mac_address: Type.Optional(Type.String({ pattern: MAC_RE })),
}, { additionalProperties: false });
const mutable = {
  name: Type.Optional(Name), description: Type.Optional(Description), admin_state_up: Type.Optional(Type.Boolean()),
  fixed_ips: Type.Optional(Type.Array(FixedIpT, { maxItems: MAX_FIXED_IPS })),
  device_id: Type.Optional(Type.String({ maxLength: 255 })), device_owner: Type.Optional(Type.String({ maxLength: 255 })),
  security_groups: Type.Optional(Type.Union([Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: MAX_PORT_GROUPS }), Type.Null()])),
  allowed_address_pairs: Type.Optional(Type.Union([Type.Array(PairT, { maxItems: MAX_ADDRESS_PAIRS }), Type.Null()])),
  port_security_enabled: Type.Optional(Type.Boolean()),
  mac_address: Type.Optional(Type.String({ pattern: MAC_RE })),
  'binding:host_id': Type.Optional(Type.String({ maxLength: 255 })),
  'binding:vnic_type': Type.Optional(Type.Literal('normal')),
  'binding:profile': Type.Optional(Type.Union([Type.Record(Type.String({ maxLength: 255 }), Type.Unknown(), { maxProperties: 32 }), Type.Null()])),
};
const CreateBody = Type.Object({
  port: Type.Object({
    ...mutable, network_id: Type.String({ minLength: 1, maxLength: 255 }),
    project_id: Type.Optional(ProjectId), tenant_id: Type.Optional(ProjectId), tags: Type.Optional(Tags),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
type CreateBody = Static<typeof CreateBody>;
const UpdateBody = Type.Object({ port: Type.Object(mutable, { additionalProperties: false }) }, { additionalProperties: false });
type UpdateBody = Static<typeof UpdateBody>;
type Mutable = Static<typeof UpdateBody>['port'];

/** Ports only their owning service deletes (routers and floating IPs): the port API refuses them. */
const SERVICE_OWNED = ['network:router_interface', 'network:router_gateway', 'network:floatingip'];


function checkMac(mac: string): string {
  const m = mac.toLowerCase();
  if ((parseInt(m.slice(0, 2), 16) & 1) === 1 || m === '00:00:00:00:00:00') throw invalidInput(`'${mac}' is not a valid MAC address`);
  return m;
}

function checkPairs(pairs: ReadonlyArray<{ ip_address: string; mac_address?: string }>): Array<{ ip_address: string; mac_address?: string }> {
  const out: Array<{ ip_address: string; mac_address?: string }> = [];
  for (const p of pairs) {
    const c = p.ip_address.includes('/') ? parseCidr(p.ip_address) : null;
    const ip = c ? (c.host ? null : formatCidr(c)) : canonicalIp(p.ip_address);
    if (!ip) throw invalidInput(`'${p.ip_address}' is not a valid IP address`);
    const pair = { ip_address: ip, ...(p.mac_address !== undefined ? { mac_address: checkMac(p.mac_address) } : {}) };
    if (out.some((o) => o.ip_address === pair.ip_address && o.mac_address === pair.mac_address)) {
      throw invalidInput(`Duplicate address detected: ${pair.ip_address}`);
    }
    out.push(pair);
  }
  return out;
}

/** Neutron's attribute rules of a port write; those Neutron gives the network's owner are checked on its project. */
function checkPortAttributes(req: FastifyRequest, action: 'create' | 'update', b: Mutable, network: NetworkRow, projectId: string): void {
  const onNet = { project_id: network.project_id };
  if (b.fixed_ips?.some((f) => f.ip_address !== undefined)) authorize(req, `${action}_port:fixed_ips:ip_address`, onNet);
  if (b.mac_address !== undefined) authorize(req, `${action}_port:mac_address`, action === 'create' ? onNet : { project_id: projectId });
  if (b.device_owner?.startsWith('network:')) authorize(req, `${action}_port:device_owner`, onNet);
  if (b.port_security_enabled !== undefined) authorize(req, `${action}_port:port_security_enabled`, onNet);
  if (b['binding:host_id'] !== undefined) authorize(req, `${action}_port:binding:host_id`, { project_id: projectId });
  if (b['binding:profile'] !== undefined) authorize(req, `${action}_port:binding:profile`, { project_id: projectId });
}

/** The groups named, each one the caller may see (else SecurityGroupNotFound). */
async function checkGroups(opts: NetworkAppOptions, req: FastifyRequest, ids: readonly string[]): Promise<string[]> {
  for (const id of ids) if (!(await visibleSecurityGroup(opts.db, viewerOf(req), id))) throw sgNotFound(id);
  return [...new Set(ids)];
}

function checkPortSecurity(enabled: boolean, groups: readonly string[], pairs: readonly unknown[]): void {
  if (enabled) return;
  if (groups.length > 0) {
    throw conflict('PortSecurityAndIPRequiredForSecurityGroups', 'Port security must be enabled and port must have an IP address in order to use security groups.');
  }
  if (pairs.length > 0) throw conflict('AddressPairAndPortSecurityRequired', 'Port Security must be enabled in order to have allowed address pairs on a port.');
}

export function registerPortRoutes(app: FastifyInstance, opts: NetworkAppOptions): void {
  const { db, config } = opts;
  const views = async (req: FastifyRequest | null, rows: PortRow[]): Promise<View[]> => {
    const ids = rows.map((r) => r.id);
    const [ips, groups] = await Promise.all([fixedIpsOf(db, ids), securityGroupIdsOf(db, ids)]);
    return rows.map((r) => portView(req, r, ips.get(r.id) ?? [], groups.get(r.id) ?? []));
  };
  const one = async (req: FastifyRequest, id: string): Promise<View> => {
    const row = await visiblePort(db, { projectId: null, isAdmin: true }, id);
    if (!row) throw portNotFound(id);
    return (await views(req, [row]))[0]!;
  };
  const notify = (port: { id: string; device_id: string; device_owner: string }): void => opts.notifier?.portChanged(port);

  app.get('/v2.0/ports', { config: { policy: 'get_port' } }, async (req) => {
    const q = req.query as RawQuery;
    const host = valuesOf(q, 'binding:host_id');
    const rows = await listVisiblePorts(db, viewerOf(req), {
      network_id: valuesOf(q, 'network_id'), device_id: valuesOf(q, 'device_id'), ...(host.length === 1 && req.auth.isAdmin ? { binding_host_id: host[0] } : {}),
    });
    return listAnswer(req, { collection: 'ports', attributes: PORT_ATTRIBUTES, special: new Map([['fixed_ips', fixedIpsFilter]]) }, await views(req, rows));
  });

  app.get<{ Params: { id: string } }>('/v2.0/ports/:id', { config: { policy: 'get_port' }, schema: { params: IdParams } }, async (req) => {
    const row = await visiblePort(db, viewerOf(req), req.params.id);
    if (!row) throw portNotFound(req.params.id);
    return { port: pickFields((await views(req, [row]))[0]!, fieldsOf(req)) };
  });

  app.post<{ Body: CreateBody }>('/v2.0/ports', { config: { policy: 'create_port' }, schema: { body: CreateBody } }, async (req, reply) => {
    const b = req.body.port;
    const projectId = requestedProject(req, b);
    const network = await visibleNetwork(db, viewerOf(req), b.network_id);
    if (!network) throw networkNotFound(b.network_id);
    authorize(req, 'create_port', { project_id: projectId });
    if (network.project_id !== projectId && network.shared !== 1 && !req.auth.isAdmin) {
      throw new NeutronError(403, 'HTTPForbidden', `Tenant ${projectId} not allowed to create port on this network`);
    }
    checkPortAttributes(req, 'create', b, network, projectId);
    const owner = b.device_owner ?? '';
    const portSecurity = b.port_security_enabled ?? network.port_security_enabled === 1;
    const pairs = checkPairs(b.allowed_address_pairs ?? []);
    const groups = await checkGroups(opts, req, b.security_groups ?? []);
    checkPortSecurity(portSecurity, groups, pairs);
    // Neutron's default: the project's default group on every port it filters, except the network's own ports.
    const wantsDefault = b.security_groups === undefined && portSecurity && !owner.startsWith('network:');
    const givenMac = b.mac_address === undefined ? undefined : checkMac(b.mac_address);
    const id = newUuid();
    const at = nowIso();
    const host = b['binding:host_id'] ?? '';
    await atomically(db, async (tx) => {
      const subnets = await subnetsOfNetwork(tx, network.id);
      await checkQuota(tx, config, projectId, 'port');
      let mac = givenMac ?? newMac();
      for (let attempt = 0; ; attempt++) {
        const inserted = await insertPortRow(tx, {
          id, network_id: network.id, project_id: projectId, name: b.name ?? '', description: b.description ?? '', mac_address: mac,
          admin_state_up: bit(b.admin_state_up ?? true), status: 'DOWN', device_id: b.device_id ?? '', device_owner: owner,
          binding_host_id: host, binding_vnic_type: 'normal', binding_profile: JSON.stringify(b['binding:profile'] ?? {}),
          port_security_enabled: bit(portSecurity), allowed_address_pairs: JSON.stringify(pairs), tags: JSON.stringify([...new Set(b.tags ?? [])]),
          revision_number: 1, created_at: at, updated_at: at,
        });
        if (inserted) break;
        if (givenMac !== undefined) {
          throw conflict('MacAddressInUse', `Unable to complete operation for network ${network.id}. The mac address ${mac} is in use.`);
        }
        if (attempt >= 8) throw conflict('MacAddressGenerationFailure', `Unable to generate unique mac on network ${network.id}.`);
        mac = newMac();
      }
      await allocate(tx, {
        networkId: network.id, subnets, portId: id, mac, requests: b.fixed_ips as IpRequest[] | undefined, routerPort: owner === 'network:router_interface' || owner === 'network:router_gateway',
      });
      // The default group is made (if need be) in the port's transaction: a refused create leaves none behind.
      await setPortSecurityGroups(tx, id, wantsDefault ? [await ensureDefaultGroup(tx, projectId, at)] : groups);
    });
    reply.code(201);
    return { port: await one(req, id) };
  });

  app.put<{ Params: { id: string }; Body: UpdateBody }>('/v2.0/ports/:id', {
    config: { policy: 'update_port' }, schema: { params: IdParams, body: UpdateBody },
  }, async (req) => {
    const b = req.body.port;
    const row = await visiblePort(db, viewerOf(req), req.params.id);
    if (!row) throw portNotFound(req.params.id);
    authorize(req, 'update_port', { project_id: row.project_id });
    checkIfMatch(req, row.revision_number);
    const network = (await getNetworkRow(db, row.network_id))!;
    checkPortAttributes(req, 'update', b, network, row.project_id);
    const current = (await views(null, [row]))[0]!;
    const portSecurity = b.port_security_enabled ?? row.port_security_enabled === 1;
    const pairs = b.allowed_address_pairs === undefined ? (current.allowed_address_pairs as Array<{ ip_address: string }>) : checkPairs(b.allowed_address_pairs ?? []);
    const groups = b.security_groups === undefined ? (current.security_groups as string[]) : await checkGroups(opts, req, b.security_groups ?? []);
    checkPortSecurity(portSecurity, groups, pairs);
    let mac = row.mac_address;
    if (b.mac_address !== undefined) {
      mac = checkMac(b.mac_address);
      if (mac !== row.mac_address && row.binding_host_id !== '') {
        throw conflict('PortBound', `Unable to complete operation on port ${row.id}, port is already bound, port type: bridge, old_mac ${row.mac_address}, new_mac ${mac}.`);
      }
    }
    const owner = b.device_owner ?? row.device_owner;
    const oldIps = current.fixed_ips as FixedIp[];
    let ipsChanged = false;
    const changes: Record<string, unknown> = { updated_at: nowIso() };
    if (b.name !== undefined) changes.name = b.name;
    if (b.description !== undefined) changes.description = b.description;
    if (b.admin_state_up !== undefined) changes.admin_state_up = bit(b.admin_state_up);
    if (b.device_id !== undefined) changes.device_id = b.device_id;
    if (b.device_owner !== undefined) changes.device_owner = b.device_owner;
    if (b.port_security_enabled !== undefined) changes.port_security_enabled = bit(portSecurity);
    if (b.allowed_address_pairs !== undefined) changes.allowed_address_pairs = JSON.stringify(pairs);
    if (b['binding:profile'] !== undefined) changes.binding_profile = JSON.stringify(b['binding:profile'] ?? {});
    if (b['binding:host_id'] !== undefined && b['binding:host_id'] !== row.binding_host_id) {
      changes.binding_host_id = b['binding:host_id'];
      // Bound elsewhere (or unbound): down until the new host's agent reports it wired.
      changes.status = 'DOWN';
    }
    if (mac !== row.mac_address) changes.mac_address = mac;
    await atomically(db, async (tx) => {
      if (b.fixed_ips !== undefined) {
        // The body's list replaces the port's: entries naming a held address keep it, a bare subnet keeps the one held there.
        const keep: FixedIp[] = [];
        const add: IpRequest[] = [];
        for (const f of b.fixed_ips) {
          const ip = f.ip_address === undefined ? undefined : canonicalIp(f.ip_address) ?? f.ip_address;
          const held = oldIps.find((o) => !keep.includes(o) && (ip !== undefined ? o.ip_address === ip && (f.subnet_id === undefined || o.subnet_id === f.subnet_id)
            : o.subnet_id === f.subnet_id));
          if (held) keep.push(held);
          else add.push(f);
        }
        const drop = oldIps.filter((o) => !keep.includes(o));
        for (const d of drop) await releaseAddress(tx, row.id, d);
        if (add.length > 0) {
          await allocate(tx, {
            networkId: row.network_id, subnets: await subnetsOfNetwork(tx, row.network_id), portId: row.id, mac, requests: add,
            routerPort: owner === 'network:router_interface' || owner === 'network:router_gateway',
          });
        }
        ipsChanged = drop.length > 0 || add.length > 0;
      }
      if (!(await updatePortRow(tx, row.id, changes))) throw portNotFound(row.id);
      if (b.security_groups !== undefined || b.port_security_enabled === false) await setPortSecurityGroups(tx, row.id, groups);
    });
    const updated = await one(req, row.id);
    if (ipsChanged) notify({ id: row.id, device_id: updated.device_id as string, device_owner: updated.device_owner as string });
    return { port: updated };
  });

  app.delete<{ Params: { id: string } }>('/v2.0/ports/:id', {
    config: { policy: 'delete_port' }, schema: { params: IdParams },
  }, async (req, reply) => {
    const row = await visiblePort(db, viewerOf(req), req.params.id);
    if (!row) throw portNotFound(req.params.id);
    authorize(req, 'delete_port', { project_id: row.project_id });
    checkIfMatch(req, row.revision_number);
    if (SERVICE_OWNED.includes(row.device_owner) && !req.auth.isAdmin) {
      throw conflict('ServicePortInUse', `Port ${row.id} cannot be deleted directly via the port API: has device owner ${row.device_owner}.`);
    }
    if (!(await deletePortRow(db, row.id))) throw portNotFound(row.id);
    notify(row);
    reply.code(204);
  });
}
