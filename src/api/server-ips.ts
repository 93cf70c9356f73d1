import type { FastifyInstance } from 'fastify';
import { NotFound } from '../common/errors.js';
import { parseNetworkInfo } from '../db/instance-network.js';
import type { CachedVif } from '../db/schema-network.js';
import type { ComputeApiDeps } from './deps.js';
import { routeBoth } from './resource-kit.js';
import { findServer } from './server-common.js';

/**
 * A server's addresses by network, from its info cache (Nova's views/addresses.py): the
 * `addresses` of the server view and /servers/{id}/ips[/{network}]. Each fixed IP, then the
 * floating IPs on it, in the order of the server's ports.
 */

export type Address = { version: 4 | 6; addr: string; 'OS-EXT-IPS:type': 'fixed' | 'floating'; 'OS-EXT-IPS-MAC:mac_addr': string };

/** `{"<network label>": [address…]}`; a null-prototype object, since a label is the user's data. */
export function addressesOf(cache: CachedVif[] | null): Record<string, Address[]> {
  const out = Object.create(null) as Record<string, Address[]>;
  for (const vif of cache ?? []) {
    const list = Object.hasOwn(out, vif.network_label) ? out[vif.network_label]! : (out[vif.network_label] = []);
    for (const ip of vif.fixed_ips) {
      list.push({ version: ip.version, addr: ip.address, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': vif.mac });
      for (const f of ip.floating_ips) {
        list.push({ version: 4, addr: f, 'OS-EXT-IPS:type': 'floating', 'OS-EXT-IPS-MAC:mac_addr': vif.mac });
      }
    }
  }
  return out;
}

/** /ips shows only version and addr (Nova's addresses view without the extensions). */
function plain(list: Address[]): Array<{ version: 4 | 6; addr: string }> {
  return list.map((a) => ({ version: a.version, addr: a.addr }));
}

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db'>): void {
  routeBoth<{ Params: { server_id: string } }>(app, 'GET', '/servers/:server_id/ips', { policy: 'os_compute_api:ips:index' }, async (req) => {
    const row = await findServer(deps.db, req, req.params.server_id);
    const by = addressesOf(parseNetworkInfo(row.network_info));
    const addresses = Object.create(null) as Record<string, unknown>;
    for (const [label, list] of Object.entries(by)) addresses[label] = plain(list);
    return { addresses };
  });
  routeBoth<{ Params: { server_id: string; network: string } }>(app, 'GET', '/servers/:server_id/ips/:network', { policy: 'os_compute_api:ips:show' }, async (req) => {
    const row = await findServer(deps.db, req, req.params.server_id);
    const by = addressesOf(parseNetworkInfo(row.network_info));
    if (!Object.hasOwn(by, req.params.network)) throw new NotFound('Instance is not a member of specified network');
    const network = Object.create(null) as Record<string, unknown>;
    network[req.params.network] = plain(by[req.params.network]!);
    return network;
  });
}
