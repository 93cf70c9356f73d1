import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { GOALS } from './reference.js';
import type { BootStormResult } from './scenarios/boot-storm.js';
import type { SchedulerScaleResult } from './scenarios/scheduler-scale.js';
import type { ScaleOutResult } from './scenarios/scale-out.js';
import type { FailoverResult } from './scenarios/failover.js';
import type { ProfileSummary } from './profile-summary.js';
import { round } from './stats.js';

/** One benchmark run, as written to bench/results/<stamp>.json. */
export interface BenchResults {
  schema: 1;
  date: string;
  git: { revision: string | null; dirty: boolean | null };
  machine: MachineInfo;
  /** 1-minute load average when the run ended (the benchmark itself adds about 1.5). */
  loadAverageAtEnd: number;
  command: string;
  target: string;
  options: Record<string, unknown>;
  bootStorm: BootStormResult[];
  flatCost: FlatCost[];
  scheduler: SchedulerScaleResult[];
  scaleOut: ScaleOutResult[];
  /** Absent in runs before the failover scenario existed. */
  failover?: FailoverResult | null;
  targets: TargetCheck[];
  /** CPU profiles of the cloud, by scenario (with --profile). */
  profiles: Array<{ scenario: string; file: string; summary: ProfileSummary }>;
}

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  platform: string;
  kernel: string;
  /** 1-minute load average when the run started: other work on the machine skews the numbers. */
  loadAverage: number;
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cores: c.length,
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    memoryGiB: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    platform: process.platform,
    kernel: release(),
    loadAverage: round(loadavg()[0]!, 2),
  };
}

