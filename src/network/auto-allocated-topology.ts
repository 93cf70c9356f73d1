import type { FastifyRequest } from 'fastify';
import { newUuid } from '../common/ids.js';
import { OPTIONS } from '../common/options.js';
import {
  claimTopology, completeTopology, defaultExternalNetwork, getTopology, insertTopologySubnet, networkHasServerPorts, releaseTopology, type TopologyRow,
} from '../db/network-auto-allocated.js';
import { deleteNetworkCascade, getNetworkRow, insertNetwork, parseRanges } from '../db/network-networks.js';
import { deleteRouterRow, getRouterRow, insertRouter, routerPorts, scheduleRouters, ROUTER_INTERFACE_OWNER } from '../db/network-routers.js';
import { atomically } from '../db/transactions.js';
import { conflict, notFound, nowIso } from './common.js';
import { defaultPools, formatIp, parseCidr, type Cidr } from './ip.js';
import { MTU, networkOpt, type NetworkAppOptions } from './options.js';
import { checkQuota } from './quota.js';
import { applyGateway } from './router-gateway.js';
import { createServicePort, deleteServicePort } from './router-ports.js';

/**
 * Neutron's get-me-a-network (auto-allocated-topology): a project's network
 * `auto_allocated_network` with a /24 subnet of its own from `[network]
 * auto_allocate_subnet_pool` and, when a default external network exists (router:external and
 * is_default), a router `auto_allocated_router` with that network as gateway and the subnet as
 * interface. Made once per project: the auto_allocated_topologies row is claimed first (its
 * primary key decides between concurrent requests, its unique cidr between projects), and
 * anything made is torn down again when a later step fails.
 */

export const DEFAULT_SUBNET_POOL = OPTIONS.network.auto_allocate_subnet_pool.default;
/** How long a request waits for a concurrent request of the same project to finish making it. */
const WAIT_MS = 20_000;

export const topologyNotFound = (projectId: string) =>
  notFound('AutoAllocatedTopologyNotFound', `Auto allocated topology for project ${projectId} could not be found.`);
const failure = (why: string) => conflict('AutoAllocationFailure', `Deployment error: ${why}.`);

function subnetPool(opts: NetworkAppOptions): Cidr {
  const text = opts.config.opt('network', 'auto_allocate_subnet_pool') || DEFAULT_SUBNET_POOL;
  const c = parseCidr(text);
  if (!c || c.host || c.version !== 4 || c.prefix > 24) throw new Error(`config: [network] auto_allocate_subnet_pool: ${text} is not an IPv4 prefix of /24 or larger`);
  return c;
}

/** The pool's /24s in order (lazily: a /8 has 65536). */
function* slash24s(pool: Cidr): Generator<string> {
  const count = 1n << BigInt(24 - pool.prefix);
  for (let i = 0n; i < count; i++) yield `${formatIp({ version: 4, value: pool.network + (i << 8n) })}/24`;
}

/** What `?fields=dry-run` checks: the pool has room. The external network is optional (no router then). */
export async function dryRun(opts: NetworkAppOptions, projectId: string): Promise<void> {
  subnetPool(opts);
  if (await getTopology(opts.db, projectId)) return;
  await checkQuota(opts.db, opts.config, projectId, 'network');
  await checkQuota(opts.db, opts.config, projectId, 'subnet');
}

/** The project's topology, made when missing; resolves with its network id. */
export async function ensureTopology(req: FastifyRequest, opts: NetworkAppOptions, projectId: string): Promise<string> {
  const { db } = opts;
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const have = await getTopology(db, projectId);
    if (have?.network_id && (await getNetworkRow(db, have.network_id))) return have.network_id;
    if (have && have.network_id) {
      // Its network was deleted by hand: the row is stale, claim afresh.
      await releaseTopology(db, projectId);
      continue;
    }
    if (have) {
      if (Date.now() > deadline) throw failure('the topology is still being made by another request');
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    const claim = await claimTopology(db, projectId, slash24s(subnetPool(opts)), nowIso());
    if (claim === 'taken') continue;
    if (claim === null) throw failure(`no /24 is left in the auto-allocation subnet pool`);
    return build(req, opts, projectId, claim);
  }
}

