import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { listenFailure } from '../common/listen-failure.js';
import type { Logger } from '../common/logging.js';
import type { Db } from '../db/connection.js';
import { getPortByAddress } from '../db/baremetal-ports.js';
import { BOOT_FILES, type BootFile } from './boot-files.js';

/**
 * The HTTP boot server of a conductor (Ironic's [deploy] http_url, served in-process): the
 * nodes' iPXE scripts, kernels and ramdisks, read-only, from [baremetal] http_root.
 *
 *   GET /ipxe/<mac>                the iPXE script of the node that port belongs to (the first
 *                                  script a machine chains to: `chain http://…/ipxe/${net0/mac}`);
 *                                  colon- or hyphen-separated
 *   GET /nodes/<uuid>/<file>       boot.ipxe, kernel or ramdisk
 *
 * A node's files exist only while it is being deployed or is active; anything else is 404. Each
 * whole file sent is reported to `onFetched`: a machine that fetched its kernel and ramdisk has
 * netbooted (the deploy's "came up").
 */
export class BootServer {
  private server: Server | null = null;
  private readonly listeners = new Set<(node: string, file: BootFile) => void>();

  constructor(private readonly db: Db, private readonly root: string, private readonly log: Logger) {}

  /** Listens on host:port (0: a free port); answers the port. */
  async start(host: string, port: number): Promise<number> {
    const server = createServer((req, res) => void this.handle(req, res).catch((err: unknown) => {
      this.log.warn({ err }, 'boot server request failed');
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    }));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(listenFailure(err, host, port, '[baremetal] http_port')));
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  /** Calls `fn` for every whole boot file sent; answers the unsubscribe. */
  onFetched(fn: (node: string, file: BootFile) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    const path = (req.url ?? '/').split('?')[0]!;
    res.on('finish', () => this.log.debug({ path: path.slice(0, 200), status: res.statusCode, from: req.socket.remoteAddress }, 'boot server request'));
    // iPXE percent-encodes the colons of `${net0/mac}` in a URL (52%3A54%3A…).
    const byMac = /^\/ipxe\/([0-9a-fA-F]{2}(?:(?:[:-]|%3[aA])[0-9a-fA-F]{2}){5})$/.exec(path);
    if (byMac) {
      const port = await getPortByAddress(this.db, byMac[1]!.toLowerCase().replaceAll('%3a', ':').replaceAll('-', ':'));
      return this.send(req, res, port?.node_uuid ?? null, 'boot.ipxe');
    }
    const byNode = /^\/nodes\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/([a-z.]+)$/.exec(path);
    const file = byNode?.[2] as BootFile | undefined;
    if (byNode && file && (BOOT_FILES as readonly string[]).includes(file)) return this.send(req, res, byNode[1]!, file);
    res.writeHead(404).end();
  }

  private send(req: IncomingMessage, res: ServerResponse, node: string | null, file: BootFile): void {
    const full = node ? join(this.root, node, file) : null;
    let size: number;
    try {
      size = full ? statSync(full).size : -1;
    } catch {
      size = -1;
    }
    if (!full || size < 0) return void res.writeHead(404).end();
    const type = file === 'boot.ipxe' ? 'text/plain' : 'application/octet-stream';
    res.writeHead(200, { 'content-type': type, 'content-length': size });
    if (req.method === 'HEAD') return void res.end();
    const stream = createReadStream(full);
    stream.on('error', () => res.destroy());
    res.on('finish', () => {
      this.log.info({ node, file, bytes: size, from: req.socket.remoteAddress }, 'boot file sent');
      for (const fn of this.listeners) fn(node!, file);
    });
    stream.pipe(res);
  }
}
