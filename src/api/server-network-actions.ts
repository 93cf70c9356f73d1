import type { FastifyRequest } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import { BadRequest, NotFound } from '../common/errors.js';
import type { InstanceRow } from '../db/instances.js';
import { mvAtLeast } from './microversion.js';
import { checkBody } from './server-common.js';

/**
 * The nova-network proxy actions (addFixedIp, removeFixedIp, addFloatingIp, removeFloatingIp).
 * 2.44 removed them (404, as a resource that no longer exists); below it they are validated and
 * answered as Nova answers for a server with no ports — Orrery has no Network service yet, so no
 * server has a fixed or floating address.
 */

const AddFixedIpBody = Type.Object({ networkId: Type.Union([Type.String({ minLength: 1 }), Type.Integer()]) }, { additionalProperties: false });
const AddressBody = Type.Object({ address: Type.String({ format: 'ipv4' }) }, { additionalProperties: false });
const AddFloatingIpBody = Type.Object({
  address: Type.String({ format: 'ipv4' }), fixed_address: Type.Optional(Type.String({ format: 'ipv4' })),
}, { additionalProperties: false });

interface NetworkAction { body: TSchema; policy: string; answer: (body: Record<string, unknown>, row: InstanceRow) => Error }

export const NETWORK_ACTIONS = new Map<string, NetworkAction>([
  ['addFixedIp', {
    body: AddFixedIpBody, policy: 'os_compute_api:os-multinic:add',
    answer: (b) => new BadRequest(`Network ${String(b.networkId)} could not be found.`),
  }],
  ['removeFixedIp', {
    body: AddressBody, policy: 'os_compute_api:os-multinic:remove',
    answer: (b, row) => new BadRequest(`Fixed IP ${String(b.address)} not found for instance ${row.uuid}`),
  }],
  ['addFloatingIp', {
    body: AddFloatingIpBody, policy: 'os_compute_api:os-floating-ips:add',
    answer: () => new BadRequest('No fixed IPs associated to instance'),
  }],
  ['removeFloatingIp', {
    body: AddressBody, policy: 'os_compute_api:os-floating-ips:remove',
    answer: (b) => new NotFound(`floating IP not found for address ${String(b.address)}`),
  }],
]);

/** Runs one of them: never a change, always Nova's answer for the request's version. */
export function networkAction(req: FastifyRequest, a: NetworkAction, row: InstanceRow, raw: unknown): never {
  if (mvAtLeast(req, '2.44')) throw new NotFound('The resource could not be found.');
  throw a.answer(checkBody(a.body, raw) as Record<string, unknown>, row);
}
