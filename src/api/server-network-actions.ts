import { Type, type TSchema } from '@sinclair/typebox';
import { BadRequest, NotFound } from '../common/errors.js';
import type { InstanceRow } from '../db/instances.js';
import type { ActionHandler, SomeActionHandlers } from './server-actions.js';
import { checkBody } from './server-common.js';

/**
 * The nova-network proxy actions (addFixedIp, removeFixedIp, addFloatingIp, removeFloatingIp).
 * 2.44 removed them (the catalogue's removedAt: the router answers 404, as for a resource that
 * no longer exists); below it they are validated and answered as Nova answers for a server with
 * no ports — Orrery has no Network service yet, so no server has a fixed or floating address.
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

export const NETWORK_ACTIONS = {
  addFixedIp: networkAction(AddFixedIpBody, (b) => new BadRequest(`Network ${String(b.networkId)} could not be found.`)),
  removeFixedIp: networkAction(AddressBody, (b, row) => new BadRequest(`Fixed IP ${String(b.address)} not found for instance ${row.uuid}`)),
  addFloatingIp: networkAction(AddFloatingIpBody, () => new BadRequest('No fixed IPs associated to instance')),
  removeFloatingIp: networkAction(AddressBody, (b) => new NotFound(`floating IP not found for address ${String(b.address)}`)),
} satisfies SomeActionHandlers;
