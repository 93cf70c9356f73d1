import { Unauthorized } from '../common/errors.js';
import { errorFromResponse, IdentityClient } from './identity-client.js';
import type { EndpointSource } from './image-client.js';

/**
 * A client of the Network v2 API (Orrery's own or a real Neutron) over HTTP, as Nova's
 * neutron client: calls act with the token given, or else with the service token of the
 * IdentityClient (re-authenticating once on a 401). HTTP errors become OrreryErrors with the
 * same status (the Neutron error's message kept).
 *
 *   new NetworkClient(identity)                      endpoint `network` from the catalog, service token
 *   new NetworkClient('http://host:9696', identity)  fixed endpoint ([neutron] endpoint_override)
 */

/** A port as the Network v2 API returns it (the fields Orrery reads; others are kept). */
export interface NeutronPort {
  id: string;
  network_id: string;
  project_id: string;
  name: string;
  mac_address: string;
  status: string;
  admin_state_up: boolean;
  device_id: string;
  device_owner: string;
  fixed_ips: Array<{ subnet_id: string; ip_address: string }>;
  security_groups: string[];
  port_security_enabled?: boolean;
  allowed_address_pairs?: Array<{ ip_address: string; mac_address?: string }>;
  'binding:host_id'?: string;
  'binding:vif_type'?: string;
  'binding:vif_details'?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface NeutronNetwork {
  id: string;
  name: string;
  project_id: string;
  status: string;
  shared: boolean;
  'router:external': boolean;
  mtu: number;
  subnets: string[];
  [field: string]: unknown;
}

export interface NeutronSubnet {
  id: string;
  network_id: string;
  name: string;
  ip_version: 4 | 6;
  cidr: string;
  gateway_ip: string | null;
  enable_dhcp: boolean;
  dns_nameservers: string[];
  host_routes: Array<{ destination: string; nexthop: string }>;
  [field: string]: unknown;
}

export interface NeutronFloatingIp {
  id: string;
  floating_ip_address: string;
  floating_network_id: string;
  port_id: string | null;
  fixed_ip_address: string | null;
  router_id: string | null;
  status: string;
  project_id: string;
  [field: string]: unknown;
}

export type Query = Record<string, string | string[]>;

function queryString(q: Query | undefined): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) for (const one of [v].flat()) p.append(k, one);
  const s = p.toString();
  return s ? `?${s}` : '';
}

export class NetworkClient {
  private readonly endpoint: () => Promise<string>;
  private readonly identity: IdentityClient | undefined;

  constructor(source: EndpointSource | IdentityClient, identity?: IdentityClient) {
    if (source instanceof IdentityClient) {
      this.identity = source;
      this.endpoint = () => source.endpoint('network');
    } else {
      this.identity = identity;
      this.endpoint = async () => (typeof source === 'string' ? source : await source());
    }
  }

  listNetworks(q?: Query, token?: string): Promise<NeutronNetwork[]> {
    return this.call<{ networks: NeutronNetwork[] }>('GET', `/v2.0/networks${queryString(q)}`, undefined, token).then((r) => r.networks);
  }

  getNetwork(id: string, token?: string): Promise<NeutronNetwork> {
    return this.call<{ network: NeutronNetwork }>('GET', `/v2.0/networks/${encodeURIComponent(id)}`, undefined, token).then((r) => r.network);
  }

  listSubnets(q?: Query, token?: string): Promise<NeutronSubnet[]> {
    return this.call<{ subnets: NeutronSubnet[] }>('GET', `/v2.0/subnets${queryString(q)}`, undefined, token).then((r) => r.subnets);
  }

  listPorts(q?: Query, token?: string): Promise<NeutronPort[]> {
    return this.call<{ ports: NeutronPort[] }>('GET', `/v2.0/ports${queryString(q)}`, undefined, token).then((r) => r.ports);
  }

  getPort(id: string, token?: string): Promise<NeutronPort> {
    return this.call<{ port: NeutronPort }>('GET', `/v2.0/ports/${encodeURIComponent(id)}`, undefined, token).then((r) => r.port);
  }

  createPort(port: Record<string, unknown>, token?: string): Promise<NeutronPort> {
    return this.call<{ port: NeutronPort }>('POST', '/v2.0/ports', { port }, token).then((r) => r.port);
  }

  updatePort(id: string, port: Record<string, unknown>, token?: string): Promise<NeutronPort> {
    return this.call<{ port: NeutronPort }>('PUT', `/v2.0/ports/${encodeURIComponent(id)}`, { port }, token).then((r) => r.port);
  }

  /** Deletes a port; one already gone counts as deleted. */
  async deletePort(id: string, token?: string): Promise<void> {
    await this.call('DELETE', `/v2.0/ports/${encodeURIComponent(id)}`, undefined, token, { missingOk: true });
  }

  listFloatingIps(q?: Query, token?: string): Promise<NeutronFloatingIp[]> {
    return this.call<{ floatingips: NeutronFloatingIp[] }>('GET', `/v2.0/floatingips${queryString(q)}`, undefined, token).then((r) => r.floatingips);
  }

  updateFloatingIp(id: string, floatingip: Record<string, unknown>, token?: string): Promise<NeutronFloatingIp> {
    return this.call<{ floatingip: NeutronFloatingIp }>('PUT', `/v2.0/floatingips/${encodeURIComponent(id)}`, { floatingip }, token).then((r) => r.floatingip);
  }

  /** The network agent's heartbeat and device report; the answer holds the host's desired state (#13). */
  reportAgent(report: { agent: Record<string, unknown> }, token?: string): Promise<{ host_state?: unknown }> {
    return this.call<{ host_state?: unknown }>('POST', '/v2.0/agents/report', report, token);
  }

  /** Any other call of the API: the parsed JSON body, or undefined for 204. */
  async call<T = unknown>(method: string, path: string, body?: unknown, token?: string, o: { missingOk?: boolean } = {}): Promise<T> {
    const url = `${(await this.endpoint()).replace(/\/+$/, '').replace(/\/v2\.0$/, '')}${path}`;
    const what = `${method} ${path.split('?')[0]}`;
    const send = (t: string): Promise<Response> => fetch(url, {
      method,
      headers: { 'x-auth-token': t, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let res: Response;
    if (token !== undefined) res = await send(token);
    else {
      if (!this.identity) throw new Unauthorized(`${what}: no token given and no service credentials configured`);
      res = await send(await this.identity.token());
      if (res.status === 401) {
        await res.body?.cancel();
        this.identity.invalidate();
        res = await send(await this.identity.token());
      }
    }
    if (res.status === 404 && o.missingOk) {
      await res.body?.cancel();
      return undefined as T;
    }
    if (!res.ok) throw await errorFromResponse(res, what);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }
}
