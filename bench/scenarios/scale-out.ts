import type { Deployment, StartOptions } from '../deployments.js';
import type { ProgressSink } from '../progress.js';
import { runBootStorm, type BootStormOptions, type BootStormResult } from './boot-storm.js';

/**
 * Scale-out: the boot storm against the multi-process deployment (PostgreSQL, RabbitMQ) with
 * 1 and with 3 compute processes, each storm on a fresh deployment. Reported as skipped, with
 * the reason, when that deployment cannot start here (no PostgreSQL or RabbitMQ).
 */

export interface ScaleOutResult {
  computeProcesses: number;
  skipped: string | null;
  storms: BootStormResult[];
}

export async function runScaleOut(
  deployment: Deployment, computeProcesses: number[], storms: Array<Omit<BootStormOptions, 'concurrency'> & { concurrency: number }>,
  start: (computes: number) => StartOptions, progress: ProgressSink,
): Promise<ScaleOutResult[]> {
  const results: ScaleOutResult[] = [];
  for (const computes of computeProcesses) {
    const reason = await deployment.unavailable();
    if (reason) {
      progress.note(`scale-out, ${computes} compute process${computes === 1 ? '' : 'es'}: skipped: ${reason}`);
      results.push({ computeProcesses: computes, skipped: reason, storms: [] });
      continue;
    }
    const out: BootStormResult[] = [];
    for (const storm of storms) {
      const cloud = await deployment.start(start(computes));
      try {
        out.push(await runBootStorm(cloud, storm, progress));
      } finally {
        await cloud.stop();
      }
    }
    results.push({ computeProcesses: computes, skipped: null, storms: out });
  }
  return results;
}
