/**
 * The L3 part of a host's desired state (`host_state.routers` and `host_state.floating_ips` of
 * `POST /v2.0/agents/report`): the routers this agent host serves. The server builds it
 * (src/network/router-host-state.ts); the L3 data plane (l3.ts) converges the host to it. Every
 * name here is already the device name the host uses (the conventions of issue #13).
 */

/** One router port as the router namespace holds it: a veth whose host end sits in a bridge. */
export interface L3Port {
  port_id: string;
  network_id: string;
  /** The device inside the router namespace: `qr-<port11>` (internal) or `qg-<port11>` (gateway). */
  interface: string;
  /** The veth end left in the host namespace, enslaved to `bridge_name`: `tap<port11>`. */
  tap_name: string;
  /** The network's bridge `brq<network11>` (made by the L2 agent; the L3 code only joins it). */
  bridge_name: string;
  mac_address: string;
  /** Bytes; the network's MTU. */
  mtu: number;
  /** The port's addresses with the prefix length of their subnet. */
  fixed_ips: Array<{ subnet_id: string; ip_address: string; prefixlen: number; cidr: string }>;
}

/** The router's leg on an external network. */
export interface L3Gateway extends L3Port {
  /** The external subnets' gateways; the first IPv4 one is the router's default route. */
  gateway_ips: string[];
}

/** A 1:1 NAT of a floating address to a fixed address behind the router. */
export interface L3FloatingIp {
  id: string;
  router_id: string;
  floating_ip_address: string;
  floating_network_id: string;
  /** The fixed (internal) address and its port. */
  fixed_ip_address: string;
  port_id: string;
}

export interface L3Router {
  id: string;
  /** Neutron's namespace name `qrouter-<router id>` (an agent simulating a host puts its prefix before it). */
  namespace: string;
  admin_state_up: boolean;
  /** SNAT of the internal subnets to the gateway address (external_gateway_info.enable_snat). */
  enable_snat: boolean;
  gateway: L3Gateway | null;
  interfaces: L3Port[];
  /** extraroute's static routes. */
  routes: Array<{ destination: string; nexthop: string }>;
  floating_ips: L3FloatingIp[];
}

/** The answer's L3 sections. */
export interface L3HostState {
  routers: L3Router[];
  floating_ips: L3FloatingIp[];
}
