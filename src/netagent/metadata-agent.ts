import { join } from 'node:path';
import type { Config } from '../common/config.js';
import type { Logger } from '../common/logging.js';
import type { NetworkClient } from '../clients/network-client.js';
import { metadataForwarderFromConfig, MetadataForwarder } from './metadata-forwarder.js';
import { metadataProxyCommand } from './metadata-proxy-command.js';
import { agentConfig } from './options.js';

/**
 * The metadata part of a network agent, in the shape of the agent's hooks (src/cmd/network-agent.ts
 * `NetworkAgentHooks`): `metadataProxy` gives the data plane the command of each qdhcp namespace's
 * proxy (it runs and keeps it, and puts 169.254.169.254/32 on the DHCP interface), and the
 * forwarder those proxies reach is a companion started and stopped with the agent.
 *
 *   startNetworkAgent(config, host, authUrl, log, metadataHooksFor(config, host, network, log))
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

/**
 * The hooks of the agent of `host` as its configuration asks: none unless it runs the Linux data
 * plane with `[network_agent] metadata` on (a noop data plane starts no proxy to forward for).
 * The forwarder's socket is `[metadata_agent] metadata_proxy_socket` when set, else
 * `metadata_proxy` in the agent's own state directory, so that several agents of one process or
 * machine (the all-in-one's, a test's simulated hosts) have one each.
 */
export function metadataHooksFor(config: Config, host: string, network: NetworkClient, log: Logger): Partial<MetadataAgentHooks> {
  const c = agentConfig(config, host);
  if (c.dataplane !== 'linux' || !c.metadata) return {};
  const socketPath = config.opt('metadata_agent', 'metadata_proxy_socket') || join(c.statePath, 'metadata_proxy');
  return metadataAgentHooks({ config, network, log: log.child({ host }), socketPath });
}

export { MetadataForwarder };
