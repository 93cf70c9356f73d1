/**
 * @orrery/net-linux — the Linux data plane of Orrery's network agent (bridges, VXLAN, DHCP,
 * security groups) and of its L3 (l3*.ts). Imports nothing from Orrery's src/.
 */
export * from './runner.js';
export * from './names.js';
export * from './host-state.js';
export * from './links.js';
export * from './l2.js';
export * from './dhcp.js';
export * from './secgroups.js';
export * from './antispoof.js';
export * from './dataplane.js';
export * from './l3.js';
export * from './l3-extension.js';
