import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { repoRoot } from '../harness/repo.js';
import { multiProcess, type Deployment, type StartOptions } from './deployments.js';
import { summarizeProfile, type ProfileSummary } from './profile-summary.js';
import type { ProgressSink } from './progress.js';
import { GOALS, NOVA } from './reference.js';
import { checkTargets, flatCost, gitInfo, machineInfo, type BenchResults } from './results.js';
import { renderMarkdown } from './report/markdown.js';
import { renderChart, type Panel, type Series } from './report/svg.js';
import { round } from './stats.js';
import { runBootStorm, type BootStormOptions, type BootStormResult } from './scenarios/boot-storm.js';
import { runScaleOut } from './scenarios/scale-out.js';
import { runFailover, type FailoverOptions } from './scenarios/failover.js';
import { runSchedulerScale } from './scenarios/scheduler-scale.js';

/** One benchmark run: the scenarios asked for, then the Markdown, the JSON and the chart. */

export interface BenchOptions {
  /** The cloud to measure: the all-in-one started per storm, or an existing one. */
  deployment: Deployment;
  /** The storm workload, for the boot-storm and scale-out scenarios. */
  storm: StormOptions;
  /** Run the boot storm on `deployment`. */
  bootStorm: boolean;
  scheduler: { nodes: number[]; requests: number; budgetSeconds: number } | null;
  /** Compute process counts of the scale-out scenario (none: not run). */
  scaleOut: number[];
  /** The failover scenario (issue #11), or null. */
  failover: FailoverOptions | null;
  /** Profile the cloud's processes (node --cpu-prof) into this directory. */
  profileDir: string | null;
  /** Extra environment for the clouds the benchmark starts (tests make hashing cheap). */
  cloudEnv: Record<string, string>;
  keepState: boolean;
  /** Where the run's JSON goes (one file per run). */
  outDir: string;
  chartPath: string;
  /** The command line, for the report. */
  command: string;
}

/**
 * `ns` × `concurrencies` storms. `repeat`: runs of each (N, clients), each on a fresh cloud; the
 * run with the median servers/s is reported.
 */
export type StormOptions = { ns: number[]; concurrencies: number[]; repeat: number } & Omit<BootStormOptions, 'n' | 'concurrency'>;

export interface BenchOutput {
  results: BenchResults;
  markdown: string;
  jsonPath: string;
  chartPath: string;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
const NOVA_COLOR = '#7f7f7f';
const GOAL_COLOR = '#555555';

/**
 * Capacity of each fake node: every server of the storm, and the probe's, fits on one (an
 * m1.tiny is 1 VCPU, 512 MB, 1 GB). The multi-create after the storm is no larger than N.
 */
function capacityFor(n: number): StartOptions['capacity'] {
  const servers = n + 1;
  return { vcpus: Math.max(8, servers), memoryMb: Math.max(16384, 512 * servers), diskGb: Math.max(200, servers) };
}

function newestProfile(dir: string): string | null {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort().map((f) => join(dir, f)).at(-1) ?? null;
  } catch {
    return null;
  }
}

export function chartOf(r: BenchResults): string {
  const panels: Panel[] = [];
  const concurrencies = [...new Set(r.bootStorm.map((s) => s.concurrency))];
  const byC = (c: number): BootStormResult[] => r.bootStorm.filter((s) => s.concurrency === c && s.active > 0);
  const ns = r.bootStorm.map((s) => s.n);
  const acrossN = (y: number): Array<[number, number]> => [[Math.min(...ns, 50), y], [Math.max(...ns), y]];
  if (r.bootStorm.length > 0) {
    panels.push({
      title: 'Boot storm throughput', xLabel: 'servers booted (N)', yLabel: 'servers/s',
      series: [
        ...concurrencies.map((c, i): Series => ({ name: `all-in-one, ${c} clients`, color: COLORS[i % COLORS.length]!, points: byC(c).map((s) => [s.n, s.serversPerSecond]) })),
        ...r.scaleOut.filter((s) => !s.skipped).map((s, i): Series => ({
          name: `multi-process, ${s.computeProcesses} compute${s.computeProcesses === 1 ? '' : 's'}`, color: COLORS[(concurrencies.length + i) % COLORS.length]!,
          points: s.storms.filter((b) => b.active > 0).map((b) => [b.n, b.serversPerSecond]),
        })),
        { name: 'Nova Zed, 10 clients', color: NOVA_COLOR, dashed: true, points: NOVA.serversPerSecond },
        { name: `goal: ${GOALS.serversPerSecond}/s`, color: GOAL_COLOR, dotted: true, points: acrossN(GOALS.serversPerSecond) },
      ],
    });
    panels.push({
      title: 'Latency (medians)', xLabel: 'servers (N)', yLabel: 'ms',
      series: [
        ...concurrencies.map((c, i): Series => ({ name: `POST /servers, ${c} clients`, color: COLORS[i % COLORS.length]!, points: byC(c).map((s) => [s.n, s.postMs.p50]) })),
        { name: 'GET /servers/detail', color: COLORS[2]!, points: byC(concurrencies[0]!).map((s) => [s.n, s.listDetailMs.p50]) },
        { name: 'Nova GET /servers/detail', color: NOVA_COLOR, dashed: true, points: NOVA.listDetailMedianMs },
        { name: `goal: POST < ${GOALS.postMedianMs} ms`, color: GOAL_COLOR, dotted: true, points: acrossN(GOALS.postMedianMs) },
      ],
    });
  }
  if (r.scheduler.length > 0) {
    panels.push({
      title: 'Scheduler decision latency', xLabel: 'nodes', yLabel: 'ms',
      series: [
        { name: 'p50', color: COLORS[0]!, points: r.scheduler.map((s) => [s.nodes, s.latencyMs.p50]) },
        { name: 'p99', color: COLORS[1]!, points: r.scheduler.map((s) => [s.nodes, s.latencyMs.p99]) },
      ],
    });
  }
  const caption = `Orrery ${r.git.revision?.slice(0, 12) ?? ''} on ${r.machine.cores} cores, ${r.date.slice(0, 10)}; log-log scales; dashed: Nova Zed (fake driver), same workload; dotted: goals.`;
  return renderChart(panels, caption);
}

