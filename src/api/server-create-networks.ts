import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import type { NetworkClient, NeutronNetwork } from '../clients/network-client.js';
import { BadRequest, Conflict, statusOf } from '../common/errors.js';
import { isUuidLike } from '../common/ids.js';
import type { NetworkRequest, RequestedNetwork } from '../objects/network.js';
import { mvAtLeast } from './microversion.js';
import { checkNetworkTag } from './server-create-checks.js';
import { cidrContains } from './cidr.js';

/**
 * The requested networks of a create, as Nova's API validates them against Neutron with the
 * user's own token (nova/network/neutron.py validate_networks): every network exists and is
 * visible to the user, every port is free, a fixed IP belongs to the network and is not taken,
 * `auto`/`none` (2.37+, then required) or, before 2.37, nothing given = the one network there
 * is (none: no port; several: NetworkAmbiguous 409). Security groups by name or id.
 */

export interface RequestedEntry {
  fixed_ip?: string;
  port?: string | null;
  uuid?: string;
  tag?: string;
}

/** Most entries one create may list (Nova bounds them by the port quota; this bounds the work of one request). */
const MAX_REQUESTED = 32;
const AMBIGUOUS = 'Multiple possible networks found, use a Network ID to be more specific.';

/** The shape checks that need no network service (run before any lookup). */
export function checkNetworkShapes(req: FastifyRequest, networks: RequestedEntry[] | 'auto' | 'none' | undefined): void {
  if (mvAtLeast(req, '2.37')) {
    if (networks === undefined) throw new BadRequest("Invalid input for field/attribute server. 'networks' is a required property");
  } else if (typeof networks === 'string') {
    throw new BadRequest(`Invalid input for field/attribute networks. Value: ${networks}. '${networks}' is not of type 'array'`);
  }
  if (!Array.isArray(networks)) return;
  if (networks.length > MAX_REQUESTED) throw new BadRequest(`Invalid input for field/attribute networks: at most ${MAX_REQUESTED} entries`);
  for (const n of networks) {
    if (n.tag !== undefined) checkNetworkTag(req);
    if (n.fixed_ip !== undefined && isIP(n.fixed_ip) === 0) {
      throw new BadRequest(`Invalid input for field/attribute fixed_ip. Value: ${n.fixed_ip}. '${n.fixed_ip}' is not valid under any of the given schemas`);
    }
    if (n.port) {
      if (n.fixed_ip !== undefined) {
        throw new BadRequest(`Specified Fixed IP '${n.fixed_ip}' cannot be used with port '${n.port}': the two cannot be specified together.`);
      }
      if (!isUuidLike(n.port)) throw new BadRequest(`Invalid input for field/attribute port. Value: ${n.port}. '${n.port}' is not a 'uuid'`);
      continue;
    }
    if (n.uuid === undefined) throw new BadRequest("Bad network format: missing 'uuid'");
    if (!isUuidLike(n.uuid)) {
      throw mvAtLeast(req, '2.37')
        ? new BadRequest(`Invalid input for field/attribute uuid. Value: ${n.uuid}. '${n.uuid}' is not a 'uuid'`)
        : new BadRequest(`Bad networks format: network uuid is not in proper format (${n.uuid})`);
    }
  }
}

/** A lookup with the user's token: 404 (absent or not visible to the user) becomes `missing`. */
async function orMissing<T>(p: Promise<T>, missing: () => Error): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (statusOf(err) === 404) throw missing();
    throw err;
  }
}

/** The networks the user could boot on without naming one: the project's own and the shared ones, never an external one (Nova's _get_available_networks). */
async function availableNetworks(client: NetworkClient, token: string, projectId: string): Promise<NeutronNetwork[]> {
  const own = await client.listNetworks({ project_id: projectId, shared: 'false' }, token);
  const shared = await client.listNetworks({ shared: 'true' }, token);
  const all = new Map([...own, ...shared].filter((n) => n['router:external'] !== true).map((n) => [n.id, n]));
  return [...all.values()];
}

/**
 * The create's NetworkRequest (RequestSpec.network), checked against the Network API with the
 * user's token. `maxCount` > 1 refuses a port or a fixed IP (one port cannot serve two servers).
 */
