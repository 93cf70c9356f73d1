import type { FastifyRequest } from 'fastify';
import { getRouterRow, portAddresses, routersOnSubnets } from '../db/network-routers.js';
import { badRequest, notFound, portNotFound, viewerOf } from './common.js';
import { canonicalIp } from './ip.js';
import type { NetworkAppOptions } from './options.js';
import { visiblePortRow } from './router-ports.js';

/** A floating IP's association as stored: the fixed port and address, and the router that translates. */
export interface Association {
  portId: string;
  fixedIp: string;
  routerId: string;
}

/**
 * Neutron's _get_assoc_data: the port must be the caller's (another project's is its 404) and
 * not a network-owned port; the fixed address is the one given (it must be the port's) or the
 * port's only IPv4 address; and a router must connect the address's subnet to the floating
 * IP's external network (its gateway on that network, an interface on that subnet).
 */
export async function resolveAssociation(
  opts: NetworkAppOptions, req: FastifyRequest, floatingNetworkId: string, portId: string, fixedIp: string | null,
): Promise<Association> {
  const port = await visiblePortRow(opts, viewerOf(req), portId);
  if (!port) throw portNotFound(portId);
  if (port.device_owner.startsWith('network:')) {
    throw badRequest('BadRequest', `Bad floatingip request: Port ${port.id} has owner ${port.device_owner} and therefore cannot be associated with a floating IP.`);
  }
  const v4 = (await portAddresses(opts.db, [port.id])).filter((a) => !a.ip_address.includes(':'));
  let chosen: (typeof v4)[number] | undefined;
  if (fixedIp !== null) {
    const want = canonicalIp(fixedIp);
    chosen = v4.find((a) => a.ip_address === want);
    if (!chosen) throw badRequest('BadRequest', `Bad floatingip request: Port ${port.id} does not have fixed ip ${fixedIp}.`);
  } else {
    if (v4.length === 0) throw badRequest('BadRequest', `Bad floatingip request: Cannot add floating IP to port ${port.id} that has no fixed IPv4 addresses.`);
    if (v4.length > 1) {
      throw badRequest('BadRequest', `Bad floatingip request: Port ${port.id} has multiple fixed IPv4 addresses. Must provide a specific IPv4 address when assigning a floating IP.`);
    }
    chosen = v4[0]!;
  }
  for (const r of await routersOnSubnets(opts.db, [chosen.subnet_id])) {
    const router = await getRouterRow(opts.db, r.router_id);
    if (router?.gw_network_id === floatingNetworkId) return { portId: port.id, fixedIp: chosen.ip_address, routerId: router.id };
  }
  throw notFound('ExternalGatewayForFloatingIPNotFound',
    `External network ${floatingNetworkId} is not reachable from subnet ${chosen.subnet_id}. Therefore, cannot associate Port ${port.id} with a Floating IP.`);
}
