import { Type } from '@sinclair/typebox';
import { BadRequest, Conflict, errorMessage, NotFound, statusOf } from '../common/errors.js';
import { parseNetworkInfo } from '../db/instance-network.js';
import type { InstanceRow } from '../db/instances.js';
import type { ActionHandler, SomeActionHandlers } from './server-actions.js';
import { checkBody } from './server-common.js';
import { isUuidLike } from '../common/ids.js';
import type { ComputeApiDeps } from './deps.js';
import type { FastifyRequest } from 'fastify';
import { refreshInfoCache } from './server-ports.js';

/**
 * The nova-network proxy actions (addFixedIp, removeFixedIp, addFloatingIp, removeFloatingIp).
 * 2.44 removed them (the catalogue's removedAt: the router answers 404, as for a resource that
 * no longer exists). Below it, addFloatingIp/removeFloatingIp (Nova's floating_ips.py) go to
 * the Network API with the user's token and refresh the server's info cache, as do addFixedIp
 * and removeFixedIp (Nova's multinic over Neutron).
 */

const AddFixedIpBody = Type.Object({ networkId: Type.Union([Type.String({ minLength: 1 }), Type.Integer()]) }, { additionalProperties: false });
const AddressBody = Type.Object({ address: Type.String({ format: 'ipv4' }) }, { additionalProperties: false });
const AddFloatingIpBody = Type.Object({
  address: Type.String({ format: 'ipv4' }), fixed_address: Type.Optional(Type.String({ format: 'ipv4' })),
}, { additionalProperties: false });

/** The floating IP of `address` as the user sees it (another project's is not found). */
async function floatingIpByAddress(deps: ComputeApiDeps, req: FastifyRequest, address: string) {
  const found = await deps.network!.listFloatingIps({ floating_ip_address: address }, req.auth.tokenId);
  const fip = found.find((f) => f.floating_ip_address === address);
  if (!fip) throw new NotFound(`floating IP not found for address ${address}`);
  return fip;
}

/** The info cache refreshed after a change the API made itself; a failure leaves it to the network-changed event. */
async function refreshAfter(deps: ComputeApiDeps, row: InstanceRow): Promise<void> {
  await refreshInfoCache(deps.network!, deps.db, row).catch((err: unknown) => {
    deps.log.warn({ instance: row.uuid, err: errorMessage(err) }, 'could not refresh the info cache');
  });
}

/**
 * Nova's multinic over Neutron (add_fixed_ip_to_instance / remove_fixed_ip_from_instance): one
 * more address from the network on the server's port there, or one address off the port that
 * has it; with the user's token, the cache refreshed after.
 */
const addFixedIp: ActionHandler = {
  body: AddFixedIpBody,
  handler: async (deps, req, reply, row, raw) => {
    const b = checkBody(AddFixedIpBody, raw) as { networkId: string | number };
    const networkId = String(b.networkId);
    const notFound = new BadRequest(`Network ${networkId} could not be found.`);
    if (!deps.network) throw notFound;
    const ports = (await deps.network.listPorts({ device_id: row.uuid, limit: '64' }, req.auth.tokenId)).filter((p) => p.network_id === networkId);
    if (ports.length === 0) throw notFound;
    const port = ports[0]!;
    const subnets = await deps.network.listSubnets({ network_id: networkId }, req.auth.tokenId);
    const v4 = subnets.find((sn) => sn.ip_version === 4) ?? subnets[0];
    if (!v4) throw notFound;
    await deps.network.updatePort(port.id, { fixed_ips: [...port.fixed_ips, { subnet_id: v4.id }] }, req.auth.tokenId).catch((err: unknown) => {
      throw (statusOf(err) ?? 500) < 500 ? new BadRequest(`Unable to add a fixed IP on network ${networkId}: ${errorMessage(err)}`) : err;
    });
    await refreshAfter(deps, row);
    reply.code(202);
    return undefined;
  },
};

const removeFixedIp: ActionHandler = {
  body: AddressBody,
  handler: async (deps, req, reply, row, raw) => {
    const b = checkBody(AddressBody, raw) as { address: string };
    const notFound = new BadRequest(`Fixed IP ${b.address} not found for instance ${row.uuid}`);
    if (!deps.network) throw notFound;
    const ports = await deps.network.listPorts({ device_id: row.uuid, limit: '64' }, req.auth.tokenId);
    const port = ports.find((p) => p.fixed_ips.some((f) => f.ip_address === b.address));
    if (!port) throw notFound;
    await deps.network.updatePort(port.id, { fixed_ips: port.fixed_ips.filter((f) => f.ip_address !== b.address) }, req.auth.tokenId);
    await refreshAfter(deps, row);
    reply.code(202);
    return undefined;
  },
};

