/**
 * The network service's tables (migration 011): Neutron's resources. Booleans are 0/1, lists
 * and maps JSON text (`tags` a JSON list of strings), timestamps ISO-8601 text.
 */
import type { VifInfo } from '../objects/network.js';

export interface NetworkTable {
  id: string;
  project_id: string;
  name: string;
  description: string;
  admin_state_up: number;
  status: string;
  shared: number;
  router_external: number;
  is_default: number;
  mtu: number;
  /** 'vxlan' (project networks) or 'flat' (a provider network on a physical network). */
  network_type: string;
  physical_network: string | null;
  segmentation_id: number | null;
  port_security_enabled: number;
  tags: string;
  revision_number: number;
  created_at: string;
  updated_at: string;
}

export interface SubnetTable {
  id: string;
  network_id: string;
  project_id: string;
  name: string;
  description: string;
  ip_version: number;
  cidr: string;
  gateway_ip: string | null;
  enable_dhcp: number;
  allocation_pools: string;
  dns_nameservers: string;
  host_routes: string;
  ipv6_ra_mode: string | null;
  ipv6_address_mode: string | null;
  subnetpool_id: string | null;
  tags: string;
  revision_number: number;
  created_at: string;
  updated_at: string;
}

export interface PortTable {
  id: string;
  network_id: string;
  project_id: string;
  name: string;
  description: string;
  mac_address: string;
  admin_state_up: number;
  status: string;
  device_id: string;
  device_owner: string;
  binding_host_id: string;
  binding_vnic_type: string;
  binding_profile: string;
  port_security_enabled: number;
  allowed_address_pairs: string;
  tags: string;
  revision_number: number;
  created_at: string;
  updated_at: string;
}

/** One address of one port; the (subnet_id, ip_address) primary key is the IPAM's guarantee. */
export interface IpAllocationTable {
  subnet_id: string;
  ip_address: string;
  network_id: string;
  port_id: string;
}

export interface SecurityGroupTable {
  id: string;
  project_id: string;
  name: string;
  description: string;
  stateful: number;
  tags: string;
  revision_number: number;
  created_at: string;
  updated_at: string;
}

export interface DefaultSecurityGroupTable {
  project_id: string;
  security_group_id: string;
}

export interface SecurityGroupRuleTable {
  id: string;
  security_group_id: string;
  project_id: string;
  direction: string;
  ethertype: string;
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
  description: string;
  revision_number: number;
  created_at: string;
  updated_at: string;
}

export interface PortSecurityGroupTable {
  port_id: string;
  security_group_id: string;
}

export interface RouterTable {
  id: string;
  project_id: string;
  name: string;
  description: string;
  admin_state_up: number;
  status: string;
  gw_network_id: string | null;
  gw_port_id: string | null;
  enable_snat: number;
  routes: string;
  agent_host: string | null;
  tags: string;
  revision_number: number;
  created_at: string;
  updated_at: string;
}

export interface FloatingIpTable {
  id: string;
  project_id: string;
  floating_network_id: string;
  floating_ip_address: string;
  floating_port_id: string;
  fixed_port_id: string | null;
  fixed_ip_address: string | null;
  router_id: string | null;
  status: string;
  description: string;
  tags: string;
  revision_number: number;
  created_at: string;
  updated_at: string;
}

export interface NetworkAgentTable {
  id: string;
  host: string;
  agent_type: string;
  binary: string;
  topic: string;
  availability_zone: string | null;
  configurations: string;
  admin_state_up: number;
  description: string;
  started_at: string;
  heartbeat_at: string;
  created_at: string;
}

/** A project's own limit of one network resource (absent: the [quotas] default). */
export interface NetworkQuotaTable {
  project_id: string;
  resource: string;
  hard_limit: number;
}

/**
 * One port of a server as the compute service caches it in `instances.network_info` (a JSON
 * list of these): the versioned object's shape (objects/network.ts).
 */
export type CachedVif = VifInfo;

export interface NetworkTables {
  networks: NetworkTable;
  subnets: SubnetTable;
  ports: PortTable;
  ip_allocations: IpAllocationTable;
  security_groups: SecurityGroupTable;
  default_security_groups: DefaultSecurityGroupTable;
  security_group_rules: SecurityGroupRuleTable;
  port_security_groups: PortSecurityGroupTable;
  routers: RouterTable;
  floating_ips: FloatingIpTable;
  network_agents: NetworkAgentTable;
  network_quotas: NetworkQuotaTable;
}
