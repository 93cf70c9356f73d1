import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Config } from '../common/config.js';
import { errorMessage, statusOf } from '../common/errors.js';
import { listenFailure } from '../common/listen-failure.js';
import type { Logger } from '../common/logging.js';
import { newUuid } from '../common/ids.js';
import type { Db } from '../db/connection.js';
import { findConsoleToken } from '../db/console-auth-tokens.js';
import { getInstance } from '../db/instances.js';
import type { ComputeRpcApi } from '../rpc/compute-api.js';
import { systemContext } from '../rpc/dispatch.js';
import { servePage } from './novnc-page.js';

/**
 * The console proxies of the API process (Nova's nova-novncproxy and nova-serialproxy): a
 * websocket whose URL carries a console token, checked against the hashed tokens of
 * console_auth_tokens, then bridged byte for byte to the guest's console on its compute host —
 * websockify's protocol (binary frames carrying the raw TCP stream), which noVNC and Nova's
 * serial clients speak. The endpoint is asked of the compute again at each connection (a
 * rebooted guest's VNC port may have changed, and a port the token once named may now be
 * another guest's). The token never reaches a log line: only the instance and the kind do.
 */

export type ProxyKind = 'novnc' | 'serial';

/** The console type a proxy's tokens must carry, and the kind of console it asks the compute for. */
const KINDS: Readonly<Record<ProxyKind, { type: string; console: 'vnc' | 'serial'; option: string }>> = {
  novnc: { type: 'novnc', console: 'vnc', option: '[vnc] novncproxy_port' },
  serial: { type: 'serial', console: 'serial', option: '[serial_console] serialproxy_port' },
};

/** The most connections one proxy bridges at once (each holds two sockets and their buffers). */
const MAX_CONNECTIONS = 256;
/** The largest websocket message a client may send: a VNC client's are tens of bytes, a paste a few KB. */
const MAX_MESSAGE = 64 * 1024;
/** Bytes queued towards a slow browser before the guest's stream is paused (backpressure). */
const HIGH_WATER = 4 << 20;
/** How long the guest's console may take to accept the proxy's connection. */
const CONNECT_TIMEOUT_MS = 10_000;

export interface ConsoleProxyDeps {
  config: Config;
  db: Db;
  compute: ComputeRpcApi;
  log: Logger;
}

export interface ConsoleProxy {
  kind: ProxyKind;
  /** http://host:port of the proxy as it listens. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts one console proxy on `port` of `host`. */
export async function startConsoleProxy(kind: ProxyKind, host: string, port: number, deps: ConsoleProxyDeps): Promise<ConsoleProxy> {
  const log = deps.log.child({ service: `${kind}proxy` });
  const open = new Set<Duplex>();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const served = kind === 'novnc' ? servePage(path, res, req) : Promise.resolve(false);
    served.then((ok) => {
      if (ok) return;
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not found\n');
    }, (err: unknown) => {
      log.warn({ err: errorMessage(err) }, 'console page failed');
      res.writeHead(500).end();
    });
  });
  const wss = new WebSocketServer({
    noServer: true, maxPayload: MAX_MESSAGE, perMessageDeflate: false,
    // websockify's subprotocols: raw binary frames ('binary') are all this proxy speaks.
    handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false),
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (open.size >= MAX_CONNECTIONS) return refuse(socket, 503, 'Service Unavailable');
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    void admit(kind, req, deps).then((target) => {
      if (!target) return refuse(socket, 401, 'Unauthorized');
      wss.handleUpgrade(req, socket, head, (ws) => bridge(ws, target, log));
    }, (err: unknown) => {
      log.warn({ err: errorMessage(err) }, 'console connection refused');
      refuse(socket, 503, 'Service Unavailable');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenFailure(err, host, port, KINDS[kind].option)));
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    kind, port: actual, url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}`,
    stop: async () => {
      for (const s of open) s.destroy();
      for (const c of wss.clients) c.terminate();
      wss.close();
      // Browsers keep the page's connections alive: close them, or close() waits for them.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

interface Target { instanceUuid: string; host: string; port: number; id: string }

/**
 * The guest console a websocket upgrade may reach: its token valid, of this proxy's type, its
 * server still there, its Origin (when the browser sends one) of the host the proxy is asked
 * on (Nova's check against cross-site websockets), and the compute's answer where it listens.
 * Null for anything refused, with no hint which check refused it.
 */
async function admit(kind: ProxyKind, req: IncomingMessage, deps: ConsoleProxyDeps): Promise<Target | null> {
  const url = new URL(req.url ?? '/', 'http://x');
  const token = url.searchParams.get('token') ?? tokenFromCookie(req.headers.cookie);
  if (!token || !originAllowed(req)) return null;
  const row = await findConsoleToken(deps.db, token);
  if (!row || row.console_type !== KINDS[kind].type) return null;
  const instance = await getInstance(deps.db, row.instance_uuid);
  if (!instance || !instance.node) return null;
  let e;
  try {
    e = await deps.compute.getConsole(systemContext(), instance, KINDS[kind].console);
  } catch (err) {
    // The compute's refusals (the guest stopped, gone, or its driver has no such console) open nothing either.
    const status = statusOf(err);
    if (status !== undefined && status < 500) return null;
    throw err;
  }
  return { instanceUuid: instance.uuid, host: e.host, port: e.port, id: newUuid() };
}

/** websockify also takes the token from a `token` cookie (noVNC's older pages set one). */
function tokenFromCookie(cookie: string | undefined): string | null {
  for (const part of (cookie ?? '').split(';')) {
    const [k, v] = part.trim().split('=', 2);
    if (k === 'token' && v) return v;
  }
  return null;
}

/** An Origin, when sent, names the host the request was made to (ports may differ: the dashboard's). */
function originAllowed(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    const host = new URL(`http://${req.headers.host ?? ''}`).hostname;
    return new URL(origin).hostname === host;
  } catch {
    return false;
  }
}

