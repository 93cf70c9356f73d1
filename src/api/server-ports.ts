import type { NetworkClient, NeutronPort } from '../clients/network-client.js';
import { errorMessage, statusOf } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import { parseNetworkInfo, setNetworkInfo } from '../db/instance-network.js';
import type { Db } from '../db/connection.js';
import type { InstanceRow } from '../db/instances.js';
import type { CachedVif } from '../db/schema-network.js';

/**
 * The compute API's own work on a server's ports, with the service user's credentials: the
 * local delete of a server no compute has (Nova's _local_delete deallocates its network), and
 * the info cache refreshed from the Network API (a network-changed event, an interface change).
 */

const MAX_PORTS = 64;

/** The compute ports bound to the server now (device_id), at most MAX_PORTS. */
async function portsOf(client: NetworkClient, uuid: string): Promise<NeutronPort[]> {
  const ports = await client.listPorts({ device_id: uuid, limit: String(MAX_PORTS) });
  return ports.filter((p) => p.device_owner.startsWith('compute:'));
}

/** Deletes the ports Orrery made for `row`, unbinds the user's; failures logged (the port stays listed under the server id). */
export async function releasePortsLocally(client: NetworkClient | undefined, log: Logger, row: Pick<InstanceRow, 'uuid' | 'network_info'>): Promise<void> {
  if (!client) return;
  const made = new Set((parseNetworkInfo(row.network_info) ?? []).filter((v) => v.created_by_compute).map((v) => v.port_id));
  try {
    for (const p of await portsOf(client, row.uuid)) {
      if (made.has(p.id)) await client.deletePort(p.id);
      else await client.updatePort(p.id, { device_id: '', device_owner: '', 'binding:host_id': '' });
    }
  } catch (err) {
    log.warn({ instance: row.uuid, err: errorMessage(err) }, 'could not release the ports of a deleted server');
  }
}

/**
 * The server's info cache rebuilt from its ports as the Network API has them (fixed and
 * floating IPs, network names), keeping which ports Orrery made. Answers the new cache.
 */
export async function refreshInfoCache(client: NetworkClient, db: Db, row: Pick<InstanceRow, 'uuid' | 'network_info'>): Promise<CachedVif[]> {
  const before = parseNetworkInfo(row.network_info) ?? [];
  const made = new Set(before.filter((v) => v.created_by_compute).map((v) => v.port_id));
  const order = new Map(before.map((v, i) => [v.port_id, i]));
  const ports = (await portsOf(client, row.uuid)).sort((a, b) => (order.get(a.id) ?? MAX_PORTS) - (order.get(b.id) ?? MAX_PORTS));
  const names = new Map<string, { name: string; mtu: number }>();
  for (const id of new Set(ports.map((p) => p.network_id))) {
    const net = await client.getNetwork(id).catch((err: unknown) => (statusOf(err) === 404 ? null : Promise.reject(err)));
    names.set(id, { name: net?.name ?? id, mtu: net?.mtu ?? 1500 });
  }
  const floating = new Map<string, string[]>();
  if (ports.length > 0) {
    for (const f of await client.listFloatingIps({ port_id: ports.map((p) => p.id) }).catch(() => [])) {
      const key = `${f.port_id}/${f.fixed_ip_address}`;
      floating.set(key, [...(floating.get(key) ?? []), f.floating_ip_address]);
    }
  }
  const cache: CachedVif[] = ports.map((p) => ({
    port_id: p.id, network_id: p.network_id, network_label: names.get(p.network_id)!.name, mac: p.mac_address,
    mtu: names.get(p.network_id)!.mtu, created_by_compute: made.has(p.id),
    fixed_ips: p.fixed_ips.map((f) => ({
      address: f.ip_address, version: f.ip_address.includes(':') ? 6 : 4, subnet_id: f.subnet_id,
      floating_ips: floating.get(`${p.id}/${f.ip_address}`) ?? [],
    })),
  }));
  await setNetworkInfo(db, row.uuid, cache);
  return cache;
}
