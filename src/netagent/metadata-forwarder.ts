import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../common/config.js';
import type { OPTIONS } from '../common/options.js';
import type { Logger } from '../common/logging.js';
import { metadataProxySecret, signInstanceId } from '../common/metadata-secret.js';
import type { NetworkClient, NeutronPort } from '../clients/network-client.js';

/**
 * The agent side of the metadata proxy (Neutron's neutron-metadata-agent): a server on a unix
 * socket that the per-network proxies (metadata-proxy.ts) reach from inside their namespaces.
 * For each request it finds the port that holds the guest's address on that network through the
 * Network API (service credentials; kept a few seconds), and calls the metadata API with the
 * port's instance and project and the instance id signed with the shared secret. The guest is
 * known only by its address on its network, so it can read its own instance's documents only.
 */

export interface MetadataForwarderOptions {
  /** The unix socket the proxies connect to. */
  socketPath: string;
  /** The Network API with the service user's credentials. */
  network: NetworkClient;
  /** The metadata API's base URL (http://127.0.0.1:8775). */
  metadataUrl: string;
  secret: string;
  log: Logger;
  /** Milliseconds a port lookup is reused (default 5000). */
  cacheTtlMs?: number;
}

/** A `[metadata_agent]` option (Neutron's metadata agent's names; defined in src/common/options.ts). */
function agentOption(config: Config, name: keyof typeof OPTIONS.metadata_agent): string {
  return config.optOrDefault('metadata_agent', name);
}

/** A forwarder as the configuration says (`[metadata_agent]`, `[neutron] metadata_proxy_shared_secret`). */
export function metadataForwarderFromConfig(config: Config, network: NetworkClient, log: Logger): MetadataForwarder {
  const host = agentOption(config, 'nova_metadata_host');
  return new MetadataForwarder({
    socketPath: agentOption(config, 'metadata_proxy_socket'),
    network,
    metadataUrl: `${agentOption(config, 'nova_metadata_protocol')}://${host.includes(':') ? `[${host}]` : host}:${agentOption(config, 'nova_metadata_port')}`,
    secret: metadataProxySecret(config),
    log,
    cacheTtlMs: Number(agentOption(config, 'cache_ttl')) * 1000,
  });
}

/** Most bytes of a request body passed on, and of an answer passed back. */
const MAX_REQUEST = 64 * 1024;
const MAX_ANSWER = 1024 * 1024;
/** (network, address) lookups kept at once; the oldest are dropped first. */
const MAX_CACHED = 4096;
const CALL_TIMEOUT_MS = 20_000;

/** The servers of this process's forwarders, by socket path. */
const SHARED = new Map<string, { users: number; server: Server; ready: Promise<void> }>();

interface Lookup { instanceId: string; projectId: string }

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}

/** The one value of a header the proxy sets, or null when absent, repeated or unusable. */
function single(req: IncomingMessage, name: string): string | null {
  const v = req.headers[name];
  if (typeof v !== 'string' || v === '' || v.length > 64 || v.includes(',')) return null;
  return v;
}

async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_REQUEST) return null;
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

export class MetadataForwarder {
  private started = false;
  private readonly cache = new Map<string, { at: number; lookup: Promise<Lookup | null> }>();
  private readonly ttl: number;

  constructor(private readonly opts: MetadataForwarderOptions) {
    this.ttl = opts.cacheTtlMs ?? 5_000;
  }

  get socketPath(): string {
    return this.opts.socketPath;
  }

  /** The same forwarder on another socket (not started). */
  withSocket(socketPath: string): MetadataForwarder {
    return new MetadataForwarder({ ...this.opts, socketPath });
  }

