import { profileMarkdown } from '../profile-summary.js';
import { NOVA } from '../reference.js';
import { cpuMsPerServer, type BenchResults } from '../results.js';
import type { BootStormResult } from '../scenarios/boot-storm.js';

/** The run as Markdown: what stdout prints and what docs/performance.md quotes. */

const n = (v: number | null | undefined, unit = ''): string => (v === null || v === undefined ? '–' : `${v}${unit}`);

function table(head: string[], rows: string[][], align: string[] = head.map((_, i) => (i === 0 ? '---' : '---:'))): string {
  return [`| ${head.join(' | ')} |`, `|${align.join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function bootStormTable(r: BenchResults): string {
  return stormTable(r.bootStorm);
}

function stormTable(storms: BootStormResult[], first?: { head: string; cell: (s: BootStormResult) => string }): string {
  return table(
    [...(first ? [first.head] : []), 'N', 'clients', 'servers/s', 'boot (s)', 'POST p50 / p95 (ms)', 'GET /servers/detail p50 / p95 (ms)', 'GET /servers/{id} during boot p50 / p99 / max (ms)', 'delete (s)', 'cloud peak RSS (MB)', 'cloud CPU (s)', 'cloud CPU per server (ms)', 'client CPU (s)'],
    storms.map((s) => [
      ...(first ? [first.cell(s)] : []), String(s.n), String(s.concurrency),
      `${s.serversPerSecond}${s.failed ? ` (${s.failed} failed)` : ''}${s.repeatRates ? ` (runs: ${s.repeatRates.join(', ')})` : ''}`, String(s.bootSeconds),
      `${s.postMs.p50} / ${s.postMs.p95}`,
      `${s.listDetailMs.p50} / ${s.listDetailMs.p95} (${Math.min(s.listedServers, 1000)} servers${s.listPages > 1 ? `; all ${s.listedServers} in ${s.listPages} pages: ${s.listAllMs.p50}` : ''})`,
      s.probeGetMs.count ? `${s.probeGetMs.p50} / ${s.probeGetMs.p99} / ${s.probeGetMs.max}` : '–',
      String(s.deleteSeconds), n(s.cloud?.peakRssMb), n(s.cloud?.cpuSeconds),
      n(cpuMsPerServer(s)), String(s.clientCpuSeconds),
    ]),
  );
}

/** The multi-create after each storm: one POST of many servers, and the probe meanwhile. */
export function multiCreateTable(storms: BootStormResult[]): string {
  return table(
    ['after the storm of N', 'clients', 'servers in one POST', 'ACTIVE', 'POST (ms)', 'all ACTIVE in (s)', 'GET /servers/{id} meanwhile p50 / p99 / max (ms)'],
    storms.filter((s) => s.multiCreate).map((s) => {
      const m = s.multiCreate!;
      return [String(s.n), String(s.concurrency), String(m.count), String(m.active), String(m.postMs), String(m.seconds),
        m.probeGetMs.count ? `${m.probeGetMs.p50} / ${m.probeGetMs.p99} / ${m.probeGetMs.max}` : '–'];
    }),
  );
}

export function schedulerTable(r: BenchResults): string {
  return table(
    ['nodes', 'answered', 'placed / no host', 'decisions/s', 'p50 (ms)', 'p99 (ms)', 'time for all', 'peak RSS (MB)', 'database (MB)'],
    r.scheduler.map((s) => [
      String(s.nodes), `${s.decisions} of ${s.requested}${s.stoppedByBudget ? ' (time budget)' : ''}`, `${s.placed} / ${s.noValidHost}`,
      String(s.decisionsPerSecond), String(s.latencyMs.p50), String(s.latencyMs.p99),
      `${s.stoppedByBudget ? '≈ ' : ''}${s.projectedSecondsForAll} s`, String(s.peakRssMb), String(s.dbMb),
    ]),
  );
}

export function targetsTable(r: BenchResults): string {
  return table(
    ['target', 'goal', 'measured', 'met'],
    r.targets.map((t) => [t.target, t.goal, t.measured, t.met === null ? 'not measured' : t.met ? 'yes' : `**no**${t.gap ? ` (${t.gap})` : ''}`]),
    ['---', '---', '---', '---'],
  );
}

export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`## Orrery benchmark, ${r.date}`);
  out.push('');
  out.push(`Revision ${r.git.revision?.slice(0, 12) ?? 'unknown'}${r.git.dirty ? ' (with uncommitted changes)' : ''}; ` +
    `${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform} ${m.kernel}; ` +
    `load average ${m.loadAverage} at start, ${r.loadAverageAtEnd} at the end.`);
  out.push(`Target: ${r.target}. Command: \`${r.command}\``);
  if (r.bootStorm.length > 0) {
    out.push('', '### Boot storm', '');
    out.push(bootStormTable(r));
    out.push('', `Nova (Zed, fake driver, 2 hosts) on a similar machine: ${NOVA.serversPerSecond.map(([k, v]) => `${v} servers/s at N = ${k}`).join(', ')}; ` +
      `POST median ${NOVA.postMedianMs} ms; GET /servers/detail median ${NOVA.listDetailMedianMs.map(([k, v]) => `${v} ms with ${k}`).join(', ')}; ${NOVA.memoryGiB} GiB across its services.`);
    if (r.bootStorm.some((s) => s.multiCreate)) {
      out.push('', '### One POST of many servers', '');
      out.push(multiCreateTable(r.bootStorm));
    }
  }
  if (r.flatCost.length > 0) {
    out.push('', '### Flat cost', '');
    out.push(table(['clients', 'servers/s at small N', 'servers/s at large N', 'change', 'cloud CPU per server (ms), small → large N'],
      r.flatCost.map((f) => [String(f.concurrency), `${f.smallRate} (N = ${f.smallN})`, `${f.largeRate} (N = ${f.largeN})`,
        `${f.change >= 0 ? '+' : ''}${(f.change * 100).toFixed(1)} %`, `${n(f.smallCpuMsPerServer)} → ${n(f.largeCpuMsPerServer)}`])));
  }
  if (r.scheduler.length > 0) {
    out.push('', '### Scheduler scale', '');
    out.push(schedulerTable(r));
  }
  if (r.scaleOut.length > 0) {
    out.push('', '### Scale-out', '');
    const label = (computes: number): string => `${computes} compute process${computes === 1 ? '' : 'es'}`;
    for (const s of r.scaleOut) if (s.skipped) out.push(`- ${label(s.computeProcesses)}: skipped: ${s.skipped}`);
    const ran = r.scaleOut.filter((s) => !s.skipped);
    if (ran.length > 0) {
      const computesOf = new Map(ran.flatMap((s) => s.storms.map((b) => [b, s.computeProcesses] as const)));
      out.push('Multi-process deployment on this machine: API, conductor, scheduler and the compute processes, on PostgreSQL and RabbitMQ ' +
        '(their own memory and CPU are not counted; the peak RSS is the sum of the Orrery processes\' peaks).', '');
      out.push(stormTable(ran.flatMap((s) => s.storms), { head: 'compute processes', cell: (b) => String(computesOf.get(b)) }));
    }
  }
  const f = r.failover;
  if (f) {
    out.push('', '### Failover', '');
    if (f.skipped) out.push(`- skipped: ${f.skipped}`);
    else {
      out.push(`${f.computes} compute processes over one fake cluster of ${f.nodes} shared nodes (report interval ${f.reportIntervalS} s, ` +
        `service_down_time ${f.serviceDownTimeS} s); one compute, owning ${f.victimNodes} nodes, killed with SIGKILL and restarted.`, '');
      out.push(table(['kill -9 → every node served', 'kill -9 → first reboot on a moved node done', 'nodes moved on rejoin'],
        [[`${f.everyNodeServedS} s`, `${f.firstRebootS} s`, `${((f.movedOnRejoin ?? 0) * 100).toFixed(1)} % (the rejoined compute's share: ${((f.rejoinerShare ?? 0) * 100).toFixed(1)} %)`]]));
    }
  }
  out.push('', '### Targets', '');
  out.push(targetsTable(r));
  for (const p of r.profiles) {
    out.push('', `### CPU profile: ${p.scenario}`, '', `(${p.file})`, '', profileMarkdown(p.summary));
  }
  return `${out.join('\n')}\n`;
}
