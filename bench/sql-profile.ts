#!/usr/bin/env node
/**
 * Where a boot's database time goes: runs the all-in-one in this process with every SQLite
 * statement counted and timed (better-sqlite3's prepare and run/get/all wrapped), boots,
 * lists and deletes N servers through the public API, and prints the statements by total time,
 * with how many of each one boot costs, and how many commits (an explicit COMMIT, or a write
 * outside a transaction, which SQLite commits by itself). A diagnostic for docs/performance.md, not a benchmark:
 * the client shares the process, so its throughput is not the cloud's.
 * Usage: node dist/bench/sql-profile.js [N] [clients] [top]
 */
import SQLite from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readOpenrc } from '../harness/openrc.js';
import { Config } from '../src/common/config.js';
import { createLogger } from '../src/common/logging.js';
import { startAllInOne } from '../src/cmd/cloud.js';
import { credentialsFromOpenrc } from './deployments.js';
import { silentProgress } from './progress.js';
import { runBootStorm } from './scenarios/boot-storm.js';

interface StatementCost {
  count: number;
  execMs: number;
  prepareMs: number;
  prepares: number;
}

const costs = new Map<string, StatementCost>();
let counting = false;
/** Commits: explicit COMMITs plus writes made outside a transaction (each its own commit). */
let commits = 0;

type Statement = Record<string, (...args: unknown[]) => unknown> & { readonly?: boolean };
const proto = (SQLite as unknown as { prototype: { prepare: (sql: string) => Statement } }).prototype;
const prepare = proto.prepare;
proto.prepare = function (this: { inTransaction: boolean }, sql: string): Statement {
  const t = performance.now();
  const database = this;
  const stmt = prepare.call(this, sql);
  const key = sql.replace(/\s+/g, ' ').trim();
  const cost = (): StatementCost => {
    let c = costs.get(key);
    if (!c) costs.set(key, (c = { count: 0, execMs: 0, prepareMs: 0, prepares: 0 }));
    return c;
  };
  if (counting) {
    const c = cost();
    c.prepares++;
    c.prepareMs += performance.now() - t;
  }
  for (const method of ['run', 'get', 'all', 'iterate']) {
    const original = stmt[method];
    if (typeof original !== 'function') continue;
    stmt[method] = function (this: unknown, ...args: unknown[]) {
      const t1 = performance.now();
      if (counting && (key === 'commit' || (stmt.readonly === false && !/^(begin|rollback)/i.test(key) && !database.inTransaction))) commits++;
      try {
        return original.apply(this, args);
      } finally {
        if (counting) {
          const c = cost();
          c.count++;
          c.execMs += performance.now() - t1;
        }
      }
    };
  }
  return stmt;
};

const n = Number(process.argv[2] ?? 1000);
const concurrency = Number(process.argv[3] ?? 10);
const top = Number(process.argv[4] ?? 30);
const stateDir = mkdtempSync(join(tmpdir(), 'orrery-sql-profile-'));
const config = new Config({
  DEFAULT: { state_path: stateDir },
  api: { identity_port: '0', image_port: '0', compute_port: '0', placement_port: '0', network_port: '0', baremetal_port: '0', dashboard_port: '0' },
  vnc: { novncproxy_port: '0' }, serial_console: { serialproxy_port: '0' },
  fake: { vcpus: String(Math.max(8, n)), memory_mb: String(Math.max(16384, 512 * n)), disk_gb: String(Math.max(200, n)) },
});
const cloud = await startAllInOne(config, createLogger('sql-profile', 'warn'));
try {
  counting = true;
  const cpuBefore = process.cpuUsage();
  const storm = await runBootStorm(
    { description: 'in-process', credentials: credentialsFromOpenrc(readOpenrc(cloud.openrcPath)), pids: [], stop: async () => undefined },
    { n, concurrency, flavor: 'm1.nano', image: 'orrery-tiny', pollMs: 100, listSamples: 5, stallMs: 120_000, warmup: 0, probeMs: 0, multiCreate: 0 }, silentProgress,
  );
  counting = false;
  const cpu = process.cpuUsage(cpuBefore);
  const rows = [...costs.entries()].sort((a, b) => b[1].execMs + b[1].prepareMs - (a[1].execMs + a[1].prepareMs));
  const sum = (f: (c: StatementCost) => number): number => rows.reduce((acc, [, c]) => acc + f(c), 0);
  const out: string[] = [];
  out.push(`${n} servers booted, listed ${storm.listDetailMs.count} times and deleted (${concurrency} clients).`);
  out.push(`SQL: ${sum((c) => c.count)} statements (${(sum((c) => c.count) / n).toFixed(1)} per server), ` +
    `${sum((c) => c.execMs).toFixed(0)} ms executing, ${sum((c) => c.prepareMs).toFixed(0)} ms preparing (${sum((c) => c.prepares)} prepares).`);
  const txControl = rows.filter(([sql]) => /^(begin|commit|rollback)\b/i.test(sql)).reduce((acc, [, c]) => acc + c.count, 0);
  out.push(`Without BEGIN/COMMIT: ${((sum((c) => c.count) - txControl) / n).toFixed(1)} per server; commits: ${commits} (${(commits / n).toFixed(2)} per server).`);
  out.push(`CPU of this process (cloud and client) during the storm: ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms (${((cpu.user + cpu.system) / 1000 / n).toFixed(2)} ms per server).`);
  out.push('', '| per server | exec ms | prepare ms | statement |', '|---:|---:|---:|---|');
  for (const [sql, c] of rows.slice(0, top)) {
    out.push(`| ${(c.count / n).toFixed(2)} | ${c.execMs.toFixed(0)} | ${c.prepareMs.toFixed(0)} | \`${sql.slice(0, 140).replace(/\|/g, '\\|')}${sql.length > 140 ? '…' : ''}\` |`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  await cloud.stop();
  rmSync(stateDir, { recursive: true, force: true });
}
