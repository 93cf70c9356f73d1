import type { TokenService } from '../auth/tokens.js';
import type { PolicyEnforcer } from '../auth/policy/enforcer.js';
import type { Config } from '../common/config.js';
import { BadRequest } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import type { Db } from '../db/connection.js';
import type { CatalogProvider } from './catalog.js';

export interface IdentityAppOptions {
  db: Db;
  config: Config;
  tokens: TokenService;
  log: Logger;
  policy: PolicyEnforcer;
  /** The service catalog put in scoped tokens. */
  catalog: CatalogProvider;
  /** The clock of lockouts and of the login failure limit (tests pass their own); common/time's `now` by default. */
  clock?: () => Date;
}

/** Keystone's query booleans: absent → undefined; '', 'true', '1', 'yes' → true; '0', 'false', 'no' → false. */
export function queryBool(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (/^(|true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  throw new BadRequest(`Invalid input for field '${name}': '${value}' is not a boolean`);
}
