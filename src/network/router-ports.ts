import { newUuid } from '../common/ids.js';
import type { NetViewer } from '../db/network-networks.js';
import { getNetworkRow } from '../db/network-networks.js';
import { deletePortRow, fixedIpsOf, getPortRow, insertPortRow, releaseAddress, visiblePort, type PortRow } from '../db/network-ports.js';
import { claimPortForDevice } from '../db/network-routers.js';
import { subnetsOfNetwork, visibleSubnet, type SubnetRow } from '../db/network-subnets.js';
import { atomically } from '../db/transactions.js';
import { conflict, invalidInput, nowIso } from './common.js';
import { allocate, type IpRequest } from './ipam.js';
import type { NetworkAppOptions } from './options.js';
import { newMac } from './port-views.js';

/**
 * The ports the L3 service makes for itself — router interfaces (the subnet's gateway address),
 * router gateways and floating IP holders on external networks — and the port lookups the L3
 * routes need. Their addresses come from the port API's IPAM (ipam.ts: claimed through the
 * ip_allocations primary key), the port row and its addresses in one transaction, so a port
 * that cannot get its address is not made. These ports have no security groups and port
 * security off (a router forwards other hosts' addresses) and are bound to the router's agent
 * host, so the L2 agent of that host wires their taps.
 */

export interface ServicePortSpec {
  networkId: string;
  /** '' for the ports Neutron owns no project for (gateways and floating IP holders). */
  projectId: string;
  deviceId: string;
  deviceOwner: string;
  hostId: string;
  /** Addresses asked for (by subnet and/or address); none: the IPAM's default (one IPv4 address). */
  fixedIps?: IpRequest[];
  /** Only IPv4 subnets (a floating IP): the IPAM's default would also give SLAAC addresses. */
  ipv4Only?: boolean;
}

export interface ServicePort {
  id: string;
  network_id: string;
  fixed_ips: Array<{ subnet_id: string; ip_address: string }>;
}

const isRouterOwner = (owner: string): boolean => owner === 'network:router_interface' || owner === 'network:router_gateway';

export async function createServicePort(opts: NetworkAppOptions, spec: ServicePortSpec): Promise<ServicePort> {
  const network = await getNetworkRow(opts.db, spec.networkId);
  if (!network) throw invalidInput(`network ${spec.networkId} does not exist`);
  const id = newUuid();
  const at = nowIso();
  const fixed = await atomically(opts.db, async (tx) => {
    const subnets = (await subnetsOfNetwork(tx, spec.networkId)).filter((s) => !spec.ipv4Only || s.ip_version === 4);
    let mac = newMac();
    for (let attempt = 0; ; attempt++) {
      const inserted = await insertPortRow(tx, {
        id, network_id: spec.networkId, project_id: spec.projectId, name: '', description: '', mac_address: mac, admin_state_up: 1,
        status: 'DOWN', device_id: spec.deviceId, device_owner: spec.deviceOwner, binding_host_id: spec.hostId, binding_vnic_type: 'normal',
        binding_profile: '{}', port_security_enabled: 0, allowed_address_pairs: '[]', tags: '[]', revision_number: 1, created_at: at, updated_at: at,
      });
      if (inserted) break;
      if (attempt >= 8) throw conflict('MacAddressGenerationFailure', `Unable to generate unique mac on network ${spec.networkId}.`);
      mac = newMac();
    }
    return allocate(tx, { networkId: spec.networkId, subnets, portId: id, mac, requests: spec.fixedIps, routerPort: isRouterOwner(spec.deviceOwner) });
  });
  return { id, network_id: spec.networkId, fixed_ips: fixed };
}

/** Replaces a gateway port's addresses (admin's external_fixed_ips): one transaction, the kept ones kept. */
export async function updateServicePortIps(opts: NetworkAppOptions, portId: string, requests: IpRequest[]): Promise<void> {
  await atomically(opts.db, async (tx) => {
    const port = await getPortRow(tx, portId);
    if (!port) return;
    const old = (await fixedIpsOf(tx, [portId])).get(portId) ?? [];
    const subnets: SubnetRow[] = await subnetsOfNetwork(tx, port.network_id);
    const kept = old.filter((o) => requests.some((r) => (r.ip_address === undefined || r.ip_address === o.ip_address)
      && (r.subnet_id === undefined || r.subnet_id === o.subnet_id) && (r.ip_address !== undefined || r.subnet_id !== undefined)));
    const fresh = requests.filter((r) => !kept.some((o) => (r.ip_address === undefined || r.ip_address === o.ip_address)
      && (r.subnet_id === undefined || r.subnet_id === o.subnet_id)));
    for (const o of old) if (!kept.includes(o)) await releaseAddress(tx, portId, o);
    if (fresh.length > 0) await allocate(tx, { networkId: port.network_id, subnets, portId, mac: port.mac_address, requests: fresh, routerPort: true });
  });
}

/** Deletes a service port and its addresses (one already gone counts as deleted). */
export async function deleteServicePort(opts: NetworkAppOptions, portId: string): Promise<void> {
  await deletePortRow(opts.db, portId);
}

/** Takes an unused port over as a router interface; PortInUse when another device took it first. */
export async function claimPortForRouter(opts: NetworkAppOptions, portId: string, routerId: string, host: string): Promise<void> {
  if (!(await claimPortForDevice(opts.db, portId, routerId, 'network:router_interface', host, nowIso()))) {
    throw conflict('PortInUse', `Unable to complete operation on port ${portId}. Port already has an attached device.`);
  }
}

/** A port the viewer may see, else null (the port API's visibility). */
export function visiblePortRow(opts: NetworkAppOptions, viewer: NetViewer, id: string): Promise<PortRow | null> {
  return visiblePort(opts.db, viewer, id);
}

/** A subnet the viewer may see, else null (the subnet API's visibility). */
export function visibleSubnetRow(opts: NetworkAppOptions, viewer: NetViewer, id: string): Promise<SubnetRow | null> {
  return visibleSubnet(opts.db, viewer, id);
}

/** The fields the Nova notifier looks at, of a port that still exists. */
export async function portNotifyFields(opts: NetworkAppOptions, id: string): Promise<{ id: string; device_id: string; device_owner: string } | null> {
  const p = await getPortRow(opts.db, id);
  return p ? { id: p.id, device_id: p.device_id, device_owner: p.device_owner } : null;
}
