import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { FixedIp, PortRow } from '../db/network-ports.js';
import { allowed } from '../httpkit/authorize.js';
import { bool, json, standardAttrs } from './common.js';
import type { View } from './list-kit.js';

/** How a port looks (Neutron's port with the binding, port-security and allowed-address-pairs extensions). */

/** The #13 naming conventions: a network's bridge, a port's tap. */
export const bridgeName = (networkId: string): string => `brq${networkId.slice(0, 11)}`;
export const tapName = (portId: string): string => `tap${portId.slice(0, 11)}`;

/** Neutron's base_mac fa:16:3e:00:00:00 with three random bytes. */
export const newMac = (): string => `fa:16:3e:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;

export const PORT_ATTRIBUTES = [
  'id', 'name', 'network_id', 'tenant_id', 'project_id', 'mac_address', 'admin_state_up', 'status', 'device_id', 'device_owner', 'fixed_ips',
  'allowed_address_pairs', 'extra_dhcp_opts', 'security_groups', 'port_security_enabled', 'ip_allocation', 'binding:host_id',
  'binding:vnic_type', 'binding:profile', 'binding:vif_type', 'binding:vif_details', 'description', 'tags', 'created_at', 'updated_at',
  'revision_number',
] as const;

/** The linuxbridge binding: a bound port is plugged into its network's bridge (vif_type bridge). */
export function bindingOf(row: PortRow): { vif_type: string; vif_details: Record<string, unknown> } {
  if (row.binding_host_id === '') return { vif_type: 'unbound', vif_details: {} };
  return { vif_type: 'bridge', vif_details: { bridge_name: bridgeName(row.network_id), port_filter: true, connectivity: 'l2' } };
}

export function portView(req: FastifyRequest | null, row: PortRow, fixedIps: FixedIp[], groups: string[]): View {
  const b = bindingOf(row);
  const v: View = {
    id: row.id, name: row.name, network_id: row.network_id, tenant_id: row.project_id, project_id: row.project_id, mac_address: row.mac_address,
    admin_state_up: bool(row.admin_state_up), status: row.status, device_id: row.device_id, device_owner: row.device_owner, fixed_ips: fixedIps,
    allowed_address_pairs: json<unknown[]>(row.allowed_address_pairs), extra_dhcp_opts: [], security_groups: groups,
    port_security_enabled: bool(row.port_security_enabled), ip_allocation: 'immediate', 'binding:vnic_type': row.binding_vnic_type,
    ...standardAttrs(row),
  };
  // Neutron's get_port:binding:* rules: the binding is the services' and admin's business.
  const binding: View = {
    'binding:host_id': row.binding_host_id, 'binding:profile': json<Record<string, unknown>>(row.binding_profile),
    'binding:vif_type': b.vif_type, 'binding:vif_details': b.vif_details,
  };
  for (const [k, val] of Object.entries(binding)) if (req === null || allowed(req, `get_port:${k}`)) v[k] = val;
  return v;
}

/** Ports' `fixed_ips=ip_address=…`, `fixed_ips=subnet_id=…`, `fixed_ips=ip_address_substr=…` filters (any one entry matching). */
export function fixedIpsFilter(view: View, values: string[]): boolean {
  const ips = view.fixed_ips as FixedIp[];
  return values.every((v) => {
    const m = /^(ip_address|subnet_id|ip_address_substr)=(.*)$/.exec(v);
    if (!m) return false;
    const [, key, want] = m as unknown as [string, string, string];
    return ips.some((f) => (key === 'ip_address' ? f.ip_address === want : key === 'subnet_id' ? f.subnet_id === want : f.ip_address.includes(want)));
  });
}
