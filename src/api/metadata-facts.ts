import type { Logger } from '../common/logging.js';
import type { NetworkClient } from '../clients/network-client.js';
import type { CachedVif } from '../db/schema-network.js';
import type { MetadataSubnet } from './metadata-network.js';

/**
 * What the metadata service asks the Network API about an instance (the subnets of its fixed
 * IPs, the names of its ports' security groups), with the service user's credentials, kept a few
 * seconds: cloud-init reads a dozen documents in a second at boot, and each would otherwise cost
 * three API calls. A Network API that fails leaves the documents to the info cache alone
 * (network_data.json then describes each address as DHCP-configured), never a failed answer.
 */

export interface NetworkFacts {
  subnets: ReadonlyMap<string, MetadataSubnet>;
  securityGroups: string[];
}

/** Seconds an instance's network facts are reused. */
const TTL_MS = 5_000;
/** Instances whose facts are kept at once; the oldest are dropped first. */
const MAX_ENTRIES = 1_000;
/** Ids asked for in one list call (a URL stays well under any proxy's limit). */
const MAX_IDS = 50;

const EMPTY: NetworkFacts = { subnets: new Map(), securityGroups: [] };

export class MetadataNetworkFacts {
  private readonly cache = new Map<string, { at: number; key: string; facts: Promise<NetworkFacts> }>();
  private client: NetworkClient | null = null;

  constructor(private readonly clientOf: () => NetworkClient | null, private readonly log: Logger) {}

  of(instanceId: string, vifs: readonly CachedVif[]): Promise<NetworkFacts> {
    // The same instance with another info cache (an interface attached) is asked again.
    const key = JSON.stringify(vifs.map((v) => [v.port_id, v.fixed_ips.map((ip) => ip.subnet_id)]));
    const hit = this.cache.get(instanceId);
    if (hit && hit.key === key && Date.now() - hit.at < TTL_MS) return hit.facts;
    const facts = this.load(instanceId, vifs);
    this.cache.delete(instanceId);
    this.cache.set(instanceId, { at: Date.now(), key, facts });
    while (this.cache.size > MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    return facts;
  }

  private async load(instanceId: string, vifs: readonly CachedVif[]): Promise<NetworkFacts> {
    if (vifs.length === 0) return EMPTY;
    // Asked again until there is one: the API process makes it only once its APIs listen.
    if (!this.client) {
      try {
        this.client = this.clientOf();
      } catch (err) {
        this.log.warn({ err }, 'metadata: no client of the Network API (the info cache alone is served)');
      }
    }
    const client = this.client;
    if (!client) return EMPTY;
    const subnetIds = [...new Set(vifs.flatMap((v) => v.fixed_ips.map((ip) => ip.subnet_id)))].slice(0, MAX_IDS);
    const [subnets, securityGroups] = await Promise.all([
      this.subnets(client, subnetIds),
      this.securityGroups(client, instanceId),
    ]);
    return { subnets, securityGroups };
  }

  private async subnets(client: NetworkClient, ids: string[]): Promise<Map<string, MetadataSubnet>> {
    const out = new Map<string, MetadataSubnet>();
    if (ids.length === 0) return out;
    try {
      for (const s of await client.listSubnets({ id: ids })) {
        out.set(s.id, {
          id: s.id, cidr: s.cidr, ip_version: s.ip_version, gateway_ip: s.gateway_ip, enable_dhcp: s.enable_dhcp,
          dns_nameservers: s.dns_nameservers ?? [], host_routes: s.host_routes ?? [],
          ipv6_address_mode: typeof s.ipv6_address_mode === 'string' ? s.ipv6_address_mode : null,
        });
      }
    } catch (err) {
      this.log.warn({ err }, 'metadata: the subnets could not be read from the Network API');
    }
    return out;
  }

  private async securityGroups(client: NetworkClient, instanceId: string): Promise<string[]> {
    try {
      const ports = await client.listPorts({ device_id: instanceId });
      const ids = [...new Set(ports.flatMap((p) => p.security_groups ?? []))].slice(0, MAX_IDS);
      if (ids.length === 0) return [];
      const q = new URLSearchParams();
      for (const id of ids) q.append('id', id);
      const r = await client.call<{ security_groups: Array<{ id: string; name: string }> }>('GET', `/v2.0/security-groups?${q.toString()}`);
      return [...new Set(r.security_groups.map((g) => g.name))].sort();
    } catch (err) {
      this.log.warn({ err }, 'metadata: the security groups could not be read from the Network API');
      return [];
    }
  }
}
