import type { Logger } from '../common/logging.js';
import { type AmqpBusOptions, type AmqpEndpoint, AmqpBus } from './amqp-bus.js';
import type { Bus } from './bus.js';
import { InProcessBus } from './inprocess-bus.js';

/**
 * The bus named by `transport_url`, in Nova's forms:
 *
 * - `inprocess://` (or empty): the embedded bus; every service in this process.
 * - `rabbit://user:pass@host:port/vhost` — AMQP 0-9-1. Several brokers may be listed, tried in
 *   turn on each (re)connect: `rabbit://u:p@h1:5672,u:p@h2:5672/vhost`. The path is the virtual
 *   host (none or `/` means the default `/`; `%2F` escapes a slash); `?ssl=1` connects with TLS.
 */
export async function createBus(url: string, log: Logger, opts: AmqpBusOptions = {}): Promise<Bus> {
  const scheme = transportScheme(url);
  if (scheme === 'inprocess') return new InProcessBus(log);
  const endpoints = parseRabbitUrl(url);
  log.info({ transport: redactTransportUrl(url) }, 'connecting to the message broker');
  return AmqpBus.connect(endpoints, log, opts);
}

export function transportScheme(url: string): 'inprocess' | 'rabbit' {
  const trimmed = url.trim();
  if (trimmed === '' || /^inprocess:(\/\/)?$/i.test(trimmed)) return 'inprocess';
  if (/^rabbit:\/\//i.test(trimmed)) return 'rabbit';
  throw new Error(`Unsupported transport_url ${redactTransportUrl(trimmed)}: use inprocess:// or rabbit://user:pass@host:port/vhost`);
}

export function parseRabbitUrl(url: string): AmqpEndpoint[] {
  const m = /^rabbit:\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i.exec(url.trim());
  if (!m) throw new Error(`Malformed transport_url ${redactTransportUrl(url)}`);
  const [, authority = '', path = '', query = ''] = m;
  const params = new URLSearchParams(query);
  const tls = ['1', 'true', 'yes'].includes((params.get('ssl') ?? '').toLowerCase());
  const vhost = path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1));
  const hosts = authority.split(',').filter((h) => h !== '');
  if (hosts.length === 0) throw new Error(`transport_url ${redactTransportUrl(url)} names no broker`);
  return hosts.map((entry) => {
    const at = entry.lastIndexOf('@');
    const userinfo = at >= 0 ? entry.slice(0, at) : '';
    const hostport = at >= 0 ? entry.slice(at + 1) : entry;
    const colon = userinfo.indexOf(':');
    const username = decodeURIComponent(colon >= 0 ? userinfo.slice(0, colon) : userinfo) || 'guest';
    const password = colon >= 0 ? decodeURIComponent(userinfo.slice(colon + 1)) : at >= 0 ? '' : 'guest';
    const hp = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(hostport);
    if (!hp || !hp[1]) throw new Error(`transport_url ${redactTransportUrl(url)}: bad broker address ${hostport}`);
    return {
      protocol: tls ? 'amqps' : 'amqp',
      hostname: hp[1].replace(/^\[|\]$/g, ''),
      port: hp[2] ? Number(hp[2]) : tls ? 5671 : 5672,
      username,
      password,
      vhost,
    } satisfies AmqpEndpoint;
  });
}

/** The URL with its passwords masked, for logs and error messages. */
export function redactTransportUrl(url: string): string {
  return url.replace(/([/,][^:/@,]*):[^@/,]*@/g, '$1:***@');
}
