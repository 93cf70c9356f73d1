/**
 * Starting a network agent (`orrery network-agent --host <name>`, and one in-process agent per
 * compute host in the all-in-one): its options, its client of the Network API (the service
 * user; `[neutron] endpoint_override` or the catalog), and its data plane.
 */
import { l3Extension, LinuxDataplane, NoopDataplane, type Dataplane, type DataplaneExtension, type MetadataProxyCommand } from '@orrery/net-linux';
import type { Config } from '../common/config.js';
import type { Logger } from '../common/logging.js';
import { IdentityClient } from '../clients/identity-client.js';
import { NetworkClient } from '../clients/network-client.js';
import { NetworkAgent } from '../netagent/agent.js';
import { agentConfig, agentConfigurations } from '../netagent/options.js';
import { metadataForwarderFromConfig } from '../netagent/metadata-forwarder.js';
import { metadataProxyCommand } from '../netagent/metadata-proxy-command.js';

export interface NetworkAgentHooks {
  /** The metadata proxy command, run in each qdhcp namespace (linux data plane). */
  metadataProxy?: MetadataProxyCommand;
  /** Further parts of the data plane (the L3 part). */
  extensions?: DataplaneExtension[];
  /** Started with the agent, stopped after it (the metadata forwarder). */
  companions?: Array<{ start(): Promise<void>; stop(): Promise<void> }>;
}

export interface RunningNetworkAgent {
  agent: NetworkAgent;
  dataplane: Dataplane;
  stop(): Promise<void>;
}

export function networkClientFromConfig(config: Config, authUrl?: string): NetworkClient {
  const identity = IdentityClient.fromConfig(config, authUrl);
  const override = config.opt('neutron', 'endpoint_override');
  return override ? new NetworkClient(override, identity) : new NetworkClient(identity);
}

export async function startNetworkAgent(config: Config, host: string, authUrl: string | undefined, log: Logger, hooks: NetworkAgentHooks = {}): Promise<RunningNetworkAgent> {
  const c = agentConfig(config, host);
  const client = networkClientFromConfig(config, authUrl);
  hooks = { ...hooks };
  if (c.dataplane === 'linux' && c.metadata && !hooks.metadataProxy) {
    // The metadata path: a proxy per qdhcp namespace, reaching this agent's forwarder over a unix socket.
    const forwarder = metadataForwarderFromConfig(config, client, log.child({ service: 'metadata-forwarder', host }));
    hooks.companions = [...(hooks.companions ?? []), forwarder];
    hooks.metadataProxy = (ctx) => metadataProxyCommand({ networkId: ctx.networkId, namespacePath: ctx.namespacePath, socketPath: forwarder.socketPath });
  }
  const dataplane: Dataplane = c.dataplane === 'noop' ? new NoopDataplane() : new LinuxDataplane({
    netns: c.netns, tunnelingIp: c.tunnelingIp, interfaceMappings: c.interfaceMappings, stateDir: c.statePath,
    namespacePrefix: c.namespacePrefix, dhcpLeaseSeconds: c.dhcpLeaseSeconds,
    ...(c.metadata && hooks.metadataProxy ? { metadataProxy: hooks.metadataProxy } : {}),
    // The L3 part (routers, SNAT, floating IPs) on hosts that offer it.
    extensions: [...(hooks.extensions ?? []), ...(c.l3 ? [l3Extension()] : [])],
  });
  const agent = new NetworkAgent({
    host, availabilityZone: c.availabilityZone, configurations: agentConfigurations(c),
    reporter: client, dataplane, log: log.child({ service: 'network-agent', host }),
    pollIntervalMs: c.pollIntervalMs, resyncIntervalMs: c.resyncIntervalMs,
  });
  const companions = hooks.companions ?? [];
  for (const x of companions) await x.start();
  agent.start();
  return {
    agent, dataplane,
    stop: async () => {
      await agent.stop();
      for (const x of [...companions].reverse()) await x.stop();
    },
  };
}
