import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect, type ChannelModel } from 'amqplib';
import { parseRabbitUrl } from '../src/rpc/transport.js';

const exec = promisify(execFile);

/** The local broker's default vhost, as guest. */
export const DEFAULT_BROKER_URL = 'rabbit://guest:guest@127.0.0.1:5672/';

/** An AMQP connection to the first broker of a rabbit:// transport URL. */
export function amqpConnect(url: string, socketOptions?: { timeout: number }): Promise<ChannelModel> {
  const [ep] = parseRabbitUrl(url);
  return connect({ protocol: ep!.protocol, hostname: ep!.hostname, port: ep!.port, username: ep!.username, password: ep!.password, vhost: encodeURIComponent(ep!.vhost) }, socketOptions);
}

/** Whether an AMQP handshake with the broker at `url` succeeds. */
export async function rabbitReachable(url: string): Promise<boolean> {
  try {
    await (await amqpConnect(url, { timeout: 2000 })).close();
    return true;
  } catch {
    return false;
  }
}

/** Whether rabbitmqctl, which makes and deletes vhosts, reaches the broker of this machine. */
export async function rabbitmqctlWorks(): Promise<boolean> {
  return exec('rabbitmqctl', ['list_vhosts']).then(() => true, () => false);
}

/** Creates `vhost` on this machine's broker, open to the user of `brokerUrl`. */
export async function addVhost(brokerUrl: string, vhost: string): Promise<void> {
  await exec('rabbitmqctl', ['add_vhost', vhost]);
  await exec('rabbitmqctl', ['set_permissions', '-p', vhost, parseRabbitUrl(brokerUrl)[0]!.username, '.*', '.*', '.*']);
}

/** Deletes `vhost` and everything in it; a missing one is fine. */
export async function deleteVhost(vhost: string): Promise<void> {
  await exec('rabbitmqctl', ['delete_vhost', vhost]).catch(() => undefined);
}

/** The transport URL of `vhost` on the broker of `brokerUrl` (a URL without a vhost), reached at `viaPort` when given (a proxy). */
export function transportUrl(brokerUrl: string, vhost: string, viaPort?: number): string {
  const broker = new URL(brokerUrl.replace(/^rabbit:/, 'http:'));
  if (viaPort) broker.port = String(viaPort);
  return `rabbit://${broker.username || 'guest'}:${broker.password || 'guest'}@${broker.hostname}:${broker.port || 5672}/${vhost}`;
}
