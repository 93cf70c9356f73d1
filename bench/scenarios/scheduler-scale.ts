import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProgressSink } from '../progress.js';
import { round, summarize, type LatencySummary } from '../stats.js';
import type { SchedulerJob, SchedulerWorkerResult } from './scheduler-worker.js';

/**
 * Scheduler scale: the scheduler alone, through its RPC API, placing requests over 1,000 to
 * 100,000 fake nodes that are 70–95 % full, with real claims in the database. Each node count
 * runs in a fresh child process with a fresh database.
 */

export interface SchedulerScaleOptions {
  nodes: number[];
  requests: number;
  /** Seconds per node count after which the scenario stops asking and reports what it has. */
  budgetSeconds: number;
  /** Extra node flags for the worker of a node count (e.g. --cpu-prof). */
  nodeArgs: (nodes: number) => string[];
}

export interface SchedulerScaleResult {
  nodes: number;
  requested: number;
  decisions: number;
  placed: number;
  noValidHost: number;
  /** True when the time budget ran out before every request was answered. */
  stoppedByBudget: boolean;
  seconds: number;
  decisionsPerSecond: number;
  latencyMs: LatencySummary;
  /** Time to answer all requested decisions at the measured rate (the target is about 10,000). */
  projectedSecondsForAll: number;
  buildSeconds: number;
  dbMb: number;
  rssAfterBuildMb: number;
  peakRssMb: number;
  cpuSeconds: number;
}

/** The worker module next to this one, as source under tsx or as built JavaScript. */
function workerPath(): string {
  const here = fileURLToPath(import.meta.url);
  return join(here, '..', here.endsWith('.ts') ? 'scheduler-worker.ts' : 'scheduler-worker.js');
}

function runWorker(job: SchedulerJob, nodeArgs: string[], onProgress: (n: number) => void): Promise<SchedulerWorkerResult> {
  return new Promise((resolve, reject) => {
    const child = fork(workerPath(), [JSON.stringify(job)], {
      // The loader flags this process runs with (tsx under the tests), not the test runner's.
      execArgv: [...process.execArgv.filter((a) => !a.startsWith('--test')), ...nodeArgs],
      env: { ...process.env, ORRERY_BENCH_WORKER: 'scheduler', ORRERY_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: SchedulerWorkerResult | undefined;
    let error: string | undefined;
    child.on('message', (m: { progress?: number; result?: SchedulerWorkerResult; error?: string }) => {
      if (m.progress !== undefined) onProgress(m.progress);
      if (m.result) result = m.result;
      if (m.error) error = m.error;
    });
    // Settled on exit, not on the message: a profiled worker writes its profile as it exits.
    child.on('exit', (code) => {
      if (result) resolve(result);
      else reject(new Error(`scheduler worker ${error ? `failed: ${error}` : `exited with ${code}`}`));
    });
  });
}

export async function runSchedulerScale(o: SchedulerScaleOptions, progress: ProgressSink): Promise<SchedulerScaleResult[]> {
  const results: SchedulerScaleResult[] = [];
  for (const nodes of o.nodes) {
    const dir = mkdtempSync(join(tmpdir(), 'orrery-bench-sched-'));
    const bar = progress.start(`scheduler ${nodes} nodes`, o.requests);
    try {
      bar.update(0, 'building the database');
      const r = await runWorker({ nodes, requests: o.requests, seed: 42, budgetSeconds: o.budgetSeconds, dir }, o.nodeArgs(nodes), (n) => bar.update(n));
      const rate = r.decisions / r.seconds;
      const latency = summarize(r.latencies);
      bar.finish(`${Math.round(rate)} decisions/s, p50 ${latency.p50} ms, p99 ${latency.p99} ms`);
      results.push({
        nodes, requested: r.requested, decisions: r.decisions, placed: r.placed, noValidHost: r.noValidHost,
        stoppedByBudget: r.decisions < r.requested, seconds: round(r.seconds, 2), decisionsPerSecond: round(rate, 1),
        latencyMs: latency, projectedSecondsForAll: round(r.requested / rate, 1), buildSeconds: round(r.buildSeconds, 1),
        dbMb: round(r.dbBytes / 1024 / 1024, 1), rssAfterBuildMb: r.rssAfterBuildMb, peakRssMb: r.peakRssMb, cpuSeconds: r.cpuSeconds,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return results;
}
