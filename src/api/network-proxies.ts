import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { NetworkClient, NeutronNetwork } from '../clients/network-client.js';
import { BadRequest, Forbidden, NotFound, statusOf } from '../common/errors.js';
import { isUuidLike } from '../common/ids.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { routeBoth } from './resource-kit.js';
import { findServer } from './server-common.js';
import { groupView, registerSecurityGroupProxies, securityGroupsByIds } from './network-proxies-security-groups.js';

/**
 * Nova's deprecated network proxies (os-networks, os-tenant-networks, os-floating-ip-pools,
 * os-floating-ips; os-security-groups in network-proxies-security-groups.ts): the Network API
 * seen in nova-network's shapes, called with the user's own token. 2.36 removed them: every
 * route answers 404 from that microversion on, as Nova's.
 */

/** Every proxy route: 404 from 2.36 (Nova's max_version 2.35). */
export function proxyGone(req: FastifyRequest): void {
  if (mvAtLeast(req, '2.36')) throw new NotFound('The resource could not be found.');
}

/** The Network API, or the refusal of a cloud without one (nothing to proxy: every lookup is not found). */
export function networkOf(deps: ComputeApiDeps, missing: () => Error): NetworkClient {
  if (!deps.network) throw missing();
  return deps.network;
}

/** A lookup's 404 as the proxy's own not-found. */
export function orMissing<T>(p: Promise<T>, missing: () => Error): Promise<T> {
  return p.catch((err: unknown) => Promise.reject(statusOf(err) === 404 ? missing() : err));
}

/** nova-network's network fields; with Neutron only id and label are known (Nova's network_dict). */
const NETWORK_FIELDS = ['cidr', 'netmask', 'gateway', 'broadcast', 'dns1', 'dns2', 'cidr_v6', 'gateway_v6', 'netmask_v6'];
const ADMIN_FIELDS = [
  'created_at', 'updated_at', 'deleted_at', 'deleted', 'injected', 'bridge', 'vlan', 'vpn_public_address', 'vpn_public_port',
  'vpn_private_address', 'dhcp_start', 'project_id', 'host', 'bridge_interface', 'multi_host', 'priority', 'rxtx_base', 'mtu',
  'dhcp_server', 'enable_dhcp', 'share_address',
];

function networkView(req: FastifyRequest, n: NeutronNetwork): Record<string, unknown> {
  const out: Record<string, unknown> = { id: n.id, label: n.name };
  for (const f of [...NETWORK_FIELDS, ...(req.auth.isAdmin ? ADMIN_FIELDS : [])]) out[f] = null;
  return out;
}

const tenantNetworkView = (n: NeutronNetwork) => ({ id: n.id, cidr: 'None', label: n.name });

const FloatingCreateBody = Type.Union([Type.Object({ pool: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Null()])) }), Type.Null()]);
type FloatingCreateBody = Static<typeof FloatingCreateBody>;

