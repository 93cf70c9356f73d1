import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { floatingIpsThroughRouter } from '../db/network-floating-ips.js';
import { getSubnetsByIds, portAddresses, ROUTER_INTERFACE_OWNER, type RouterRow } from '../db/network-routers.js';
import { authorize } from '../httpkit/authorize.js';
import { badRequest, conflict, IdParams, notFound, portNotFound, subnetNotFound, viewerOf } from './common.js';
import { cidrContains, cidrsOverlap, parseCidr, parseIp } from './ip.js';
import type { NetworkAppOptions } from './options.js';
import { checkQuota } from './quota.js';
import { interfacesOf, routerNotFound, visibleRouter } from './router-common.js';
import { claimPortForRouter, createServicePort, deleteServicePort, visiblePortRow, visibleSubnetRow } from './router-ports.js';

/**
 * PUT /v2.0/routers/{id}/add_router_interface and …/remove_router_interface, by subnet (a new
 * port holding the subnet's gateway address) or by port (an unused port of the caller's, taken
 * over by the router). A subnet is on a router once, and its CIDR may not overlap another
 * subnet of the router (the router could not route between them); a subnet a floating IP or a
 * static route still reaches through the router cannot be removed.
 */

const Body = Type.Object({
  subnet_id: Type.Optional(Type.String({ maxLength: 255 })), port_id: Type.Optional(Type.String({ maxLength: 255 })),
}, { additionalProperties: false });
type Body = Static<typeof Body>;

/** Neutron's answer to both calls. */
function interfaceInfo(router: RouterRow, port: { id: string; network_id: string }, subnetIds: string[]): Record<string, unknown> {
  return {
    id: router.id, tenant_id: router.project_id, project_id: router.project_id, port_id: port.id, network_id: port.network_id,
    subnet_id: subnetIds[0] ?? null, subnet_ids: subnetIds,
  };
}

