import { createHash } from 'node:crypto';
import type { Db } from '../db/connection.js';
import { lockKey } from '../db/locks.js';
import { getNetworkRow } from '../db/network-networks.js';
import { deletePortRow, fixedIpsOf, insertPortRow, listVisiblePorts } from '../db/network-ports.js';
import { subnetsOfNetwork } from '../db/network-subnets.js';
import { atomically } from '../db/transactions.js';
import { newUuid } from '../common/ids.js';
import { allocate } from './ipam.js';
import { newMac } from './port-views.js';

/**
 * The DHCP ports of multi-host DHCP (#13): every host with a compute port on a network that has
 * a DHCP subnet gets a DHCP port of its own on that network (device_owner network:dhcp, bound
 * to the host, device_id `dhcp<sha1(host)[0:8]>-<network>`), with an address on each DHCP
 * subnet; its dnsmasq leases only that host's ports. Made when the host's agent reports, and
 * removed when the host has no compute port left on the network.
 */

export const dhcpDeviceId = (host: string, networkId: string): string =>
  `dhcp${createHash('sha1').update(host).digest('hex').slice(0, 8)}-${networkId}`;

const ADMIN = { projectId: null, isAdmin: true };

export async function ensureDhcpPorts(db: Db, host: string): Promise<void> {
  const local = await listVisiblePorts(db, ADMIN, { binding_host_id: host });
  const wanted = new Set(local.filter((p) => p.device_owner.startsWith('compute:')).map((p) => p.network_id));
  for (const networkId of wanted) {
    const dhcpSubnets = (await subnetsOfNetwork(db, networkId)).filter((s) => s.enable_dhcp === 1);
    if (dhcpSubnets.length === 0) {
      wanted.delete(networkId);
      continue;
    }
    const deviceId = dhcpDeviceId(host, networkId);
    try {
      await atomically(db, async (tx) => {
        // One maker per (host, network): two reports of one host at once make one port.
        await lockKey(tx, deviceId);
        const network = await getNetworkRow(tx, networkId);
        if (!network) return;
        let port = (await listVisiblePorts(tx, ADMIN, { device_id: [deviceId] }))[0];
        if (!port) {
          const id = newUuid();
          const at = new Date().toISOString();
          let mac = newMac();
          for (let i = 0; i < 8 && !(await insertPortRow(tx, {
            id, network_id: networkId, project_id: network.project_id, name: '', description: '', mac_address: mac, admin_state_up: 1,
            status: 'DOWN', device_id: deviceId, device_owner: 'network:dhcp', binding_host_id: host, binding_vnic_type: 'normal',
            binding_profile: '{}', port_security_enabled: 0, allowed_address_pairs: '[]', tags: '[]', revision_number: 1, created_at: at, updated_at: at,
          })); i++) mac = newMac();
          port = (await listVisiblePorts(tx, ADMIN, { device_id: [deviceId] }))[0];
          if (!port) return;
        }
        const held = new Set(((await fixedIpsOf(tx, [port.id])).get(port.id) ?? []).map((f) => f.subnet_id));
        const missing = dhcpSubnets.filter((s) => !held.has(s.id));
        if (missing.length > 0) {
          await allocate(tx, {
            networkId, subnets: dhcpSubnets, portId: port.id, mac: port.mac_address, requests: missing.map((s) => ({ subnet_id: s.id })), routerPort: false,
          });
        }
      });
    } catch {
      // A pool with no address left for the DHCP port: that network gets no DHCP on this host
      // until one is freed; the rest of the host's state is still answered.
    }
  }
  for (const p of local) {
    if (p.device_owner === 'network:dhcp' && p.device_id === dhcpDeviceId(host, p.network_id) && !wanted.has(p.network_id)) await deletePortRow(db, p.id);
  }
}
