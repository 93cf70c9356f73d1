import { Type, type TSchema } from '@sinclair/typebox';
import { BadRequest, Conflict, errorMessage, NotFound, statusOf } from '../common/errors.js';
import { parseNetworkInfo } from '../db/instance-network.js';
import type { InstanceRow } from '../db/instances.js';
import type { ActionHandler, SomeActionHandlers } from './server-actions.js';
import { checkBody } from './server-common.js';
import type { ComputeApiDeps } from './deps.js';
import type { FastifyRequest } from 'fastify';
import { refreshInfoCache } from './server-ports.js';

/**
 * The nova-network proxy actions (addFixedIp, removeFixedIp, addFloatingIp, removeFloatingIp).
 * 2.44 removed them (the catalogue's removedAt: the router answers 404, as for a resource that
 * no longer exists). Below it, addFloatingIp/removeFloatingIp (Nova's floating_ips.py) go to
 * the Network API with the user's token and refresh the server's info cache; addFixedIp and
 * removeFixedIp are answered as Nova answers for a server with no such network or address.
 */

const AddFixedIpBody = Type.Object({ networkId: Type.Union([Type.String({ minLength: 1 }), Type.Integer()]) }, { additionalProperties: false });
const AddressBody = Type.Object({ address: Type.String({ format: 'ipv4' }) }, { additionalProperties: false });
const AddFloatingIpBody = Type.Object({
  address: Type.String({ format: 'ipv4' }), fixed_address: Type.Optional(Type.String({ format: 'ipv4' })),
}, { additionalProperties: false });

/** Never a change, always Nova's answer: the body validated, then the error for a server with no ports. */
function networkAction(body: TSchema, answer: (body: Record<string, unknown>, row: InstanceRow) => Error): ActionHandler {
  return { body, handler: (_deps, _req, _reply, row, raw) => Promise.reject(answer(checkBody(body, raw) as Record<string, unknown>, row)) };
}

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

export const NETWORK_ACTIONS = {
  addFixedIp: networkAction(AddFixedIpBody, (b) => new BadRequest(`Network ${String(b.networkId)} could not be found.`)),
  removeFixedIp: networkAction(AddressBody, (b, row) => new BadRequest(`Fixed IP ${String(b.address)} not found for instance ${row.uuid}`)),
  addFloatingIp,
  removeFloatingIp,
} satisfies SomeActionHandlers;
