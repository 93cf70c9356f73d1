import type { Config } from '../common/config.js';
import type { Logger } from '../common/logging.js';
import type { Db } from '../db/connection.js';
import type { TokenValidator } from '../auth/context.js';
import type { PolicyEnforcer } from '../auth/policy/enforcer.js';
import type { ConductorRpcApi } from '../rpc/conductor-api.js';
import type { ComputeRpcApi } from '../rpc/compute-api.js';
import type { ImageClient } from '../clients/image-client.js';
import type { NetworkClient } from '../clients/network-client.js';
import type { ConsoleProxyPorts } from './remote-consoles.js';

/** What every route module of the compute API (:8774) receives: `register(app, deps)`. */
export interface ComputeApiDeps {
  db: Db;
  config: Config;
  log: Logger;
  /** Validates the X-Auth-Token of every request. */
  tokens: TokenValidator;
  /** The policy rules in force (defaults and policy.yaml), shared by the APIs of the process. */
  policy: PolicyEnforcer;
  conductor: ConductorRpcApi;
  compute: ComputeRpcApi;
  /** The image API, called with the user's own token. */
  images: ImageClient;
  /** The Network API (absent: no network service, as before #13): called with the user's token for what a request asks, with the service user's for the API's own upkeep. */
  network?: NetworkClient;
  /** The console proxies' ports in this process, set once they listen (absent: none runs, every console type is unavailable). */
  consoleProxies?: ConsoleProxyPorts;
}
