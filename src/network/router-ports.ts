import { randomBytes } from 'node:crypto';
import { newUuid } from '../common/ids.js';
import { DuplicateEntry } from '../db/connection.js';
import { getNetworkRow, networkVisible, type NetViewer } from '../db/network-networks.js';
import {
  allocateAddress, claimPortForDevice, deleteServicePortRows, getPortRow, getSubnetRowById, insertServicePortRow, portAddresses,
  releaseAddresses, subnetsOfNetworkRows, type RouterPortRow,
} from '../db/network-routers.js';
import { badRequest, conflict, invalidInput, nowIso } from './common.js';
import { canonicalIp, cidrContains, formatIp, parseCidr, parseIp } from './ip.js';
import type { NetworkAppOptions } from './options.js';

/**
 * The ports the L3 service makes for itself — router interfaces (the subnet's gateway address),
 * router gateways and floating IP holders on external networks — and the port lookups the L3
 * routes need. These ports have no security groups and port security off (a router forwards
 * other hosts' addresses) and are bound to the router's agent host. Their addresses come from
 * the subnets' allocation pools (or are the ones asked for), claimed one insert at a time into
 * ip_allocations, whose (subnet, address) primary key is the guarantee no address is handed out
 * twice, whoever else (the port API's IPAM) allocates concurrently.
 */

export interface ServicePortSpec {
  networkId: string;
  /** '' for the ports Neutron owns no project for (gateways and floating IP holders). */
  projectId: string;
  deviceId: string;
  deviceOwner: string;
  hostId: string;
  /** Addresses asked for (by subnet and/or address); none: one address of the network's first (IPv4) subnet. */
  fixedIps?: Array<{ subnet_id?: string; ip_address?: string }>;
  ipv4Only?: boolean;
}

export interface ServicePort {
  id: string;
  network_id: string;
  fixed_ips: Array<{ subnet_id: string; ip_address: string }>;
}

/** Most addresses tried in one pool walk before giving up (a /16 pool is 65534 addresses). */
const MAX_TRIES = 65_536;

