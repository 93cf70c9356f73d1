import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../common/logging.js';
import { loadWebApp, type StaticFile } from './static-files.js';
import { passThrough, targetUrl, type PassThroughTargets } from './pass-through.js';

/**
 * The dashboard's HTTP server: the built web app, and the same-origin pass-through to the
 * cloud's public APIs (pass-through.ts says why not CORS). A plain node:http server rather
 * than the APIs' Fastify kit: it parses no bodies (uploads stream straight through) and has no
 * routes of its own to validate.
 */

export interface DashboardOptions {
  host: string;
  /** 0 = an ephemeral port. */
  port: number;
  /** The public base URL of each service the browser may reach, by catalog type. */
  targets: PassThroughTargets;
  log: Logger;
  /** The built app's folder (default: dist/dashboard-web). */
  webRoot?: string;
}

export interface RunningDashboard {
  url: string;
  stop(): Promise<void>;
}

/** The page's own rules: scripts only from itself; websockets anywhere (the console proxies listen on their own ports). */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; frame-src 'self' http: https:; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const NOT_BUILT = '<!doctype html><title>Orrery dashboard</title><p>The dashboard is not built: run <code>npm run build</code>.</p>';

function serveFile(req: IncomingMessage, res: ServerResponse, files: Map<string, StaticFile>): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', ...SECURITY_HEADERS }).end();
    return;
  }
  const path = (req.url ?? '/').split('?')[0]!;
  // The app routes with the URL's hash, so every other path is the app's page.
  const file = files.get(path) ?? files.get('/index.html');
  if (file === undefined) {
    res.writeHead(503, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS }).end(NOT_BUILT);
    return;
  }
  // Vite names assets by content hash: they never change under their name.
  const cache = path.startsWith('/assets/') && files.has(path) ? 'public, max-age=31536000, immutable' : 'no-cache';
  res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length, 'cache-control': cache, ...SECURITY_HEADERS });
  res.end(req.method === 'HEAD' ? undefined : file.body);
}

export async function startDashboard(opts: DashboardOptions): Promise<RunningDashboard> {
  const files = loadWebApp(opts.webRoot);
  if (files.size === 0) opts.log.warn('the dashboard web app is not built (npm run build); its port serves a page saying so');
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith('/api/')) {
      const target = targetUrl(opts.targets, url);
      if (target === null) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 404, title: 'Not Found', message: 'No such service.' } }));
        return;
      }
      passThrough(req, res, target, opts.log);
      return;
    }
    serveFile(req, res, files);
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host}:${port}`,
    stop: () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}