  /**
   * Listens on the socket (a stale socket file of an earlier run is replaced); only root may
   * connect. Forwarders of one process on one socket (the all-in-one's agents, which share a
   * state_path) share its server: they are alike (the lookup does not depend on the host), and
   * the socket stays until the last of them stops.
   */
  async start(): Promise<void> {
    if (this.started) return;
    const path = this.opts.socketPath;
    const shared = SHARED.get(path);
    if (shared) {
      shared.users++;
      try {
        await shared.ready;
      } catch (err) {
        shared.users--;
        throw err;
      }
      this.started = true;
      return;
    }
    mkdirSync(dirname(path), { recursive: true });
    rmSync(path, { force: true });
    const server = createServer({ requestTimeout: 30_000 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.opts.log.error({ err }, 'metadata forwarder: request failed');
        if (!res.headersSent) plain(res, 500, '500 Internal Server Error');
        else res.destroy();
      });
    });
    const entry = { users: 1, server, ready: new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    }) };
    SHARED.set(path, entry);
    try {
      await entry.ready;
    } catch (err) {
      SHARED.delete(path);
      throw err;
    }
    chmodSync(path, 0o600);
    this.started = true;
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    const path = this.opts.socketPath;
    const shared = SHARED.get(path);
    if (!shared || --shared.users > 0) return;
    SHARED.delete(path);
    shared.server.closeAllConnections();
    await new Promise<void>((resolve) => shared.server.close(() => resolve()));
    rmSync(path, { force: true });
  }

  /** The instance and project of the port holding `address` on `networkId`, or null (kept `cacheTtlMs`). */
  lookup(networkId: string, address: string): Promise<Lookup | null> {
    const key = `${networkId} ${address}`;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < this.ttl) return hit.lookup;
    const lookup = this.findPort(networkId, address);
    this.cache.delete(key);
    this.cache.set(key, { at: Date.now(), lookup });
    // A failed call is not remembered: the next request asks again.
    lookup.catch(() => this.cache.delete(key));
    while (this.cache.size > MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    return lookup;
  }

  private async findPort(networkId: string, address: string): Promise<Lookup | null> {
    const ports = await this.opts.network.listPorts({ network_id: networkId, fixed_ips: `ip_address=${address}` });
    // Checked here too: the filter is the server's, the guarantee is ours.
    const mine = (p: NeutronPort): boolean => p.network_id === networkId && p.fixed_ips.some((ip) => ip.ip_address === address) && p.device_id !== '';
    const port = ports.find((p) => mine(p) && p.device_owner.startsWith('compute:'));
    return port ? { instanceId: port.device_id, projectId: port.project_id } : null;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const networkId = single(req, 'x-neutron-network-id');
    const address = single(req, 'x-forwarded-for');
    if (!networkId || !address || !req.url?.startsWith('/')) return plain(res, 400, '400 Bad Request');
    const body = await readBody(req);
    if (body === null) return plain(res, 413, '413 Request Entity Too Large');
    let found: Lookup | null;
    try {
      found = await this.lookup(networkId, address);
    } catch (err) {
      this.opts.log.warn({ err, networkId, address }, 'metadata forwarder: the Network API did not answer the port lookup');
      return plain(res, 503, '503 Service Unavailable');
    }
    if (!found) return plain(res, 404, '404 Not Found');
    const method = req.method ?? 'GET';
    const headers: Record<string, string> = {
      'x-forwarded-for': address,
      'x-instance-id': found.instanceId,
      'x-tenant-id': found.projectId,
      'x-instance-id-signature': signInstanceId(this.opts.secret, found.instanceId),
    };
    const type = req.headers['content-type'];
    if (typeof type === 'string' && body.length > 0) headers['content-type'] = type;
    let answer: Response;
    try {
      answer = await fetch(`${this.opts.metadataUrl.replace(/\/+$/, '')}${req.url}`, {
        method, headers, body: body.length > 0 && method !== 'GET' && method !== 'HEAD' ? body : undefined,
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS), redirect: 'manual',
      });
    } catch (err) {
      this.opts.log.warn({ err }, 'metadata forwarder: the metadata API did not answer');
      return plain(res, 503, '503 Service Unavailable');
    }
    if (answer.status === 403) {
      this.opts.log.warn('metadata forwarder: the metadata API answered 403: the shared secrets ([neutron] metadata_proxy_shared_secret) differ');
    }
    const data = Buffer.from(await answer.arrayBuffer());
    if (data.length > MAX_ANSWER) return plain(res, 502, '502 Bad Gateway');
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain', 'content-length': String(data.length) });
    res.end(method === 'HEAD' ? undefined : data);
  }
}
