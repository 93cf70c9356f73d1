import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The command the network agent runs to start one network's metadata proxy inside its qdhcp
 * namespace (the agent keeps the child, and kills it by pid when the network leaves the host).
 * The agent must also put 169.254.169.254/32 on the namespace's DHCP interface and run a
 * MetadataForwarder on `socketPath` (metadata-forwarder.ts).
 */

export interface MetadataProxyCommandOptions {
  networkId: string;
  /** The namespace to run in, by path (`/run/netns/qdhcp-<network>`); '' runs it where the agent is. */
  namespacePath: string;
  /** The forwarder's unix socket (`[metadata_agent] metadata_proxy_socket`). */
  socketPath: string;
  /** Default 169.254.169.254. */
  bindAddress?: string;
  /** Default 80. */
  port?: number;
  /** A file the proxy writes its pid to once it listens, and removes when it stops. */
  pidFile?: string;
  /** The node binary; default this process's. */
  node?: string;
}

/** dist/src/netagent/metadata-proxy.js, from the built module or (under tsx) from the source tree. */
export function metadataProxyScript(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.js') ? join(dirname(here), 'metadata-proxy.js') : join(dirname(here), '..', '..', 'dist', 'src', 'netagent', 'metadata-proxy.js');
}

/** argv of the proxy: `nsenter --net=<ns> -- node …/metadata-proxy.js --network-id … --socket …`. */
export function metadataProxyCommand(opts: MetadataProxyCommandOptions): string[] {
  const argv = [
    opts.node ?? process.execPath, metadataProxyScript(),
    '--network-id', opts.networkId, '--socket', opts.socketPath,
    '--bind-address', opts.bindAddress ?? '169.254.169.254', '--port', String(opts.port ?? 80),
    ...(opts.pidFile ? ['--pid-file', opts.pidFile] : []),
  ];
  return opts.namespacePath ? ['nsenter', `--net=${opts.namespacePath}`, '--', ...argv] : argv;
}
