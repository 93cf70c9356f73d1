import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The process's Prometheus metrics: one Registry per process and every metric family Orrery
 * exports, defined once here so that a family's name, help and labels cannot drift between the
 * code that moves it and the docs (docs/metrics.md lists these). Every label has a bounded set
 * of values: route patterns (never raw URLs), RPC method names from the API definitions, driver
 * method names and error codes from the contract, vm states, service binaries and hosts.
 *
 * The all-in-one runs every service in one process, so its registry has every family; a
 * multi-process service moves the families of its own work, and the others stay at zero.
 */
export const registry = new Registry();

/** Latency buckets in seconds: API requests and RPC calls take 1 ms to seconds; a build or a long driver call minutes. */
const FAST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const SLOW_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

const r = [registry];

// ---- HTTP (every API; src/httpkit/metrics-hooks.ts) ----------------------------------------

export const httpRequests = new Counter({
  name: 'orrery_http_requests_total', help: 'HTTP requests answered, by API, method, route pattern and status code.',
  labelNames: ['api', 'method', 'route', 'status'] as const, registers: r,
});
export const httpRequestDuration = new Histogram({
  name: 'orrery_http_request_duration_seconds', help: 'Time from a request\'s arrival to its response, by API, method and route pattern.',
  labelNames: ['api', 'method', 'route'] as const, buckets: FAST_BUCKETS, registers: r,
});

// ---- RPC (src/rpc/dispatch.ts: the typed client sends, the dispatcher handles) --------------

export const rpcSent = new Counter({
  name: 'orrery_rpc_sent_total', help: 'RPC messages sent, by API, method and kind (call or cast).',
  labelNames: ['api', 'method', 'kind'] as const, registers: r,
});
export const rpcCallDuration = new Histogram({
  name: 'orrery_rpc_call_duration_seconds', help: 'Time an RPC call waited for its reply (or its failure), by API and method.',
  labelNames: ['api', 'method'] as const, buckets: FAST_BUCKETS, registers: r,
});
export const rpcCallTimeouts = new Counter({
  name: 'orrery_rpc_call_timeouts_total', help: 'RPC calls given up because no reply came within their timeout, by API and method.',
  labelNames: ['api', 'method'] as const, registers: r,
});
export const rpcHandled = new Counter({
  name: 'orrery_rpc_handled_total', help: 'RPC messages this process handled, by API, method and outcome (ok or error).',
  labelNames: ['api', 'method', 'outcome'] as const, registers: r,
});
export const rpcHandleDuration = new Histogram({
  name: 'orrery_rpc_handle_duration_seconds', help: 'Time a handler took on an RPC message, by API and method.',
  labelNames: ['api', 'method'] as const, buckets: FAST_BUCKETS, registers: r,
});

// ---- the bus (src/rpc/amqp-bus.ts) ------------------------------------------------------------

export const busReconnects = new Counter({
  name: 'orrery_bus_reconnects_total', help: 'Times the AMQP connection was lost and made again.', registers: r,
});

// ---- builds (compute: an attempt on a host; conductor: what happens to it next) ---------------

export const buildsStarted = new Counter({
  name: 'orrery_builds_started_total', help: 'Build attempts a compute service took up (one per host tried).', registers: r,
});
export const buildsSucceeded = new Counter({
  name: 'orrery_builds_succeeded_total', help: 'Builds whose guest spawned and whose instance became ACTIVE.', registers: r,
});
export const buildsFailed = new Counter({
  name: 'orrery_builds_failed_total', help: 'Build attempts whose spawn failed on their host (the conductor then reschedules or ends them in ERROR).', registers: r,
});
export const buildsRescheduled = new Counter({
  name: 'orrery_builds_rescheduled_total', help: 'Failed build attempts the conductor sent to another host.', registers: r,
});
export const buildsErrored = new Counter({
  name: 'orrery_builds_errored_total', help: 'Builds the conductor ended in ERROR, by reason (no_valid_host, or failed: the last attempt failed).',
  labelNames: ['reason'] as const, registers: r,
});
export const buildDuration = new Histogram({
  name: 'orrery_build_duration_seconds', help: 'Time of a build attempt on its host, from taking it up to ACTIVE or failure, by outcome.',
  labelNames: ['outcome'] as const, buckets: SLOW_BUCKETS, registers: r,
});

// ---- the scheduler ----------------------------------------------------------------------------