/** Bridges the websocket and the guest's console until either side closes. */
function bridge(ws: WebSocket, target: Target, log: Logger): void {
  const fields = { instance_uuid: target.instanceUuid, connection: target.id };
  const tcp: Socket = connect({ host: target.host, port: target.port });
  tcp.setTimeout(CONNECT_TIMEOUT_MS, () => tcp.destroy(new Error('the console did not answer')));
  tcp.once('connect', () => {
    tcp.setTimeout(0);
    log.info(fields, 'console connection opened');
  });
  tcp.on('data', (data: Buffer) => {
    ws.send(data, { binary: true }, () => {
      if (tcp.isPaused() && ws.bufferedAmount < HIGH_WATER / 2) tcp.resume();
    });
    if (ws.bufferedAmount > HIGH_WATER) tcp.pause();
  });
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    // Text frames carry typed characters (serial clients); binary ones RFB's messages.
    tcp.write(isBinary ? bytes : Buffer.from(bytes.toString('utf8'), 'utf8'));
  });
  const close = (why: string): void => {
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1000, why.slice(0, 100));
    tcp.destroy();
  };
  tcp.on('error', (err) => {
    log.info({ ...fields, err: errorMessage(err) }, 'console connection failed');
    close('the console closed');
  });
  tcp.on('close', () => close('the console closed'));
  ws.on('close', () => {
    tcp.destroy();
    log.info(fields, 'console connection closed');
  });
  ws.on('error', () => tcp.destroy());
}

export interface ConsoleProxies {
  novnc: ConsoleProxy | null;
  serial: ConsoleProxy | null;
  stop(): Promise<void>;
}

/**
 * The proxies the configuration asks for, on bind_host: noVNC's on `[vnc] novncproxy_port` when
 * `[vnc] enabled`, the serial one on `[serial_console] serialproxy_port` when
 * `[serial_console] enabled`. A port that cannot be had fails the start (one started is stopped).
 */
export async function startConsoleProxies(deps: ConsoleProxyDeps): Promise<ConsoleProxies> {
  const c = deps.config;
  const host = c.str('DEFAULT', 'bind_host');
  const novnc = c.bool('vnc', 'enabled') ? await startConsoleProxy('novnc', host, c.num('vnc', 'novncproxy_port'), deps) : null;
  let serial: ConsoleProxy | null = null;
  try {
    if (c.bool('serial_console', 'enabled')) serial = await startConsoleProxy('serial', host, c.num('serial_console', 'serialproxy_port'), deps);
  } catch (err) {
    await novnc?.stop();
    throw err;
  }
  deps.log.info({ novncproxy: novnc?.url ?? null, serialproxy: serial?.url ?? null }, 'console proxies listening');
  return { novnc, serial, stop: async () => void (await Promise.all([novnc?.stop(), serial?.stop()])) };
}