/** The revision of the checkout, and whether it has uncommitted changes (read only). */
export function gitInfo(cwd: string): { revision: string | null; dirty: boolean | null } {
  const git = (...args: string[]): string | null => {
    try {
      return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  const revision = git('rev-parse', 'HEAD');
  const status = revision === null ? null : git('status', '--porcelain', '--untracked-files=no');
  return { revision, dirty: status === null ? null : status !== '' };
}

export interface FlatCost {
  concurrency: number;
  smallN: number;
  largeN: number;
  smallRate: number;
  largeRate: number;
  /** The cloud's CPU per server at each N (ms): what one boot costs, unlike servers/s undisturbed by other work on the machine. */
  smallCpuMsPerServer: number | null;
  largeCpuMsPerServer: number | null;
  /** largeRate / smallRate − 1 (negative: slower with more servers). */
  change: number;
}

/** The cloud's CPU time per server of a storm (boot, list and delete), in ms. */
export function cpuMsPerServer(s: BootStormResult): number | null {
  return s.cloud ? round((1000 * s.cloud.cpuSeconds) / s.n, 1) : null;
}

/** servers/s at the largest N against the smallest, per concurrency. */
export function flatCost(storms: BootStormResult[]): FlatCost[] {
  const out: FlatCost[] = [];
  for (const c of [...new Set(storms.map((s) => s.concurrency))]) {
    const runs = storms.filter((s) => s.concurrency === c && s.failed === 0).sort((a, b) => a.n - b.n);
    if (runs.length < 2) continue;
    const large = runs.at(-1)!;
    const small = runs.find((r) => r.n === GOALS.flatSmallN && r !== large) ?? runs[0]!;
    if (large.n === small.n) continue;
    out.push({
      concurrency: c, smallN: small.n, largeN: large.n, smallRate: small.serversPerSecond, largeRate: large.serversPerSecond,
      smallCpuMsPerServer: cpuMsPerServer(small), largeCpuMsPerServer: cpuMsPerServer(large),
      change: round(large.serversPerSecond / small.serversPerSecond - 1, 3),
    });
  }
  return out;
}

export interface TargetCheck {
  target: string;
  goal: string;
  measured: string;
  /** null: not measured in this run. */
  met: boolean | null;
  /** How far off, when missed (e.g. "4.1× too slow"). */
  gap?: string;
}

const ratio = (v: number): string => `${v >= 10 ? Math.round(v) : v.toFixed(1)}×`;

/** The issue's targets, checked against what this run measured. */
export function checkTargets(r: Pick<BenchResults, 'bootStorm' | 'flatCost' | 'scheduler'>): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const storm = r.bootStorm.find((s) => s.n === GOALS.bootN && s.concurrency === GOALS.bootConcurrency);
  const none = (target: string, goal: string): TargetCheck => ({ target, goal, measured: 'not measured', met: null });
  const at = `N = ${GOALS.bootN}, ${GOALS.bootConcurrency} clients`;
  if (storm) {
    const ok = storm.failed === 0;
    checks.push({
      target: `boot storm throughput (${at})`, goal: `≥ ${GOALS.serversPerSecond} servers/s`,
      measured: `${storm.serversPerSecond} servers/s${ok ? '' : ` (${storm.failed} failed)`}`,
      met: ok && storm.serversPerSecond >= GOALS.serversPerSecond,
      ...(storm.serversPerSecond < GOALS.serversPerSecond ? { gap: `${ratio(GOALS.serversPerSecond / storm.serversPerSecond)} too slow` } : {}),
    });
    checks.push({
      target: `POST /servers median (${at})`, goal: `< ${GOALS.postMedianMs} ms`, measured: `${storm.postMs.p50} ms`,
      met: storm.postMs.p50 < GOALS.postMedianMs,
      ...(storm.postMs.p50 >= GOALS.postMedianMs ? { gap: `${ratio(storm.postMs.p50 / GOALS.postMedianMs)} the goal` } : {}),
    });
    checks.push({
      target: `GET /servers/detail median (${storm.listedServers} servers)`, goal: `< ${GOALS.listDetailMedianMs} ms`,
      measured: `${storm.listDetailMs.p50} ms`, met: storm.listDetailMs.p50 < GOALS.listDetailMedianMs,
      ...(storm.listDetailMs.p50 >= GOALS.listDetailMedianMs ? { gap: `${ratio(storm.listDetailMs.p50 / GOALS.listDetailMedianMs)} the goal` } : {}),
    });
    if (storm.cloud) {
      checks.push({
        target: `all-in-one peak RSS (${at})`, goal: `< ${GOALS.rssMb} MB`, measured: `${storm.cloud.peakRssMb} MB`,
        met: storm.cloud.peakRssMb < GOALS.rssMb,
        ...(storm.cloud.peakRssMb >= GOALS.rssMb ? { gap: `${round(storm.cloud.peakRssMb - GOALS.rssMb, 1)} MB over` } : {}),
      });
    } else {
      checks.push(none('all-in-one peak RSS', `< ${GOALS.rssMb} MB`));
    }
  } else {
    checks.push(none(`boot storm throughput (${at})`, `≥ ${GOALS.serversPerSecond} servers/s`));
  }
  const probed = r.bootStorm.filter((s) => s.n >= GOALS.probeMinN && s.concurrency === GOALS.bootConcurrency && s.probeGetMs.count > 0);
  const probeTarget = (n: string): string => `GET /servers/{id} p99 during the boot storm (N ${n}, ${GOALS.bootConcurrency} clients)`;
  if (probed.length === 0) checks.push(none(probeTarget(`≥ ${GOALS.probeMinN}`), `< ${GOALS.probeP99Ms} ms`));
  for (const s of probed) {
    checks.push({
      target: probeTarget(`= ${s.n}`), goal: `< ${GOALS.probeP99Ms} ms`, measured: `${s.probeGetMs.p99} ms (max ${s.probeGetMs.max} ms, ${s.probeGetMs.count} requests)`,
      met: s.probeGetMs.p99 < GOALS.probeP99Ms,
      ...(s.probeGetMs.p99 >= GOALS.probeP99Ms ? { gap: `${ratio(s.probeGetMs.p99 / GOALS.probeP99Ms)} the goal` } : {}),
    });
  }
  const multis = r.bootStorm.filter((s) => (s.multiCreate?.count ?? 0) >= GOALS.probeMinN && s.concurrency === GOALS.bootConcurrency && s.multiCreate!.probeGetMs.count > 0);
  const multiTarget = (what: string): string => `GET /servers/{id} p99 during one POST of ${what} servers`;
  if (multis.length === 0) checks.push(none(multiTarget(`≥ ${GOALS.probeMinN}`), `< ${GOALS.probeP99Ms} ms`));
  for (const s of multis) {
    const m = s.multiCreate!;
    checks.push({
      target: `${multiTarget(String(m.count))} (after the storm of N = ${s.n})`, goal: `< ${GOALS.probeP99Ms} ms`,
      measured: `${m.probeGetMs.p99} ms (max ${m.probeGetMs.max} ms, ${m.probeGetMs.count} requests)`,
      met: m.probeGetMs.p99 < GOALS.probeP99Ms,
      ...(m.probeGetMs.p99 >= GOALS.probeP99Ms ? { gap: `${ratio(m.probeGetMs.p99 / GOALS.probeP99Ms)} the goal` } : {}),
    });
  }
  const flats = r.flatCost.filter((f) => f.smallN === GOALS.flatSmallN && f.largeN === GOALS.flatLargeN);
  if (flats.length === 0) checks.push(none(`flat cost: servers/s at N = ${GOALS.flatLargeN} vs N = ${GOALS.flatSmallN}`, `within ${GOALS.flatTolerance * 100} %`));
  for (const f of flats) {
    checks.push({
      target: `flat cost, ${f.concurrency} clients: servers/s at N = ${f.largeN} vs N = ${f.smallN}`,
      goal: `within ${GOALS.flatTolerance * 100} %`,
      measured: `${f.largeRate} vs ${f.smallRate} (${f.change >= 0 ? '+' : ''}${round(f.change * 100, 1)} %)`,
      met: f.change >= -GOALS.flatTolerance,
      ...(f.change < -GOALS.flatTolerance ? { gap: `${round(-f.change * 100, 1)} % slower` } : {}),
    });
  }
  const sched = r.scheduler.find((s) => s.nodes === GOALS.schedulerNodes);
  if (sched) {
    const seconds = sched.decisions >= GOALS.schedulerDecisions ? sched.seconds : round(GOALS.schedulerDecisions / sched.decisionsPerSecond, 1);
    const projected = sched.decisions < GOALS.schedulerDecisions ? ` (projected from ${sched.decisions})` : '';
    checks.push({
      target: `scheduler: ${GOALS.schedulerDecisions} decisions at ${GOALS.schedulerNodes} nodes`, goal: `< ${GOALS.schedulerSeconds} s`,
      measured: `${seconds} s${projected}`, met: seconds < GOALS.schedulerSeconds,
      ...(seconds >= GOALS.schedulerSeconds ? { gap: `${ratio(seconds / GOALS.schedulerSeconds)} too slow` } : {}),
    });
  } else {
    checks.push(none(`scheduler: ${GOALS.schedulerDecisions} decisions at ${GOALS.schedulerNodes} nodes`, `< ${GOALS.schedulerSeconds} s`));
  }
  const byNodes = [...r.scheduler].sort((a, b) => a.nodes - b.nodes);
  if (byNodes.length >= 2) {
    const a = byNodes[0]!;
    const b = byNodes.at(-1)!;
    // p99 ∝ nodes^k: k < 1 is less than linear.
    const k = Math.log(b.latencyMs.p99 / a.latencyMs.p99) / Math.log(b.nodes / a.nodes);
    checks.push({
      target: `scheduler p99 growth, ${a.nodes} → ${b.nodes} nodes`, goal: 'less than linear (exponent < 1)',
      measured: `${a.latencyMs.p99} → ${b.latencyMs.p99} ms (exponent ${round(k, 2)})`, met: k < 1,
    });
  } else {
    checks.push(none('scheduler p99 growth with nodes', 'less than linear'));
  }
  return checks;
}