export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  type Id = { Params: { id: string } };
  const noNetwork = (id: string) => () => new NotFound(`Network ${id} could not be found.`);

  // ---- os-networks, os-tenant-networks (list and show)
  for (const [path, rule, render] of [
    ['/os-networks', 'os_compute_api:os-networks', networkView],
    ['/os-tenant-networks', 'os_compute_api:os-tenant-networks', (_req: FastifyRequest, n: NeutronNetwork) => tenantNetworkView(n)],
  ] as const) {
    routeBoth(app, 'GET', path, { policy: `${rule}:list` }, async (req) => {
      proxyGone(req);
      if (!deps.network) return { networks: [] };
      const nets = await deps.network.listNetworks(undefined, req.auth.tokenId);
      return { networks: nets.filter((n) => n['router:external'] !== true || req.auth.isAdmin).map((n) => render(req, n)) };
    });
    routeBoth<Id>(app, 'GET', `${path}/:id`, { policy: `${rule}:show` }, async (req) => {
      proxyGone(req);
      const missing = path === '/os-networks' ? () => new NotFound('Network not found') : noNetwork(req.params.id);
      if (!isUuidLike(req.params.id)) throw missing();
      const net = await orMissing(networkOf(deps, missing).getNetwork(req.params.id, req.auth.tokenId), missing);
      return { network: render(req, net) };
    });
  }

  // ---- os-floating-ip-pools: the external networks
  routeBoth(app, 'GET', '/os-floating-ip-pools', { policy: 'os_compute_api:os-floating-ip-pools' }, async (req) => {
    proxyGone(req);
    if (!deps.network) return { floating_ip_pools: [] };
    const nets = await deps.network.listNetworks({ 'router:external': 'true' }, req.auth.tokenId);
    return { floating_ip_pools: nets.map((n) => ({ name: n.name })) };
  });

  // ---- os-floating-ips
  const floatingView = async (client: NetworkClient, token: string, fips: Awaited<ReturnType<NetworkClient['listFloatingIps']>>) => {
    const pools = new Map((await client.listNetworks({ 'router:external': 'true' }, token)).map((n) => [n.id, n.name]));
    const ports = new Map<string, string>();
    const portIds = [...new Set(fips.map((f) => f.port_id).filter((p): p is string => !!p))];
    if (portIds.length > 0) for (const p of await client.listPorts({ id: portIds }, token)) ports.set(p.id, p.device_id);
    return fips.map((f) => ({
      id: f.id, ip: f.floating_ip_address, pool: pools.get(f.floating_network_id) ?? f.floating_network_id,
      fixed_ip: f.fixed_ip_address, instance_id: f.port_id ? (ports.get(f.port_id) || null) : null,
    }));
  };
  const noFloating = (id: string) => () => new NotFound(`Floating IP not found for ID ${id}`);

  routeBoth(app, 'GET', '/os-floating-ips', { policy: 'os_compute_api:os-floating-ips:list' }, async (req) => {
    proxyGone(req);
    if (!deps.network) return { floating_ips: [] };
    const q = req.auth.projectId ? { project_id: req.auth.projectId } : undefined;
    return { floating_ips: await floatingView(deps.network, req.auth.tokenId, await deps.network.listFloatingIps(q, req.auth.tokenId)) };
  });
  routeBoth<Id>(app, 'GET', '/os-floating-ips/:id', { policy: 'os_compute_api:os-floating-ips:show' }, async (req) => {
    proxyGone(req);
    const missing = noFloating(req.params.id);
    if (!isUuidLike(req.params.id)) throw missing();
    const client = networkOf(deps, missing);
    const fip = await orMissing(client.call<{ floatingip: Parameters<typeof floatingView>[2][number] }>(
      'GET', `/v2.0/floatingips/${encodeURIComponent(req.params.id)}`, undefined, req.auth.tokenId,
    ), missing);
    return { floating_ip: (await floatingView(client, req.auth.tokenId, [fip.floatingip]))[0] };
  });
  routeBoth<{ Body: FloatingCreateBody }>(app, 'POST', '/os-floating-ips', {
    policy: 'os_compute_api:os-floating-ips:create', schema: { body: FloatingCreateBody },
  }, async (req) => {
    proxyGone(req);
    const pool = req.body?.pool ?? (deps.config.opt('neutron', 'default_floating_pool') || 'public');
    const noPool = () => new NotFound('Floating IP pool not found.');
    const client = networkOf(deps, noPool);
    const token = req.auth.tokenId;
    const ext = (await client.listNetworks({ 'router:external': 'true' }, token)).filter((n) => n.name === pool || n.id === pool);
    if (ext.length === 0) throw noPool();
    if (ext.length > 1) throw new BadRequest(`Multiple floating IP pools matches found for name '${pool}'`);
    let fip;
    try {
      fip = await client.call<{ floatingip: Parameters<typeof floatingView>[2][number] }>('POST', '/v2.0/floatingips', {
        floatingip: { floating_network_id: ext[0]!.id, ...(req.auth.projectId ? { project_id: req.auth.projectId } : {}) },
      }, token);
    } catch (err) {
      const s = statusOf(err);
      // Nova's words: over quota 403, the pool exhausted 404.
      if (s === 409 && /quota/i.test(String((err as Error).message))) throw new Forbidden(`IP allocation over quota in pool ${pool}.`);
      if (s === 409) throw new NotFound(`No more floating IPs in pool ${pool}.`);
      throw err;
    }
    return { floating_ip: (await floatingView(client, token, [fip.floatingip]))[0] };
  });
  routeBoth<Id>(app, 'DELETE', '/os-floating-ips/:id', { policy: 'os_compute_api:os-floating-ips:delete', status: 202 }, async (req) => {
    proxyGone(req);
    const missing = noFloating(req.params.id);
    if (!isUuidLike(req.params.id)) throw missing();
    const client = networkOf(deps, missing);
    await orMissing(client.call('GET', `/v2.0/floatingips/${encodeURIComponent(req.params.id)}`, undefined, req.auth.tokenId), missing);
    await client.call('DELETE', `/v2.0/floatingips/${encodeURIComponent(req.params.id)}`, undefined, req.auth.tokenId);
    return undefined;
  });

  registerSecurityGroupProxies(app, deps);

  // The server's groups (not removed: Nova's servers/{id}/os-security-groups stays).
  routeBoth<{ Params: { server_id: string } }>(app, 'GET', '/servers/:server_id/os-security-groups', { policy: 'os_compute_api:os-security-groups:list' }, async (req) => {
    const row = await findServer(deps.db, req, req.params.server_id);
    if (!deps.network) return { security_groups: [] };
    const ports = await deps.network.listPorts({ device_id: row.uuid, limit: '64' }, req.auth.tokenId);
    const ids = [...new Set(ports.flatMap((p) => p.security_groups))];
    if (ids.length === 0) return { security_groups: [] };
    const groups = await securityGroupsByIds(deps.network, req.auth.tokenId, ids);
    return { security_groups: groups.map((g) => groupView(g, groups)) };
  });
}