async function build(req: FastifyRequest, opts: NetworkAppOptions, projectId: string, claim: TopologyRow): Promise<string> {
  const { db, config } = opts;
  const at = nowIso();
  const networkId = newUuid();
  const subnetId = newUuid();
  let routerId: string | null = null;
  let made = { network: false };
  try {
    await checkQuota(db, config, projectId, 'network');
    await checkQuota(db, config, projectId, 'subnet');
    const inserted = await insertNetwork(db, {
      id: networkId, project_id: projectId, name: 'auto_allocated_network', description: '', admin_state_up: 1, status: 'ACTIVE',
      shared: 0, router_external: 0, is_default: 0, mtu: MTU.vxlan, network_type: 'vxlan', physical_network: null, segmentation_id: null,
      port_security_enabled: 1, tags: '[]', revision_number: 1, created_at: at, updated_at: at,
    }, parseRanges(networkOpt(config, 'vni_ranges')));
    if (!inserted) throw conflict('NoNetworkAvailable', 'Unable to create the network. No tenant network is available for allocation.');
    made = { network: true };
    const cidr = parseCidr(claim.cidr)!;
    const gateway = cidr.network + 1n;
    await insertTopologySubnet(db, {
      id: subnetId, network_id: networkId, project_id: projectId, name: 'auto_allocated_subnet_v4', description: '', ip_version: 4,
      cidr: claim.cidr, gateway_ip: formatIp({ version: 4, value: gateway }), enable_dhcp: 1,
      allocation_pools: JSON.stringify(defaultPools(cidr, gateway).map((p) => ({ start: formatIp({ version: 4, value: p.start }), end: formatIp({ version: 4, value: p.end }) }))),
      dns_nameservers: '[]', host_routes: '[]', ipv6_ra_mode: null, ipv6_address_mode: null, subnetpool_id: null, tags: '[]',
      revision_number: 1, created_at: at, updated_at: at,
    });
    const ext = await defaultExternalNetwork(db);
    if (ext) {
      routerId = newUuid();
      await atomically(db, async (tx) => {
        await checkQuota(tx, config, projectId, 'router');
        await insertRouter(tx, {
          id: routerId!, project_id: projectId, name: 'auto_allocated_router', description: '', admin_state_up: 1, status: 'ACTIVE',
          gw_network_id: null, gw_port_id: null, enable_snat: 1, routes: '[]', agent_host: null, tags: '[]', revision_number: 1,
          created_at: at, updated_at: at,
        });
      });
      await scheduleRouters(db, Date.now(), Number(networkOpt(config, 'agent_down_time')), [routerId]);
      const router = (await getRouterRow(db, routerId))!;
      await applyGateway(req, opts, router, { network_id: ext.id });
      await createServicePort(opts, {
        networkId, projectId, deviceId: routerId, deviceOwner: ROUTER_INTERFACE_OWNER, hostId: router.agent_host ?? '',
        fixedIps: [{ subnet_id: subnetId, ip_address: formatIp({ version: 4, value: gateway }) }],
      });
    }
    await completeTopology(db, projectId, { network_id: networkId, subnet_id: subnetId, router_id: routerId });
    return networkId;
  } catch (err) {
    await teardown(opts, { routerId, networkId: made.network ? networkId : null });
    await releaseTopology(db, projectId);
    throw err;
  }
}

/** Deletes a topology's router (its ports first) and network; 'in-use' when the network still has other ports. */
async function teardown(opts: NetworkAppOptions, t: { routerId: string | null; networkId: string | null }): Promise<'deleted' | 'in-use'> {
  if (t.networkId) {
    // Refuse before touching the router when servers still use the network.
    if (await networkHasServerPorts(opts.db, t.networkId)) return 'in-use';
  }
  if (t.routerId) {
    for (const p of await routerPorts(opts.db, [t.routerId])) await deleteServicePort(opts, p.id);
    await deleteRouterRow(opts.db, t.routerId);
  }
  if (t.networkId) {
    const r = await deleteNetworkCascade(opts.db, t.networkId);
    if (r === 'in-use') return 'in-use';
  }
  return 'deleted';
}

/** DELETE: the project's topology goes (refused with 409 while servers still have ports on its network). */
export async function deleteTopology(opts: NetworkAppOptions, projectId: string): Promise<void> {
  const t = await getTopology(opts.db, projectId);
  if (!t || !t.network_id) throw topologyNotFound(projectId);
  const r = await teardown(opts, { routerId: t.router_id, networkId: t.network_id });
  if (r === 'in-use') {
    throw conflict('NetworkInUse', `Unable to complete operation on network ${t.network_id}. There are one or more ports still in use on the network.`);
  }
  await releaseTopology(opts.db, projectId);
}