export const schedulerDecisions = new Counter({
  name: 'orrery_scheduler_decisions_total', help: 'Instances the scheduler placed (selected) or found no host for (no_valid_host).',
  labelNames: ['outcome'] as const, registers: r,
});
export const schedulerClaimConflicts = new Counter({
  name: 'orrery_scheduler_claim_conflicts_total', help: 'Claims refused because the node filled up since it was chosen (another scheduler won the race).', registers: r,
});
export const schedulerDuration = new Histogram({
  name: 'orrery_scheduler_select_duration_seconds', help: 'Time one select_destinations request took, for all its instances.',
  buckets: FAST_BUCKETS, registers: r,
});

// ---- the driver (packages/virt-api's guard reports each call) ----------------------------------

export const driverCalls = new Counter({
  name: 'orrery_driver_calls_total', help: 'Driver calls that reached the driver, by driver, method and outcome (ok, or the contract\'s error code).',
  labelNames: ['driver', 'method', 'outcome'] as const, registers: r,
});
export const driverCallDuration = new Histogram({
  name: 'orrery_driver_call_duration_seconds', help: 'Time of a driver call, by driver and method.',
  labelNames: ['driver', 'method'] as const, buckets: SLOW_BUCKETS, registers: r,
});

export const driverBackendUp = new Gauge({
  name: 'orrery_driver_backend_up', help: '1 when the compute\'s last probe of its back-end (contract 1.1 status, once per service report) found it reachable, else 0.',
  labelNames: ['host', 'driver'] as const, registers: r,
});

// ---- state read at scrape time from the database (processes that have one) --------------------

export const instancesByState = new Gauge({
  name: 'orrery_instances', help: 'Instances not deleted, by vm_state (read from the database at scrape).',
  labelNames: ['vm_state'] as const, registers: r,
});
export const serviceUp = new Gauge({
  name: 'orrery_service_up', help: '1 when a service reported within service_down_time (and is not forced down), else 0; by binary and host.',
  labelNames: ['binary', 'host'] as const, registers: r,
});
export const computeNodeUp = new Gauge({
  name: 'orrery_compute_node_up', help: '1 when a compute node takes boots (its host\'s compute service is up, the node is on its back-end), else 0.',
  labelNames: ['host', 'node'] as const, registers: r,
});
export const dbPool = new Gauge({
  name: 'orrery_db_pool_connections', help: 'The PostgreSQL pool of this process: connections open (total) and idle, and queries waiting for one (waiting).',
  labelNames: ['state'] as const, registers: r,
});

// ---- this process --------------------------------------------------------------------------

export const processServices = new Gauge({
  name: 'orrery_process_service', help: 'The services this process runs (1 each), by service and host.',
  labelNames: ['service', 'host'] as const, registers: r,
});

/**
 * What a scrape reads first: each source sets its gauges (instances by state from the database,
 * the pool's counts). Sources of a stopped service are removed by the function `onScrape` answers.
 */
type ScrapeSource = () => Promise<void>;
const sources = new Set<ScrapeSource>();

export function onScrape(source: ScrapeSource): () => void {
  sources.add(source);
  return () => {
    sources.delete(source);
  };
}

export const scrapeErrors = new Counter({
  name: 'orrery_scrape_source_errors_total', help: 'Scrapes in which a source (the database, say) could not be read; its gauges keep their last values.', registers: r,
});

let defaultsOn = false;

/** The Node.js process metrics (CPU, memory, event loop lag, GC), turned on once per process by the first listener. */
export function collectProcessMetrics(): void {
  if (defaultsOn) return;
  defaultsOn = true;
  collectDefaultMetrics({ register: registry, prefix: 'orrery_' });
}

/** The text Prometheus reads, after every source has been read. A failing source is counted, not fatal. */
export async function scrape(onError?: (err: unknown) => void): Promise<string> {
  const results = await Promise.allSettled([...sources].map((s) => s()));
  for (const res of results) {
    if (res.status === 'rejected') {
      scrapeErrors.inc();
      onError?.(res.reason);
    }
  }
  return registry.metrics();
}

export const METRICS_CONTENT_TYPE = registry.contentType;

/** Seconds since `startNs` (process.hrtime.bigint()), for the histograms. */
export function secondsSince(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}

/** One driver call, as the driver guard reports it (packages/virt-api's SettledCall). */
export function recordDriverCall(call: { driver: string; method: string; durationMs: number; error?: string }): void {
  driverCalls.inc({ driver: call.driver, method: call.method, outcome: call.error ?? 'ok' });
  driverCallDuration.observe({ driver: call.driver, method: call.method }, call.durationMs / 1000);
}
