import type { TokenValidator } from '../auth/context.js';
import type { PolicyEnforcer } from '../auth/policy/enforcer.js';
import type { Config } from '../common/config.js';
import type { Logger } from '../common/logging.js';
import type { Db } from '../db/connection.js';
import type { BaremetalRpcApi } from '../rpc/baremetal-api.js';
import type { Sealer } from './driver-info.js';

export interface BaremetalAppOptions {
  db: Db;
  config: Config;
  tokens: TokenValidator;
  log: Logger;
  policy: PolicyEnforcer;
  /** Seals driver_info's secrets (CredentialKeys). */
  keys: Sealer;
  /** The conductors' bare-metal workers (topic baremetal). */
  conductor: Pick<BaremetalRpcApi, 'changePowerState' | 'doProvisioningAction' | 'setBootDevice'>;
}
