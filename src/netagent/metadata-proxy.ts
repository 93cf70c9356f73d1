import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { rmSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/**
 * The metadata proxy of one network (Neutron's per-network haproxy): a small program the agent
 * starts inside the network's qdhcp namespace (metadata-proxy-command.ts builds the command). It
 * listens on 169.254.169.254:80 there, and passes each guest request over a unix socket — which
 * crosses the namespace boundary — to the agent's forwarder with the guest's address
 * (X-Forwarded-For, from the connection, never from the guest's own headers) and the network
 * (X-Neutron-Network-ID). It imports nothing of Orrery's, so it starts in tens of milliseconds.
 *
 *   node metadata-proxy.js --network-id <id> --socket <path> [--bind-address 169.254.169.254]
 *                          [--port 80] [--pid-file <path>]
 */

export interface MetadataProxyArgs {
  networkId: string;
  socket: string;
  bindAddress: string;
  port: number;
  pidFile: string | null;
}

/** Most bytes a guest's request body may have (a posted password is at most 256). */
const MAX_BODY = 64 * 1024;
/** Connections served at once; more wait in the kernel's backlog. */
const MAX_CONNECTIONS = 256;
/** Milliseconds a request may take end to end. */
const REQUEST_TIMEOUT_MS = 30_000;

/** Headers a guest may not send on: the proxy's own (spoofing them would name another instance) and hop-by-hop ones. */
const DROPPED = /^(x-forwarded-|x-neutron-|x-instance-|x-tenant-|x-metadata-provider|connection$|keep-alive$|proxy-|te$|trailer$|transfer-encoding$|upgrade$|host$)/i;

export function parseProxyArgs(argv: readonly string[]): MetadataProxyArgs {
  const opts = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!;
    const v = argv[i + 1];
    if (!k.startsWith('--') || v === undefined) throw new Error(`metadata-proxy: bad argument ${k}`);
    opts.set(k.slice(2), v);
  }
  const networkId = opts.get('network-id') ?? '';
  const socket = opts.get('socket') ?? '';
  if (!/^[0-9a-fA-F-]{1,64}$/.test(networkId)) throw new Error('metadata-proxy: --network-id is required');
  if (socket === '') throw new Error('metadata-proxy: --socket is required');
  const port = Number(opts.get('port') ?? '80');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('metadata-proxy: bad --port');
  return { networkId, socket, bindAddress: opts.get('bind-address') ?? '169.254.169.254', port, pidFile: opts.get('pid-file') ?? null };
}

/** The address of the guest, without the IPv4-mapped prefix. */
function guestAddress(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

function plain(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
  res.end(`${text}\n`);
}

function forwardedHeaders(req: IncomingMessage, networkId: string): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = Object.create(null) as IncomingHttpHeaders;
  for (const [k, v] of Object.entries(req.headers)) if (!DROPPED.test(k) && v !== undefined) out[k] = v;
  out.host = '169.254.169.254';
  out['x-forwarded-for'] = guestAddress(req);
  out['x-neutron-network-id'] = networkId;
  return out;
}

/** Starts the proxy; resolves once it listens. */
export function startMetadataProxy(args: MetadataProxyArgs): Promise<{ close(): Promise<void>; port: number }> {
  const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
    // Only origin-form paths: an absolute URL would let a guest aim the forwarder elsewhere.
    if (!req.url?.startsWith('/')) return plain(res, 400, '400 Bad Request');
    const length = Number(req.headers['content-length'] ?? 0);
    if (!Number.isFinite(length) || length > MAX_BODY) return plain(res, 413, '413 Request Entity Too Large');
    const up = request({
      socketPath: args.socket, method: req.method, path: req.url, headers: forwardedHeaders(req, args.networkId), timeout: REQUEST_TIMEOUT_MS,
    }, (answer) => {
      const headers: IncomingHttpHeaders = Object.create(null) as IncomingHttpHeaders;
      for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && !/^(connection|keep-alive|transfer-encoding)$/i.test(k)) headers[k] = v;
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(res);
    });
    // The forwarder away (the agent restarting): 503, as haproxy answers with no backend.
    up.on('error', (err) => {
      process.stderr.write(`metadata-proxy: ${err.message}\n`);
      plain(res, 503, '503 Service Unavailable');
    });
    up.on('timeout', () => up.destroy(new Error('timeout')));
    let seen = 0;
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > MAX_BODY) {
        up.destroy();
        plain(res, 413, '413 Request Entity Too Large');
        req.destroy();
      }
    });
    req.pipe(up);
  });
  server.maxConnections = MAX_CONNECTIONS;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(args.port, args.bindAddress, () => {
      server.off('error', reject);
      if (args.pidFile) writeFileSync(args.pidFile, `${process.pid}\n`);
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : args.port,
        close: () => new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
          if (args.pidFile) rmSync(args.pidFile, { force: true });
        }),
      });
    });
  });
}

// Run as a program (not when imported by a test).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let args: MetadataProxyArgs;
  try {
    args = parseProxyArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  startMetadataProxy(args).then((p) => {
    process.stdout.write(`metadata proxy of network ${args.networkId} on ${args.bindAddress}:${p.port} → ${args.socket}\n`);
    const stop = (): void => {
      void p.close().then(() => process.exit(0));
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  }, (err: unknown) => {
    process.stderr.write(`metadata-proxy: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
