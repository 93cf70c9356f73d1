/**
 * What a server asked of the network at create (Nova's RequestedNetwork list), carried by the
 * RequestSpec (1.1) to the compute service that allocates its ports, and the ports a server
 * has as the compute service reports them (the info cache, `instances.network_info`).
 */

/** One entry of a create's `networks` list, validated by the API with the user's token. */
export interface RequestedNetwork {
  /** The network to make a port on (absent when `portId` is given: the port's network). */
  networkId?: string;
  /** A port the user made: bound to the server, never deleted by Orrery. */
  portId?: string;
  fixedIp?: string;
  tag?: string;
}

export interface NetworkRequest {
  /** `auto`: the project's one network or the auto-allocated topology; `none`: no port. */
  mode: 'auto' | 'none' | 'list';
  networks: RequestedNetwork[];
  /** Security group ids (resolved from names by the API); empty = the project's default group. */
  securityGroupIds: string[];
}

/** One port of a server in the info cache (`instances.network_info`, a JSON list of these). */
export interface VifInfo {
  port_id: string;
  network_id: string;
  network_label: string;
  mac: string;
  mtu: number;
  created_by_compute: boolean;
  fixed_ips: Array<{ address: string; version: 4 | 6; subnet_id: string; floating_ips: string[] }>;
}
