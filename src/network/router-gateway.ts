import type { FastifyRequest } from 'fastify';
import { visibleNetwork } from '../db/network-networks.js';
import { floatingIpsOfRouters } from '../db/network-floating-ips.js';
import { getRouterRow, ROUTER_GATEWAY_OWNER, updateRouterRow, type RouterRow } from '../db/network-routers.js';
import { authorize } from '../httpkit/authorize.js';
import { bit, conflict, nowIso, viewerOf } from './common.js';
import type { NetworkAppOptions } from './options.js';
import { badResource, routerNotFound } from './router-common.js';
import { createServicePort, deleteServicePort, updateServicePortIps } from './router-ports.js';

/**
 * A router's external gateway (external_gateway_info): setting it makes the gateway port on the
 * external network (device_owner network:router_gateway, an address from its subnets, or the
 * ones admin chose), changing the network replaces that port, clearing it deletes it — refused
 * while floating IPs need it. The SNAT flag and fixed addresses are admin's by policy.
 */

export interface GatewayInfo {
  network_id?: string;
  enable_snat?: boolean;
  external_fixed_ips?: Array<{ subnet_id?: string; ip_address?: string }>;
}

/** Checks the attribute rules of a gateway body (`<action>_router:external_gateway_info[:…]`). */
export function authorizeGateway(req: FastifyRequest, action: 'create' | 'update', info: GatewayInfo | null, projectId: string): void {
  authorize(req, `${action}_router:external_gateway_info`, { project_id: projectId });
  if (info === null) return;
  for (const attr of ['network_id', 'enable_snat', 'external_fixed_ips'] as const) {
    if (Object.hasOwn(info, attr)) authorize(req, `${action}_router:external_gateway_info:${attr}`, { project_id: projectId });
  }
}

/** A gateway body that says "no gateway": null or `{}`. */
export const clearsGateway = (info: GatewayInfo | null): boolean => info === null || info.network_id === undefined;

/**
 * Applies `info` to the router. Failures leave the router as it was: a new gateway port is made
 * before the old one goes, and deleted again when the router row cannot take it.
 */
export async function applyGateway(req: FastifyRequest, opts: NetworkAppOptions, router: RouterRow, info: GatewayInfo | null): Promise<void> {
  const { db } = opts;
  if (clearsGateway(info)) {
    if (router.gw_network_id === null) return;
    await refuseWhileFloatingIps(opts, router);
    await updateRouterRow(db, router.id, { gw_network_id: null, gw_port_id: null, updated_at: nowIso() });
    if (router.gw_port_id) await deleteServicePort(opts, router.gw_port_id);
    return;
  }
  const netId = info!.network_id!;
  const snat = info!.enable_snat ?? (router.gw_network_id === netId ? router.enable_snat === 1 : true);
  const net = await visibleNetwork(db, viewerOf(req), netId);
  if (!net || net.router_external !== 1) throw badResource('router', `Network ${netId} is not a valid external network`);
  if (router.gw_network_id === netId && router.gw_port_id) {
    if (info!.external_fixed_ips !== undefined) await updateServicePortIps(opts, router.gw_port_id, info!.external_fixed_ips);
    await updateRouterRow(db, router.id, { enable_snat: bit(snat), updated_at: nowIso() });
    return;
  }
  if (router.gw_network_id !== null) await refuseWhileFloatingIps(opts, router);
  const port = await createServicePort(opts, {
    networkId: netId, projectId: '', deviceId: router.id, deviceOwner: ROUTER_GATEWAY_OWNER, hostId: router.agent_host ?? '',
    fixedIps: info!.external_fixed_ips,
  });
  const ok = await updateRouterRow(db, router.id, { gw_network_id: netId, gw_port_id: port.id, enable_snat: bit(snat), updated_at: nowIso() });
  if (!ok) {
    await deleteServicePort(opts, port.id);
    throw routerNotFound(router.id);
  }
  if (router.gw_port_id) await deleteServicePort(opts, router.gw_port_id);
}

async function refuseWhileFloatingIps(opts: NetworkAppOptions, router: RouterRow): Promise<void> {
  const fresh = (await getRouterRow(opts.db, router.id)) ?? router;
  if ((await floatingIpsOfRouters(opts.db, [router.id])).length > 0) {
    throw conflict('RouterExternalGatewayInUseByFloatingIp',
      `Gateway cannot be updated for router ${router.id}, since a gateway to external network ${fresh.gw_network_id} is required by one or more floating IPs.`);
  }
}