export function registerRouterInterfaceRoutes(app: FastifyInstance, opts: NetworkAppOptions): void {
  const { db } = opts;

  const routerFor = async (req: FastifyRequest, id: string, rule: string): Promise<RouterRow> => {
    const row = await visibleRouter(db, req, id);
    if (!row) throw routerNotFound(id);
    authorize(req, rule, { project_id: row.project_id });
    return row;
  };

  /** Refuses a subnet already on the router, or one overlapping a subnet of the router. */
  const checkConnectable = async (router: RouterRow, subnetIds: string[]): Promise<void> => {
    const ifaces = await interfacesOf(db, router.id);
    const have = new Set(ifaces.flatMap((i) => i.ips.map((a) => a.subnet_id)));
    const existing = await getSubnetsByIds(db, [...have]);
    const adding = await getSubnetsByIds(db, subnetIds);
    for (const s of adding) {
      if (have.has(s.id)) throw badRequest('BadRequest', `Bad router request: Router already has a port on subnet ${s.id}.`);
      const c = parseCidr(s.cidr);
      for (const e of existing) {
        const ec = parseCidr(e.cidr);
        if (c && ec && cidrsOverlap(c, ec)) {
          throw badRequest('BadRequest', `Bad router request: Cidr ${s.cidr} of subnet ${s.id} overlaps with cidr ${e.cidr} of subnet ${e.id}.`);
        }
      }
    }
  };

  app.put<{ Params: { id: string }; Body: Body }>('/v2.0/routers/:id/add_router_interface', {
    config: { policy: 'add_router_interface' }, schema: { params: IdParams, body: Body },
  }, async (req) => {
    const router = await routerFor(req, req.params.id, 'add_router_interface');
    const b = req.body;
    if ((b.subnet_id === undefined) === (b.port_id === undefined)) {
      throw badRequest('BadRequest', 'Bad router request: Either subnet_id or port_id must be specified.');
    }
    if (b.port_id !== undefined) {
      const port = await visiblePortRow(opts, viewerOf(req), b.port_id);
      if (!port) throw portNotFound(b.port_id);
      if (port.device_id !== '' || port.device_owner !== '') {
        throw conflict('PortInUse', `Unable to complete operation on port ${port.id} for network ${port.network_id}. Port already has an attached device ${port.device_id}.`);
      }
      const subnetIds = [...new Set((await portAddresses(db, [port.id])).map((a) => a.subnet_id))];
      if (subnetIds.length === 0) throw badRequest('BadRequest', 'Bad router request: Router port must have at least one fixed IP.');
      await checkConnectable(router, subnetIds);
      await claimPortForRouter(opts, port.id, router.id, router.agent_host ?? '');
      return interfaceInfo(router, port, subnetIds);
    }
    const subnet = await visibleSubnetRow(opts, viewerOf(req), b.subnet_id!);
    if (!subnet) throw subnetNotFound(b.subnet_id!);
    if (subnet.gateway_ip === null) throw badRequest('BadRequest', 'Bad router request: Subnet for router interface must have a gateway IP.');
    await checkConnectable(router, [subnet.id]);
    // The interface port is the subnet owner's port (Neutron counts it in that project's port quota).
    await checkQuota(db, opts.config, subnet.project_id, 'port');
    const port = await createServicePort(opts, {
      networkId: subnet.network_id, projectId: subnet.project_id, deviceId: router.id, deviceOwner: ROUTER_INTERFACE_OWNER,
      hostId: router.agent_host ?? '', fixedIps: [{ subnet_id: subnet.id, ip_address: subnet.gateway_ip }],
    });
    // A concurrent add of the same subnet loses on the gateway address (IpAddressInUse 409): one interface per subnet.
    return interfaceInfo(router, { id: port.id, network_id: subnet.network_id }, [subnet.id]);
  });

  app.put<{ Params: { id: string }; Body: Body }>('/v2.0/routers/:id/remove_router_interface', {
    config: { policy: 'remove_router_interface' }, schema: { params: IdParams, body: Body },
  }, async (req) => {
    const router = await routerFor(req, req.params.id, 'remove_router_interface');
    const b = req.body;
    if (b.subnet_id === undefined && b.port_id === undefined) {
      throw badRequest('BadRequest', 'Bad router request: Either subnet_id or port_id must be specified.');
    }
    const ifaces = await interfacesOf(db, router.id);
    let iface: (typeof ifaces)[number] | undefined;
    if (b.port_id !== undefined) {
      iface = ifaces.find((i) => i.id === b.port_id);
      if (!iface) throw notFound('RouterInterfaceNotFound', `Router ${router.id} does not have an interface with id ${b.port_id}`);
      if (b.subnet_id !== undefined && !iface.ips.some((a) => a.subnet_id === b.subnet_id)) {
        throw badRequest('SubnetMismatchForPort', `Subnet ${b.subnet_id} on port ${b.port_id} does not match with the requested subnet`);
      }
    } else {
      iface = ifaces.find((i) => i.ips.some((a) => a.subnet_id === b.subnet_id));
      if (!iface) throw notFound('RouterInterfaceNotFoundForSubnet', `Router ${router.id} has no interface on subnet ${b.subnet_id}`);
    }
    const subnetIds = [...new Set(iface.ips.map((a) => a.subnet_id))];
    if ((await floatingIpsThroughRouter(db, router.id, subnetIds)).length > 0) {
      throw conflict('RouterInterfaceInUseByFloatingIP',
        `Router interface for subnet ${subnetIds[0]} on router ${router.id} cannot be deleted, as it is required by one or more floating IPs.`);
    }
    const subnets = await getSubnetsByIds(db, subnetIds);
    const routes = JSON.parse(router.routes) as Array<{ destination: string; nexthop: string }>;
    for (const r of routes) {
      const hop = parseIp(r.nexthop);
      if (hop && subnets.some((s) => { const c = parseCidr(s.cidr); return c !== null && cidrContains(c, hop); })) {
        throw conflict('RouterInterfaceInUse', `Router interface for subnet ${subnetIds[0]} on router ${router.id} cannot be deleted, as it is required by one or more routes.`);
      }
    }
    await deleteServicePort(opts, iface.id);
    return interfaceInfo(router, iface, subnetIds);
  });
}