const addFloatingIp: ActionHandler = {
  body: AddFloatingIpBody,
  handler: async (deps, req, reply, row, raw) => {
    const b = checkBody(AddFloatingIpBody, raw) as { address: string; fixed_address?: string };
    if (!deps.network) throw new BadRequest('No fixed IPs associated to instance');
    const fixed = (parseNetworkInfo(row.network_info) ?? []).flatMap((v) => v.fixed_ips.filter((f) => f.version === 4).map((f) => ({ port: v.port_id, ip: f.address })));
    if (fixed.length === 0) throw new BadRequest('No fixed IPs associated to instance');
    const target = b.fixed_address === undefined ? fixed[0]! : fixed.find((f) => f.ip === b.fixed_address);
    if (!target) throw new BadRequest('Specified fixed address not assigned to instance');
    const fip = await floatingIpByAddress(deps, req, b.address);
    try {
      await deps.network.updateFloatingIp(fip.id, { port_id: target.port, fixed_ip_address: target.ip }, req.auth.tokenId);
    } catch (err) {
      const status = statusOf(err) ?? 500;
      if (status >= 500) throw err;
      // Nova: FloatingIpAssociateFailed and the Network API's refusals (no router to the external network…) are the user's 400.
      throw new BadRequest(`Unable to associate floating IP ${b.address} to fixed IP ${target.ip} for instance ${row.uuid}. Error: ${errorMessage(err)}`);
    }
    await refreshAfter(deps, row);
    reply.code(202);
    return undefined;
  },
};

const removeFloatingIp: ActionHandler = {
  body: AddressBody,
  handler: async (deps, req, reply, row, raw) => {
    const b = checkBody(AddressBody, raw) as { address: string };
    if (!deps.network) throw new NotFound(`floating IP not found for address ${b.address}`);
    const fip = await floatingIpByAddress(deps, req, b.address);
    const ports = new Set((parseNetworkInfo(row.network_info) ?? []).map((v) => v.port_id));
    if (!fip.port_id || !ports.has(fip.port_id)) throw new Conflict(`Floating IP ${b.address} is not associated with instance ${row.uuid}.`);
    await deps.network.updateFloatingIp(fip.id, { port_id: null }, req.auth.tokenId);
    await refreshAfter(deps, row);
    reply.code(202);
    return undefined;
  },
};

const SecurityGroupBody = Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }) }, { additionalProperties: false });

/** The group `name` (or id) of the server's project, as the user sees it: Nova's 404 when there is none. */
async function groupOf(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, name: string): Promise<string> {
  const missing = new NotFound(`Security group ${name} not found for project ${row.project_id}.`);
  if (!deps.network) throw missing;
  const q = new URLSearchParams({ name, project_id: row.project_id });
  const byName = await deps.network.call<{ security_groups: Array<{ id: string }> }>('GET', `/v2.0/security-groups?${q}`, undefined, req.auth.tokenId)
    .then((r) => r.security_groups, (err: unknown) => (statusOf(err) === 404 ? [] : Promise.reject(err)));
  if (byName.length > 1) throw new Conflict(`Multiple security groups found matching '${name}'. Use an ID to be more specific.`);
  if (byName.length === 1) return byName[0]!.id;
  if (!isUuidLike(name)) throw missing;
  const byId = await deps.network.call<{ security_group: { id: string; project_id: string } }>('GET', `/v2.0/security-groups/${encodeURIComponent(name)}`, undefined, req.auth.tokenId)
    .catch((err: unknown) => (statusOf(err) === 404 ? null : Promise.reject(err)));
  if (!byId || byId.security_group.project_id !== row.project_id) throw missing;
  return byId.security_group.id;
}

/** Nova's add_to_instance / remove_from_instance: the group on (or off) every port of the server. */
function securityGroupAction(adding: boolean): ActionHandler {
  return {
    body: SecurityGroupBody,
    handler: async (deps, req, reply, row, raw) => {
      const { name } = checkBody(SecurityGroupBody, raw) as { name: string };
      const id = await groupOf(deps, req, row, name);
      const ports = (await deps.network!.listPorts({ device_id: row.uuid, limit: '64' }, req.auth.tokenId)).filter((p) => p.device_owner.startsWith('compute:'));
      if (ports.length === 0) throw new BadRequest(`instance_id ${row.uuid} could not be found as device id on any ports`);
      if (adding && ports.some((p) => p.port_security_enabled === false)) {
        throw new BadRequest('Network requires port_security_enabled and subnet associated in order to apply security groups.');
      }
      if (!adding && !ports.some((p) => p.security_groups.includes(id))) {
        throw new BadRequest(`Security group ${name} not associated with the instance ${row.uuid}`);
      }
      for (const p of ports) {
        const groups = adding ? [...new Set([...p.security_groups, id])] : p.security_groups.filter((g) => g !== id);
        await deps.network!.updatePort(p.id, { security_groups: groups }, req.auth.tokenId);
      }
      reply.code(202);
      return undefined;
    },
  };
}

export const NETWORK_ACTIONS = {
  addSecurityGroup: securityGroupAction(true),
  removeSecurityGroup: securityGroupAction(false),
  addFixedIp,
  removeFixedIp,
  addFloatingIp,
  removeFloatingIp,
} satisfies SomeActionHandlers;
