import { randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../../src/db/connection.js';
import type { Login } from '../identity/harness.js';
import { net, type NetServices } from './harness.js';

/**
 * Fixtures of the L3 tests: networks through the API; subnets through the API when the app has
 * them, else as rows; compute ports as rows (a port with a fixed address, as the compute
 * service's port create would leave it), and agents as rows with a heartbeat.
 */

export async function network(s: NetServices, who: Login, body: Record<string, unknown>): Promise<string> {
  const r = await net(s, who, 'POST', '/v2.0/networks', { network: body });
  if (r.status !== 201) throw new Error(`network create: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.network.id;
}

/** An external flat network (admin's) with one subnet. */
export async function externalNetwork(s: NetServices, admin: Login, cidr: string, isDefault = false): Promise<{ networkId: string; subnetId: string }> {
  const networkId = await network(s, admin, {
    name: `public-${randomBytes(2).toString('hex')}`, 'router:external': true, is_default: isDefault,
    'provider:network_type': 'flat', 'provider:physical_network': `ext${randomBytes(2).toString('hex')}`,
  });
  return { networkId, subnetId: await subnet(s, admin, networkId, cidr) };
}

function hosts(cidr: string): { gateway: string; start: string; end: string } {
  const [base, len] = cidr.split('/') as [string, string];
  const o = base.split('.').map(Number);
  const size = 2 ** (32 - Number(len));
  const at = (n: number): string => {
    const v = ((o[0]! << 24) >>> 0) + (o[1]! << 16) + (o[2]! << 8) + o[3]! + n;
    return [24, 16, 8, 0].map((sh) => String((v >>> sh) & 255)).join('.');
  };
  return { gateway: at(1), start: at(2), end: at(size - 2) };
}

export async function subnet(s: NetServices, who: Login, networkId: string, cidr: string): Promise<string> {
  const r = await net(s, who, 'POST', '/v2.0/subnets', { subnet: { network_id: networkId, ip_version: 4, cidr } });
  if (r.status === 201) return r.body.subnet.id;
  if (r.status !== 404) throw new Error(`subnet create: ${r.status} ${JSON.stringify(r.body)}`);
  const id = randomUUID();
  const h = hosts(cidr);
  const at = new Date().toISOString();
  const net0 = await s.db.selectFrom('networks').select('project_id').where('id', '=', networkId).executeTakeFirstOrThrow();
  await s.db.insertInto('subnets').values({
    id, network_id: networkId, project_id: net0.project_id, name: '', description: '', ip_version: 4, cidr, gateway_ip: h.gateway,
    enable_dhcp: 1, allocation_pools: JSON.stringify([{ start: h.start, end: h.end }]), dns_nameservers: '[]', host_routes: '[]',
    ipv6_ra_mode: null, ipv6_address_mode: null, subnetpool_id: null, tags: '[]', revision_number: 1, created_at: at, updated_at: at,
  }).execute();
  return id;
}

/** A port of `who`'s on the network with one fixed address (a server's, when `deviceId` is given), made through the port API. */
export async function port(s: NetServices, who: Login, o: { networkId: string; subnetId: string; ip: string; deviceId?: string }): Promise<string> {
  const r = await net(s, who, 'POST', '/v2.0/ports', {
    port: {
      network_id: o.networkId, fixed_ips: [{ subnet_id: o.subnetId, ip_address: o.ip }],
      ...(o.deviceId ? { device_id: o.deviceId, device_owner: 'compute:nova' } : {}),
    },
  });
  if (r.status !== 201) throw new Error(`port create: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.port.id;
}

/** An agent row of `host` with `l3` in its configurations, its heartbeat `ageS` seconds old. */
export async function l3Agent(db: Db, host: string, ageS = 0): Promise<void> {
  const at = new Date(Date.now() - ageS * 1000).toISOString();
  await db.deleteFrom('network_agents').where('host', '=', host).execute();
  await db.insertInto('network_agents').values({
    id: randomUUID(), host, agent_type: 'Linux bridge agent', binary: 'orrery-network-agent', topic: 'N/A', availability_zone: 'nova',
    configurations: JSON.stringify({ l3: true, tunneling_ip: '10.99.0.1' }), admin_state_up: 1, description: '', started_at: at,
    heartbeat_at: at, created_at: at,
  }).execute();
}