const macAddress = (): string => `fa:16:3e:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;

const exhausted = (networkId: string) => conflict('IpAddressGenerationFailure', `No more IP addresses available on network ${networkId}.`);
const inUse = (networkId: string, ip: string) => conflict('IpAddressInUse', `Unable to complete operation for network ${networkId}. The IP address ${ip} is in use.`);

type Subnet = NonNullable<Awaited<ReturnType<typeof getSubnetRowById>>>;

/** Claims one address on `subnet`: the one asked for, or the first free one of its pools. */
async function claimOn(opts: NetworkAppOptions, subnet: Subnet, portId: string, ip: string | undefined): Promise<string> {
  if (ip !== undefined) {
    if (!(await allocateAddress(opts.db, { subnet_id: subnet.id, ip_address: ip, network_id: subnet.network_id, port_id: portId }))) {
      throw inUse(subnet.network_id, ip);
    }
    return ip;
  }
  const pools = JSON.parse(subnet.allocation_pools) as Array<{ start: string; end: string }>;
  const taken = new Set((await opts.db.selectFrom('ip_allocations').select('ip_address').where('subnet_id', '=', subnet.id).execute()).map((r) => r.ip_address));
  let tries = 0;
  for (const pool of pools) {
    const start = parseIp(pool.start);
    const end = parseIp(pool.end);
    if (!start || !end) continue;
    for (let v = start.value; v <= end.value && tries < MAX_TRIES; v++) {
      const text = formatIp({ version: start.version, value: v });
      if (taken.has(text)) continue;
      tries++;
      if (await allocateAddress(opts.db, { subnet_id: subnet.id, ip_address: text, network_id: subnet.network_id, port_id: portId })) return text;
      taken.add(text);
    }
  }
  throw exhausted(subnet.network_id);
}

/** Makes a service port with its addresses; nothing is left behind when an address cannot be had. */
export async function createServicePort(opts: NetworkAppOptions, spec: ServicePortSpec): Promise<ServicePort> {
  const { db } = opts;
  const network = await getNetworkRow(db, spec.networkId);
  if (!network) throw invalidInput(`network ${spec.networkId} does not exist`);
  const subnets = (await subnetsOfNetworkRows(db, spec.networkId)).filter((s) => !spec.ipv4Only || s.ip_version === 4);
  const wanted: Array<{ subnet: Subnet; ip?: string }> = [];
  for (const f of spec.fixedIps ?? []) {
    let ip: string | undefined;
    if (f.ip_address !== undefined) {
      ip = canonicalIp(f.ip_address) ?? undefined;
      if (ip === undefined) throw invalidInput(`${f.ip_address} is not a valid IP address`);
    }
    const parsed = ip === undefined ? null : parseIp(ip)!;
    const subnet = f.subnet_id !== undefined
      ? subnets.find((s) => s.id === f.subnet_id)
      : subnets.find((s) => { const c = parseCidr(s.cidr); return c !== null && parsed !== null && cidrContains(c, parsed); });
    if (!subnet) throw badRequest('InvalidIpForNetwork', `IP address ${f.ip_address ?? f.subnet_id} is not a valid IP for any of the subnets on the specified network.`);
    if (parsed && !cidrContains(parseCidr(subnet.cidr)!, parsed)) {
      throw badRequest('InvalidIpForSubnet', `IP address ${ip} is not a valid IP for the specified subnet.`);
    }
    wanted.push({ subnet, ...(ip !== undefined ? { ip } : {}) });
  }
  if (spec.fixedIps === undefined) {
    const first = subnets.find((s) => s.ip_version === 4) ?? subnets[0];
    if (first) wanted.push({ subnet: first });
  }
  const id = newUuid();
  const at = nowIso();
  for (let attempt = 0; ; attempt++) {
    try {
      await insertServicePortRow(db, {
        id, network_id: spec.networkId, project_id: spec.projectId, name: '', description: '', mac_address: macAddress(), admin_state_up: 1,
        status: 'DOWN', device_id: spec.deviceId, device_owner: spec.deviceOwner, binding_host_id: spec.hostId, binding_vnic_type: 'normal',
        binding_profile: '{}', port_security_enabled: 0, allowed_address_pairs: '[]', tags: '[]', revision_number: 1, created_at: at, updated_at: at,
      });
      break;
    } catch (err) {
      // The MAC is unique per network; another random one is tried (a clash is 1 in 16M per port).
      if (!(err instanceof DuplicateEntry) || attempt >= 8) throw err;
    }
  }
  const fixed: ServicePort['fixed_ips'] = [];
  try {
    for (const w of wanted) fixed.push({ subnet_id: w.subnet.id, ip_address: await claimOn(opts, w.subnet, id, w.ip) });
  } catch (err) {
    await deleteServicePortRows(db, id);
    throw err;
  }
  return { id, network_id: spec.networkId, fixed_ips: fixed };
}

/** Replaces a gateway port's addresses (admin's external_fixed_ips): the new ones claimed before the old ones go. */
export async function updateServicePortIps(opts: NetworkAppOptions, portId: string, fixedIps: Array<{ subnet_id?: string; ip_address?: string }>): Promise<void> {
  const port = await getPortRow(opts.db, portId);
  if (!port) return;
  const old = await portAddresses(opts.db, [portId]);
  const subnets = await subnetsOfNetworkRows(opts.db, port.network_id);
  const keep = new Set<string>();
  const claimed: Array<{ subnet_id: string; ip_address: string }> = [];
  try {
    for (const f of fixedIps) {
      const ip = f.ip_address === undefined ? undefined : canonicalIp(f.ip_address) ?? undefined;
      if (f.ip_address !== undefined && ip === undefined) throw invalidInput(`${f.ip_address} is not a valid IP address`);
      const same = old.find((o) => (ip === undefined || o.ip_address === ip) && (f.subnet_id === undefined || o.subnet_id === f.subnet_id));
      if (same) {
        keep.add(`${same.subnet_id} ${same.ip_address}`);
        continue;
      }
      const parsed = ip === undefined ? null : parseIp(ip)!;
      const subnet = subnets.find((s) => (f.subnet_id === undefined || s.id === f.subnet_id)
        && (parsed === null || cidrContains(parseCidr(s.cidr)!, parsed)));
      if (!subnet) throw badRequest('InvalidIpForNetwork', `IP address ${f.ip_address ?? f.subnet_id} is not a valid IP for any of the subnets on the specified network.`);
      const got = await claimOn(opts, subnet, portId, ip);
      claimed.push({ subnet_id: subnet.id, ip_address: got });
      keep.add(`${subnet.id} ${got}`);
    }
  } catch (err) {
    await releaseAddresses(opts.db, portId, claimed);
    throw err;
  }
  await releaseAddresses(opts.db, portId, old.filter((o) => !keep.has(`${o.subnet_id} ${o.ip_address}`)));
}

/** Deletes a service port and its addresses (one already gone counts as deleted). */
export async function deleteServicePort(opts: NetworkAppOptions, portId: string): Promise<void> {
  await deleteServicePortRows(opts.db, portId);
}

/** Takes an unused port over as a router interface; PortInUse when another device took it first. */
export async function claimPortForRouter(opts: NetworkAppOptions, portId: string, routerId: string, host: string): Promise<void> {
  if (!(await claimPortForDevice(opts.db, portId, routerId, 'network:router_interface', host, nowIso()))) {
    throw conflict('PortInUse', `Unable to complete operation on port ${portId}. Port already has an attached device.`);
  }
}

/** A port the viewer may see (its project's, or any for admin), else null. */
export async function visiblePortRow(opts: NetworkAppOptions, viewer: NetViewer, id: string): Promise<RouterPortRow | null> {
  const p = await getPortRow(opts.db, id);
  return p && (viewer.isAdmin || p.project_id === viewer.projectId) ? p : null;
}

/** A subnet the viewer may see (on a network it may see), else null. */
export async function visibleSubnetRow(opts: NetworkAppOptions, viewer: NetViewer, id: string): Promise<Subnet | null> {
  const s = await getSubnetRowById(opts.db, id);
  if (!s) return null;
  const n = await getNetworkRow(opts.db, s.network_id);
  if (!n) return null;
  return viewer.isAdmin || s.project_id === viewer.projectId || networkVisible(viewer, n) ? s : null;
}

/** The fields the Nova notifier looks at, of a port that still exists. */
export async function portNotifyFields(opts: NetworkAppOptions, id: string): Promise<{ id: string; device_id: string; device_owner: string } | null> {
  const p = await getPortRow(opts.db, id);
  return p ? { id: p.id, device_id: p.device_id, device_owner: p.device_owner } : null;
}
