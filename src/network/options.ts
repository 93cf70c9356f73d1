import type { TokenValidator } from '../auth/context.js';
import type { PolicyEnforcer } from '../auth/policy/enforcer.js';
import type { Config } from '../common/config.js';
import type { Logger } from '../common/logging.js';
import type { Db } from '../db/connection.js';

export interface NetworkAppOptions {
  db: Db;
  config: Config;
  tokens: TokenValidator;
  log: Logger;
  policy: PolicyEnforcer;
}
