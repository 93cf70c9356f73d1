import type { TokenValidator } from '../auth/context.js';
import type { PolicyEnforcer } from '../auth/policy/enforcer.js';
import type { Config } from '../common/config.js';
import type { OPTIONS } from '../common/options.js';
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

/** A `[network]` option (defined in src/common/options.ts); set empty, it means its default. */
export function networkOpt(config: Config, name: keyof typeof OPTIONS.network): string {
  return config.optOrDefault('network', name);
}

/** MTUs Neutron computes for a 1500-byte underlay: VXLAN's 50-byte header off, flat as it is. */
export const MTU = { vxlan: 1450, flat: 1500 } as const;
