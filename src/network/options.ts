import type { TokenValidator } from '../auth/context.js';
import type { PolicyEnforcer } from '../auth/policy/enforcer.js';
import type { Config } from '../common/config.js';
import type { Logger } from '../common/logging.js';
import type { Db } from '../db/connection.js';
import type { NovaNotifier } from './nova-notifier.js';

export interface NetworkAppOptions {
  db: Db;
  config: Config;
  tokens: TokenValidator;
  log: Logger;
  policy: PolicyEnforcer;
  /** Where port changes of servers are told to the compute API (none: not told, e.g. in API-only tests). */
  notifier?: NovaNotifier;
}

/**
 * The network service's options, read with their defaults here (`[network]` in the config file
 * overrides them): vni_ranges, the VXLAN segments project networks get (Neutron's
 * `[ml2_type_vxlan] vni_ranges`); agent_down_time, seconds after its last report an agent is
 * dead (Neutron's 75); dhcp_lease_duration, seconds (Neutron's 86400).
 */
export const NETWORK_OPTION_DEFAULTS = {
  vni_ranges: '1:16000',
  agent_down_time: '75',
  dhcp_lease_duration: '86400',
  /** Whether host states ask agents to serve 169.254.169.254 (the metadata proxy) on their DHCP interfaces. */
  metadata_enabled: 'true',
} as const;

export function networkOpt(config: Config, name: keyof typeof NETWORK_OPTION_DEFAULTS): string {
  const v = config.opt('network', name);
  return v === undefined || v === '' ? NETWORK_OPTION_DEFAULTS[name] : v;
}

/** MTUs Neutron computes for a 1500-byte underlay: VXLAN's 50-byte header off, flat as it is. */
export const MTU = { vxlan: 1450, flat: 1500 } as const;
