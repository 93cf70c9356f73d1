import { performance } from 'node:perf_hooks';
import { sleep } from '../../src/common/time.js';
import type { OpenStackSession } from '../openstack.js';
import { round } from '../stats.js';

/**
 * A reader during a storm: what a user watching their own server sees while someone else boots
 * N, or creates hundreds in one POST (issue #10: a read must not wait behind another's work).
 */

export interface Probe {
  /** Latency of each GET, in the order sent. */
  ms: number[];
  /** When each GET was sent (ms from the start of the probe). */
  sentAt: number[];
  failures: string[];
}

/**
 * One client reading `GET /servers/{id}` every `intervalMs` (start to start; the next request
 * goes as soon as a slow one answers), sequentially, until `stop()`: at least one request.
 */
export function probeServer(session: OpenStackSession, id: string, intervalMs: number): { stop(): Promise<Probe> } {
  const probe: Probe = { ms: [], sentAt: [], failures: [] };
  let stopped = false;
  const t0 = performance.now();
  const running = (async () => {
    do {
      const started = performance.now();
      const res = await session.compute('GET', `/servers/${id}`);
      probe.sentAt.push(started - t0);
      probe.ms.push(res.ms);
      if (res.status !== 200 && probe.failures.length < 5) probe.failures.push(`probe GET /servers/{id} ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`);
      await sleep(Math.max(0, intervalMs - (performance.now() - started)));
    } while (!stopped);
  })();
  return {
    async stop() {
      stopped = true;
      await running;
      return probe;
    },
  };
}

/** The slowest probe's send time, in seconds from the start of the probe. */
export function slowestAt(probe: Probe): number | null {
  if (probe.ms.length === 0) return null;
  return round(probe.sentAt[probe.ms.indexOf(Math.max(...probe.ms))]! / 1000, 2);
}

/** A probe that sent nothing (none was asked for). */
export function emptyProbe(): Probe {
  return { ms: [], sentAt: [], failures: [] };
}