export async function runBench(o: BenchOptions, progress: ProgressSink): Promise<BenchOutput> {
  const root = repoRoot();
  const date = new Date().toISOString();
  const results: BenchResults = {
    schema: 1, date, git: gitInfo(root), machine: machineInfo(), loadAverageAtEnd: 0, command: o.command, target: '',
    options: {
      storm: o.storm, bootStorm: o.bootStorm, scheduler: o.scheduler, scaleOut: o.scaleOut, failover: o.failover, profiled: o.profileDir !== null,
    },
    bootStorm: [], flatCost: [], scheduler: [], scaleOut: [], failover: null, targets: [], profiles: [],
  };
  if (results.machine.loadAverage > 0.5) {
    progress.note(`note: load average ${results.machine.loadAverage} at start; other work on this machine skews the numbers`);
  }
  const profileArgs = (name: string): string[] => (o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(o.profileDir, name)}`] : []);
  const addProfile = (name: string): void => {
    if (!o.profileDir) return;
    const file = newestProfile(join(o.profileDir, name));
    if (!file) return;
    const summary: ProfileSummary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')), 20);
    results.profiles.push({ scenario: name, file, summary });
  };

  const storm = o.storm;
  if (o.bootStorm) {
    const unavailable = await o.deployment.unavailable();
    if (unavailable) throw new Error(`cannot start the ${o.deployment.name} deployment: ${unavailable}`);
    for (const n of storm.ns) {
      for (const concurrency of storm.concurrencies) {
        const runs: BootStormResult[] = [];
        for (let rep = 1; rep <= storm.repeat; rep++) {
          const name = `boot-storm-N${n}-C${concurrency}${storm.repeat > 1 ? `-run${rep}` : ''}`;
          const cloud = await o.deployment.start({ capacity: capacityFor(n), nodeArgs: profileArgs(name), env: o.cloudEnv, keepState: o.keepState });
          results.target = cloud.description;
          try {
            runs.push(await runBootStorm(cloud, { ...storm, n, concurrency }, progress));
          } finally {
            await cloud.stop();
          }
          addProfile(name);
        }
        const median = [...runs].sort((a, b) => a.serversPerSecond - b.serversPerSecond)[Math.floor((runs.length - 1) / 2)]!;
        results.bootStorm.push(runs.length > 1 ? { ...median, repeatRates: runs.map((r) => r.serversPerSecond) } : median);
      }
    }
    results.flatCost = flatCost(results.bootStorm);
  }
  if (o.scheduler) {
    results.scheduler = await runSchedulerScale({ ...o.scheduler, nodeArgs: (nodes) => profileArgs(`scheduler-${nodes}`) }, progress);
    for (const s of results.scheduler) addProfile(`scheduler-${s.nodes}`);
  }
  if (o.scaleOut.length > 0) {
    // Without the multi-create: the multi-process conductor builds one POST's servers one after
    // another, over the broker and PostgreSQL (200 took 11 s here), and the API it would probe is
    // a process of its own.
    const storms = storm.ns.map((n) => ({ ...storm, n, concurrency: storm.concurrencies[0]!, multiCreate: 0 }));
    const maxN = Math.max(...storm.ns);
    results.scaleOut = await runScaleOut(multiProcess, o.scaleOut, storms,
      (computes) => ({ capacity: capacityFor(maxN), nodeArgs: [], env: o.cloudEnv, keepState: o.keepState, computeProcesses: computes }), progress);
  }
  if (o.failover) results.failover = await runFailover(o.failover, progress);
  if (!results.target) results.target = o.deployment.name === 'all-in-one' ? 'all-in-one (not started: no boot storm)' : o.deployment.name;
  results.targets = checkTargets(results);
  results.loadAverageAtEnd = round(loadavg()[0]!, 2);

  const markdown = renderMarkdown(results);
  mkdirSync(o.outDir, { recursive: true });
  const jsonPath = join(o.outDir, `${date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  mkdirSync(dirname(o.chartPath), { recursive: true });
  writeFileSync(o.chartPath, chartOf(results));
  progress.note(`wrote ${relative(process.cwd(), jsonPath) || jsonPath} and ${relative(process.cwd(), o.chartPath) || o.chartPath}`);
  return { results, markdown, jsonPath, chartPath: o.chartPath };
}

