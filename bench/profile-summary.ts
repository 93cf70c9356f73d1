#!/usr/bin/env node
import { readFileSync } from 'node:fs';

/**
 * Summarises a V8 CPU profile (`node --cpu-prof` writes *.cpuprofile): the functions with the
 * most self time, and self time per module (packages by name, our files by path).
 * Usage: node dist/bench/profile-summary.js <file.cpuprofile> [top]
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  ms: number;
  percent: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Time the process spent idle (waiting for I/O or timers). */
  idleMs: number;
  functions: ProfileRow[];
  modules: ProfileRow[];
  /**
   * Time by the outermost function of ours (src/, packages/) on the stack: which entry point
   * (route handler, RPC method, timer) the work was done for, callees included.
   */
  entries: ProfileRow[];
}

const OURS = /\/(src|packages)\//;

/** Where a script lives, shortly: "fastify/lib/route.js", "src/db/instances.ts", "(native)". */
export function moduleOf(url: string): string {
  return shortPath(url, true);
}

/** A script's path from node_modules/, src/, packages/ or bench/ on; the package name alone when `packageOnly`. */
function shortPath(url: string, packageOnly: boolean): string {
  if (url === '') return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length);
    if (!packageOnly) return rest;
    const parts = rest.split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  if (path.startsWith('node:')) return path;
  const m = /\/(src|packages|bench)\/(.*)$/.exec(path);
  return m ? `${m[1]}/${m[2]}` : path;
}

export function summarizeProfile(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // Each sample's time is the delta to the next one (the last one gets the average).
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1]! : 0;
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + dt);
  }
  const totalUs = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const mod = new Map<string, number>();
  const entry = new Map<string, number>();
  // The outermost frame of ours above each node, found walking down from the root.
  const entryOf = new Map<number, ProfileNode | null>();
  const root = profile.nodes[0];
  const stack: Array<[ProfileNode, ProfileNode | null]> = root ? [[root, null]] : [];
  while (stack.length > 0) {
    const [node, above] = stack.pop()!;
    const mine = above ?? (OURS.test(node.callFrame.url) ? node : null);
    entryOf.set(node.id, mine);
    for (const c of node.children ?? []) stack.push([byId.get(c)!, mine]);
  }
  const label = (n: ProfileNode): string => {
    const { functionName, url, lineNumber } = n.callFrame;
    return `${functionName || '(anonymous)'}${url ? ` ${shortPath(url, false)}:${lineNumber + 1}` : ''}`;
  };
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url } = n.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    const key = label(n);
    fn.set(key, (fn.get(key) ?? 0) + us);
    const m = url ? moduleOf(url) : functionName.startsWith('(') ? functionName : '(native)';
    mod.set(m, (mod.get(m) ?? 0) + us);
    const e = entryOf.get(id);
    const ek = e ? label(e) : `(outside our code: ${m})`;
    entry.set(ek, (entry.get(ek) ?? 0) + us);
  }
  const busy = totalUs - idle;
  const rows = (m: Map<string, number>): ProfileRow[] => [...m.entries()]
    .sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([name, us]) => ({ name, ms: Math.round(us / 100) / 10, percent: busy > 0 ? Math.round((1000 * us) / busy) / 10 : 0 }));
  return {
    totalMs: Math.round(totalUs / 1000), idleMs: Math.round(idle / 1000), functions: rows(fn), modules: rows(mod), entries: rows(entry),
  };
}

export function profileMarkdown(s: ProfileSummary): string {
  const table = (title: string, rows: ProfileRow[]): string =>
    `| ${title} | self ms | % of busy |\n|---|---:|---:|\n${rows.map((r) => `| \`${r.name}\` | ${r.ms} | ${r.percent} |`).join('\n')}\n`;
  return `Profile: ${s.totalMs} ms sampled, ${s.idleMs} ms idle, ${s.totalMs - s.idleMs} ms busy.\n\n` +
    `${table('function (self time)', s.functions)}\n${table('module (self time)', s.modules)}\n${table('entry point (time inside it)', s.entries)}`;
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''));
if (isMain) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node dist/bench/profile-summary.js <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(process.argv[3] ?? 25));
  process.stdout.write(profileMarkdown(summary));
}
