import { request as httpRequest, type IncomingMessage, type ServerResponse, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from '../common/logging.js';

/**
 * The dashboard's same-origin pass-through: `/api/<service>/<path>` is forwarded, byte for byte
 * and streamed both ways, to `<service's public URL>/<path>`. The browser's own token travels in
 * its own X-Auth-Token header; the dashboard adds nothing and holds no credential, so every
 * request is exactly the public API request the user could make with the CLI.
 *
 * Only the fixed set of services the cloud runs can be reached (never a URL from the request),
 * so this is not an open proxy.
 */

/** The public base URL of each service the browser may reach, by catalog type. */
export type PassThroughTargets = ReadonlyMap<string, string>;

/** Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus those the API must not see from the browser. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'host', 'origin', 'referer', 'cookie',
]);

function forwardedHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** `/api/<service>/<rest>` → the target URL, or null when the service is not one of the cloud's. */
export function targetUrl(targets: PassThroughTargets, url: string): URL | null {
  const m = /^\/api\/([a-z-]{1,32})(\/[^#]*)?$/.exec(url);
  if (!m) return null;
  const base = targets.get(m[1]!);
  if (base === undefined) return null;
  const target = new URL(base);
  const rest = m[2] ?? '/';
  // The rest is a path (and query) under the service's base, never a new authority.
  target.pathname = target.pathname.replace(/\/$/, '') + rest.split('?')[0];
  const q = rest.indexOf('?');
  target.search = q >= 0 ? rest.slice(q) : '';
  return target;
}

/** Forwards one browser request to its API and streams the answer back. */
export function passThrough(req: IncomingMessage, res: ServerResponse, target: URL, log: Logger): void {
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const upstream = send(target, { method: req.method, headers: forwardedHeaders(req.headers) }, (answer) => {
    const headers = forwardedHeaders(answer.headers);
    res.writeHead(answer.statusCode ?? 502, headers);
    // An answer cut off mid-body must reach the browser as a cut, not as a short success.
    answer.on('error', () => res.destroy());
    answer.pipe(res);
  });
  upstream.on('error', (err) => {
    // The path only: a query may carry a marker but never a token (tokens travel in headers).
    log.warn({ err: err.message, service: target.host, path: target.pathname }, 'dashboard pass-through failed');
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 502, title: 'Bad Gateway', message: 'The API behind the dashboard did not answer.' } }));
    } else {
      res.destroy();
    }
  });
  // The browser gone before the answer ended (a cancelled upload): the API's request goes too.
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}
