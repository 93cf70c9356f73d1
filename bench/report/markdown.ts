import { profileMarkdown } from '../profile-summary.js';
import { NOVA } from '../reference.js';
import type { BenchResults } from '../results.js';

/** The run as Markdown: what stdout prints and what docs/performance.md quotes. */

const n = (v: number | null | undefined, unit = ''): string => (v === null || v === undefined ? '–' : `${v}${unit}`);

function table(head: string[], rows: string[][], align: string[] = head.map((_, i) => (i === 0 ? '---' : '---:'))): string {
  return [`| ${head.join(' | ')} |`, `|${align.join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function bootStormTable(r: BenchResults): string {
  return table(
    ['N', 'clients', 'servers/s', 'boot (s)', 'POST p50 / p95 (ms)', 'GET /servers/detail p50 / p95 (ms)', 'delete (s)', 'cloud peak RSS (MB)', 'cloud CPU (s)', 'client CPU (s)'],
    r.bootStorm.map((s) => [
      String(s.n), String(s.concurrency),
      `${s.serversPerSecond}${s.failed ? ` (${s.failed} failed)` : ''}${s.repeatRates ? ` (runs: ${s.repeatRates.join(', ')})` : ''}`, String(s.bootSeconds),
      `${s.postMs.p50} / ${s.postMs.p95}`,
      `${s.listDetailMs.p50} / ${s.listDetailMs.p95} (${Math.min(s.listedServers, 1000)} servers${s.listPages > 1 ? `; all ${s.listedServers} in ${s.listPages} pages: ${s.listAllMs.p50}` : ''})`,
      String(s.deleteSeconds), n(s.cloud?.peakRssMb), n(s.cloud?.cpuSeconds), String(s.clientCpuSeconds),
    ]),
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
    `${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform} ${m.kernel}; load average ${m.loadAverage} at start.`);
  out.push(`Target: ${r.target}. Command: \`${r.command}\``);
  if (r.bootStorm.length > 0) {
    out.push('', '### Boot storm', '');
    out.push(bootStormTable(r));
    out.push('', `Nova (Zed, fake driver, 2 hosts) on a similar machine: ${NOVA.serversPerSecond.map(([k, v]) => `${v} servers/s at N = ${k}`).join(', ')}; ` +
      `POST median ${NOVA.postMedianMs} ms; GET /servers/detail median ${NOVA.listDetailMedianMs.map(([k, v]) => `${v} ms with ${k}`).join(', ')}; ${NOVA.memoryGiB} GiB across its services.`);
  }
  if (r.flatCost.length > 0) {
    out.push('', '### Flat cost', '');
    out.push(table(['clients', 'servers/s at small N', 'servers/s at large N', 'change'],
      r.flatCost.map((f) => [String(f.concurrency), `${f.smallRate} (N = ${f.smallN})`, `${f.largeRate} (N = ${f.largeN})`, `${f.change >= 0 ? '+' : ''}${(f.change * 100).toFixed(1)} %`])));
  }
  if (r.scheduler.length > 0) {
    out.push('', '### Scheduler scale', '');
    out.push(schedulerTable(r));
  }
  if (r.scaleOut.length > 0) {
    out.push('', '### Scale-out', '');
    for (const s of r.scaleOut) {
      const label = `${s.computeProcesses} compute process${s.computeProcesses === 1 ? '' : 'es'}`;
      if (s.skipped) out.push(`- ${label}: skipped: ${s.skipped}`);
      else out.push(`- ${label}: ${s.storms.map((b) => `N = ${b.n}, ${b.concurrency} clients: ${b.serversPerSecond} servers/s`).join('; ')}`);
    }
  }
  out.push('', '### Targets', '');
  out.push(targetsTable(r));
  for (const p of r.profiles) {
    out.push('', `### CPU profile: ${p.scenario}`, '', `(${p.file})`, '', profileMarkdown(p.summary));
  }
  return `${out.join('\n')}\n`;
}
