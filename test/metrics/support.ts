import assert from 'node:assert/strict';

/**
 * One scrape of a Prometheus text endpoint: every sample by its series (`name{a="1",b="2"}`
 * with labels sorted), and the families the `# TYPE` lines declare.
 */
export interface Scrape {
  samples: Map<string, number>;
  families: Set<string>;
  text: string;
}

export async function scrapeUrl(url: string): Promise<Scrape> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Scrape {
  const samples = new Map<string, number>();
  const families = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) \S+$/.exec(line);
    if (type) families.add(type[1]!);
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels = [...(m[2] ?? '').matchAll(LABEL)].map((l) => [l[1]!, l[2]!] as const);
    samples.set(seriesKey(m[1]!, Object.fromEntries(labels)), Number(m[3]));
  }
  return { samples, families, text };
}

/** The key of a series: its name and labels, sorted, as `parseExposition` stores them. */
export function seriesKey(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}="${v}"`);
  return parts.length === 0 ? name : `${name}{${parts.join(',')}}`;
}

/** A series' value; 0 when the scrape has no such series (a labelled counter not yet moved). */
export function valueOf(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  return s.samples.get(seriesKey(name, labels)) ?? 0;
}

/** The sum of every series of `name` whose labels include `match`. */
export function sumOf(s: Scrape, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const [key, v] of s.samples) {
    if (!(key === name || key.startsWith(`${name}{`))) continue;
    if (Object.entries(match).every(([k, val]) => key.includes(`${k}="${val}"`))) total += v;
  }
  return total;
}

/** How much each of `series` moved between two scrapes. */
export function moved(before: Scrape, after: Scrape, series: Array<[string, Record<string, string>?]>): Record<string, number> {
  return Object.fromEntries(series.map(([name, labels]) => [seriesKey(name, labels), sumOf(after, name, labels) - sumOf(before, name, labels)]));
}

/** Every family Orrery defines (src/common/metrics.ts): what every process's /metrics must show. */
export const FAMILIES = [
  'orrery_http_requests_total', 'orrery_http_request_duration_seconds',
  'orrery_rpc_sent_total', 'orrery_rpc_call_duration_seconds', 'orrery_rpc_call_timeouts_total', 'orrery_rpc_handled_total', 'orrery_rpc_handle_duration_seconds',
  'orrery_bus_reconnects_total',
  'orrery_builds_started_total', 'orrery_builds_succeeded_total', 'orrery_builds_failed_total', 'orrery_builds_rescheduled_total', 'orrery_builds_errored_total',
  'orrery_build_duration_seconds',
  'orrery_scheduler_decisions_total', 'orrery_scheduler_claim_conflicts_total', 'orrery_scheduler_select_duration_seconds',
  'orrery_driver_calls_total', 'orrery_driver_call_duration_seconds', 'orrery_driver_backend_up',
  'orrery_instances', 'orrery_service_up', 'orrery_compute_node_up', 'orrery_db_pool_connections',
  'orrery_process_service', 'orrery_scrape_source_errors_total',
];