export async function resolveNetworks(
  client: NetworkClient, req: FastifyRequest, networks: RequestedEntry[] | 'auto' | 'none' | undefined,
  securityGroups: Array<{ name?: string }> | undefined, maxCount: number,
): Promise<NetworkRequest> {
  const token = req.auth.tokenId;
  const projectId = req.auth.projectId!;
  const securityGroupIds = await resolveSecurityGroups(client, token, projectId, securityGroups);
  if (networks === 'none') return { mode: 'none', networks: [], securityGroupIds: [] };
  if (networks === undefined || networks === 'auto') {
    const available = await availableNetworks(client, token, projectId);
    if (available.length > 1) throw new Conflict(AMBIGUOUS);
    if (available.length === 1) return { mode: 'list', networks: [{ networkId: available[0]!.id }], securityGroupIds };
    // Below 2.37 nothing given and nothing there: a server with no port, as Nova did; `auto`: get-me-a-network.
    return networks === 'auto' ? { mode: 'auto', networks: [], securityGroupIds } : { mode: 'none', networks: [], securityGroupIds: [] };
  }
  const out: RequestedNetwork[] = [];
  const ports = new Set<string>();
  for (const n of networks) {
    if (n.port) {
      if (maxCount > 1) {
        throw new BadRequest('Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.');
      }
      if (ports.has(n.port)) throw new BadRequest(`Port ${n.port} is requested more than once.`);
      ports.add(n.port);
      const port = await orMissing(client.getPort(n.port, token), () => new BadRequest(`Port id ${n.port} could not be found.`));
      if (port.device_id !== '') throw new Conflict(`Port ${port.id} is still in use.`);
      if (port.mac_address === '' || port.fixed_ips.length === 0) {
        // Nova's PortRequiresFixedIP: a port with no address cannot be wired.
        throw new BadRequest(`Port ${port.id} requires a FixedIP in order to be used.`);
      }
      out.push({ portId: port.id, networkId: port.network_id, ...(n.tag !== undefined ? { tag: n.tag } : {}) });
      continue;
    }
    const id = n.uuid!;
    const net = await orMissing(client.getNetwork(id, token), () => new BadRequest(`Network ${id} could not be found.`));
    if (n.fixed_ip !== undefined) {
      if (maxCount > 1) throw new BadRequest('max_count cannot be greater than 1 if an fixed_ip is specified.');
      await checkFixedIp(client, token, net, n.fixed_ip);
    }
    out.push({ networkId: net.id, ...(n.fixed_ip !== undefined ? { fixedIp: n.fixed_ip } : {}), ...(n.tag !== undefined ? { tag: n.tag } : {}) });
  }
  return { mode: 'list', networks: out, securityGroupIds };
}

async function checkFixedIp(client: NetworkClient, token: string, net: NeutronNetwork, ip: string): Promise<void> {
  const subnets = await client.listSubnets({ network_id: net.id }, token);
  if (!subnets.some((s) => cidrContains(s.cidr, ip))) {
    throw new BadRequest(`Fixed IP address ${ip} is not valid on network ${net.id}.`);
  }
  const taken = await client.listPorts({ network_id: net.id, fixed_ips: `ip_address=${ip}` }, token);
  if (taken.some((p) => p.fixed_ips.some((f) => f.ip_address === ip))) {
    throw new BadRequest(`Fixed IP address ${ip} is already in use on instance ${taken[0]!.device_id || 'None'}.`);
  }
}

/** Names or ids to ids; `default` alone (or nothing) is the Network API's own default group. */
async function resolveSecurityGroups(client: NetworkClient, token: string, projectId: string, groups: Array<{ name?: string }> | undefined): Promise<string[]> {
  const names = [...new Set((groups ?? []).map((g) => g.name).filter((n): n is string => n !== undefined))];
  if (names.length === 0 || (names.length === 1 && names[0] === 'default')) return [];
  if (names.length > MAX_REQUESTED) throw new BadRequest(`At most ${MAX_REQUESTED} security groups may be requested.`);
  const ids: string[] = [];
  for (const name of names) {
    const byName = await client.call<{ security_groups: Array<{ id: string; project_id: string }> }>(
      'GET', `/v2.0/security-groups?${new URLSearchParams({ name, project_id: projectId, fields: 'id' })}`, undefined, token,
    ).then((r) => r.security_groups, (err: unknown) => (statusOf(err) === 404 ? [] : Promise.reject(err)));
    if (byName.length > 1) throw new Conflict(`Multiple security groups found matching '${name}'. Use an ID to be more specific.`);
    if (byName.length === 1) {
      ids.push(byName[0]!.id);
      continue;
    }
    if (isUuidLike(name)) {
      const byId = await client.call<{ security_group: { id: string } }>('GET', `/v2.0/security-groups/${encodeURIComponent(name)}`, undefined, token)
        .catch((err: unknown) => (statusOf(err) === 404 ? null : Promise.reject(err)));
      if (byId) {
        ids.push(byId.security_group.id);
        continue;
      }
    }
    throw new BadRequest(`Security group ${name} not found for project ${projectId}.`);
  }
  return ids;
}
