/**
 * The agent's options, `[network_agent]` (defined in src/common/options.ts): dataplane noop|linux, netns (path of the host's network namespace; empty: the agent's
 * own), tunneling_ip, interface_mappings (physnet:iface,…), poll_interval and resync_interval
 * (seconds), state_path, namespace_prefix (several simulated hosts on one machine), dhcp_lease_duration,
 * and what the agent offers (dhcp, l3, metadata) as its `configurations`.
 */
import { join } from 'node:path';
import type { Config } from '../common/config.js';
import type { OPTIONS } from '../common/options.js';

export interface AgentConfig {
  dataplane: 'noop' | 'linux';
  netns: string | null;
  tunnelingIp: string | null;
  interfaceMappings: Map<string, string>;
  pollIntervalMs: number;
  resyncIntervalMs: number;
  statePath: string;
  namespacePrefix: string;
  dhcpLeaseSeconds: number;
  availabilityZone: string;
  dhcp: boolean;
  l3: boolean;
  metadata: boolean;
}

const opt = (c: Config, name: keyof typeof OPTIONS.network_agent): string => c.optOrDefault('network_agent', name);
const bool = (v: string) => /^(1|true|yes|on)$/i.test(v);
const seconds = (c: Config, name: keyof typeof OPTIONS.network_agent, min: number, max: number): number => {
  const n = Number(opt(c, name));
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`config: [network_agent] ${name} must be between ${min} and ${max}`);
  return n;
};

export function agentConfig(config: Config, host: string): AgentConfig {
  const dataplane = opt(config, 'dataplane');
  if (dataplane !== 'noop' && dataplane !== 'linux') throw new Error('config: [network_agent] dataplane must be noop or linux');
  const mappings = new Map<string, string>();
  for (const item of opt(config, 'interface_mappings').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [phys, dev] = item.split(':').map((s) => s.trim());
    if (!phys || !dev || !/^[A-Za-z0-9_.-]{1,15}$/.test(dev)) throw new Error(`config: [network_agent] interface_mappings: bad entry ${item}`);
    mappings.set(phys, dev);
  }
  const tunnelingIp = opt(config, 'tunneling_ip') || null;
  const prefix = opt(config, 'namespace_prefix');
  if (prefix !== '' && !/^[A-Za-z0-9_.-]{1,32}$/.test(prefix)) throw new Error('config: [network_agent] namespace_prefix: letters, digits, _ . - only');
  return {
    dataplane,
    netns: opt(config, 'netns') || null,
    tunnelingIp,
    interfaceMappings: mappings,
    pollIntervalMs: seconds(config, 'poll_interval', 0.1, 3600) * 1000,
    resyncIntervalMs: seconds(config, 'resync_interval', 1, 86400) * 1000,
    statePath: opt(config, 'state_path') || join(config.str('DEFAULT', 'state_path'), 'network-agent', host),
    namespacePrefix: prefix,
    dhcpLeaseSeconds: seconds(config, 'dhcp_lease_duration', 120, 10 * 365 * 86400),
    availabilityZone: opt(config, 'availability_zone') || config.str('DEFAULT', 'default_availability_zone'),
    dhcp: bool(opt(config, 'dhcp')),
    l3: bool(opt(config, 'l3')),
    metadata: bool(opt(config, 'metadata')),
  };
}

/** The `configurations` the agent reports (#13's shape). */
export function agentConfigurations(c: AgentConfig): Record<string, unknown> {
  return {
    tunneling_ip: c.tunnelingIp, interface_mappings: Object.fromEntries(c.interfaceMappings),
    dhcp: c.dhcp, l3: c.l3, metadata: c.metadata, dataplane: c.dataplane,
  };
}
