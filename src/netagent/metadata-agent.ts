import type { Config } from '../common/config.js';
import type { Logger } from '../common/logging.js';
import type { NetworkClient } from '../clients/network-client.js';
import { metadataForwarderFromConfig, MetadataForwarder } from './metadata-forwarder.js';
import { metadataProxyCommand } from './metadata-proxy-command.js';

/**
 * The metadata part of a network agent, in the shape of the agent's hooks (src/cmd/network-agent.ts
 * `NetworkAgentHooks`): `metadataProxy` gives the data plane the command of each qdhcp namespace's
 * proxy (it runs and keeps it, and puts 169.254.169.254/32 on the DHCP interface), and the
 * forwarder those proxies reach is a companion started and stopped with the agent.
 * startNetworkAgent wires the same by itself when given no `metadataProxy`; these hooks are for a
 * caller that wants the forwarder on a socket of its own (several simulated hosts of one test).
 *
 *   startNetworkAgent(config, host, authUrl, log, metadataAgentHooks({ config, network, log, socketPath }))
 */

/** What the data plane tells the command of one namespace's proxy (net-linux's MetadataProxyCommand context). */
export interface MetadataProxyContext {
  networkId: string;
  namespace: string;
  /** `/run/netns/<namespace>`. */
  namespacePath: string;
  dhcpIp: string;
  stateDir: string;
}

export interface MetadataAgentHooks {
  metadataProxy: (ctx: MetadataProxyContext) => string[];
  companions: MetadataForwarder[];
}

export interface MetadataAgentOptions {
  config: Config;
  /** The Network API with the service user's credentials (the agent's own client will do). */
  network: NetworkClient;
  log: Logger;
  /**
   * The forwarder's socket; default `[metadata_agent] metadata_proxy_socket`
   * ($state_path/metadata_proxy). Agents that share a machine and a state_path (several simulated
   * hosts) need one each: pass a path under each agent's own state directory.
   */
  socketPath?: string;
}

export function metadataAgentHooks(opts: MetadataAgentOptions): MetadataAgentHooks {
  const base = metadataForwarderFromConfig(opts.config, opts.network, opts.log.child({ service: 'metadata-forwarder' }));
  const forwarder = opts.socketPath ? base.withSocket(opts.socketPath) : base;
  return {
    metadataProxy: (ctx) => metadataProxyCommand({ networkId: ctx.networkId, namespacePath: ctx.namespacePath, socketPath: forwarder.socketPath }),
    companions: [forwarder],
  };
}

export { MetadataForwarder };
