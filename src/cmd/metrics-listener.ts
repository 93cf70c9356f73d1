import { listenFailure } from '../common/listen-failure.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, type Config } from '../common/config.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import {
  collectProcessMetrics, computeNodeUp, dbPool, instancesByState, METRICS_CONTENT_TYPE, onScrape, processServices, scrape, serviceUp,
} from '../common/metrics.js';
import { poolCounts, type Db } from '../db/connection.js';
import { instanceCountsByState, nodeLiveness, serviceLiveness } from '../db/metric-facts.js';
import { VmState } from '../objects/states.js';

/**
 * The Prometheus listener every Orrery process starts on `[metrics] port`: GET /metrics answers
 * the process's registry (src/common/metrics.ts) in Prometheus' text format. A process with a
 * database also reads, at each scrape, the instances by state, the services' and nodes'
 * liveness and its pool's counts.
 */
export interface MetricsListener {
  /** `http://host:port/metrics`; null when `[metrics] port` is empty (no listener). */
  url: string | null;
  stop(): Promise<void>;
}

export interface MetricsOptions {
  /** The services this process runs, as `orrery_process_service` shows them. */
  services: Array<{ service: string; host: string }>;
  /** The database, in the processes that have one. */
  db?: Db;
}

export async function startMetricsListener(config: Config, log: Logger, opts: MetricsOptions): Promise<MetricsListener> {
  const portText = (config.opt('metrics', 'port') ?? '').trim();
  if (portText === '') return { url: null, stop: async () => undefined };
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`config: [metrics] port must be a TCP port, 0 or empty (got ${JSON.stringify(portText)})`);
  const host = config.opt('metrics', 'bind_host') || config.str('DEFAULT', 'bind_host');
  collectProcessMetrics();
  for (const s of opts.services) processServices.set(s, 1);
  const offs = opts.db ? [onScrape(databaseSource(opts.db, config))] : [];
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: the metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('Method not allowed\n');
      return;
    }
    scrape((err) => log.warn({ err: errorMessage(err) }, 'metrics: a source could not be read'))
      .then((text) => res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(req.method === 'HEAD' ? undefined : text))
      .catch((err: unknown) => {
        log.error({ err: errorMessage(err) }, 'metrics: scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('scrape failed\n');
      });
  });
  const undo = (): void => {
    for (const off of offs) off();
    for (const s of opts.services) processServices.remove(s);
  };
  try {
    await listenOn(server, host, port);
  } catch (err) {
    undo();
    throw err;
  }
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${(server.address() as AddressInfo).port}/metrics`;
  log.info({ url }, 'metrics listening');
  return {
    url,
    stop: async () => {
      undo();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function listenOn(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(listenFailure(err, host, port, '[metrics] port')));
    server.listen(port, host, () => resolve());
  });
}

const VM_STATES = Object.values(VmState).filter((s) => s !== VmState.DELETED);

/** The database's facts, read at scrape: every known vm state is shown, at 0 when no instance is in it. */
function databaseSource(db: Db, config: Config): () => Promise<void> {
  return async () => {
    const [counts, services, nodes] = await Promise.all([instanceCountsByState(db), serviceLiveness(db, config), nodeLiveness(db, config)]);
    instancesByState.reset();
    for (const state of new Set([...VM_STATES, ...counts.keys()])) instancesByState.set({ vm_state: state }, counts.get(state) ?? 0);
    serviceUp.reset();
    for (const s of services) serviceUp.set({ binary: s.binary, host: s.host }, s.up ? 1 : 0);
    computeNodeUp.reset();
    for (const n of nodes) computeNodeUp.set({ host: n.host, node: n.node }, n.up ? 1 : 0);
    const pool = poolCounts(db);
    if (pool) for (const [state, n] of Object.entries(pool)) dbPool.set({ state }, n);
  };
}

/** What an entry point's "is running" line says of its listener: `; metrics <url>`, or nothing when it is off. */
export function metricsNote(m: MetricsListener): string {
  return m.url ? `; metrics ${m.url}` : '';
}
