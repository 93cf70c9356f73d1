/**
 * The device and namespace names of #13's conventions (Neutron linuxbridge's): every component
 * (agent, L3, drivers, tests) derives them here so they agree.
 * Interface names are at most 15 characters (IFNAMSIZ - 1).
 */
export const bridgeName = (networkId: string): string => `brq${networkId.slice(0, 11)}`;
export const tapName = (portId: string): string => `tap${portId.slice(0, 11)}`;
export const vxlanName = (segmentationId: number): string => `vxlan-${segmentationId}`;
/** Interface of the DHCP port inside its qdhcp namespace (its host end is the port's tap). */
export const dhcpInterfaceName = (portId: string): string => `ns-${portId.slice(0, 11)}`;
export const routerInternalName = (portId: string): string => `qr-${portId.slice(0, 11)}`;
export const routerGatewayName = (portId: string): string => `qg-${portId.slice(0, 11)}`;

/**
 * Namespace names. `prefix` lets several simulated hosts share one machine's /run/netns (tests,
 * a multi-host harness): a real host uses the empty prefix and Neutron's names exactly.
 */
export const dhcpNamespace = (networkId: string, prefix = ''): string => `${prefix}qdhcp-${networkId}`;
export const routerNamespace = (routerId: string, prefix = ''): string => `${prefix}qrouter-${routerId}`;

/** A Linux interface name: 1–15 characters, no '/', whitespace, ':' or NUL. */
export function validIfName(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,15}$/.test(name);
}
