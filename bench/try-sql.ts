// Diagnostic: counts and times every SQL statement the all-in-one runs during a boot storm (in-process).
import SQLite from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Config } from '../src/common/config.js';
import { createLogger } from '../src/common/logging.js';
import { startAllInOne } from '../src/cmd/cloud.js';
import { runBootStorm } from './scenarios/boot-storm.js';
import { stderrProgress } from './progress.js';
import { credentialsFromOpenrc } from './deployments.js';
import { readFileSync } from 'node:fs';

const stats = new Map<string, { n: number; execMs: number; prepMs: number }>();
const proto = (SQLite as any).prototype;
const origPrepare = proto.prepare;
let enabled = false;
proto.prepare = function (sql: string) {
  const t = performance.now();
  const stmt = origPrepare.call(this, sql);
  const prep = performance.now() - t;
  const key = sql.replace(/\s+/g, ' ').slice(0, 160);
  for (const m of ['run', 'all', 'get', 'iterate']) {
    const orig = stmt[m];
    if (typeof orig !== 'function') continue;
    stmt[m] = function (...args: unknown[]) {
      const t1 = performance.now();
      try { return orig.apply(this, args); } finally {
        if (enabled) {
          const s = stats.get(key) ?? { n: 0, execMs: 0, prepMs: 0 };
          s.n++; s.execMs += performance.now() - t1; s.prepMs += prep;
          stats.set(key, s);
        }
      }
    };
  }
  return stmt;
};
const n = Number(process.argv[2] ?? 1000);
const stateDir = mkdtempSync(join(tmpdir(), 'orrery-sql-'));
const config = new Config({ DEFAULT: { state_path: stateDir }, api: { identity_port: '0', image_port: '0', compute_port: '0', placement_port: '0' },
  fake: { vcpus: '512', memory_mb: '1048576', disk_gb: '10000' } });
const cloud = await startAllInOne(config, createLogger('x', 'warn'));
enabled = true;
const r = await runBootStorm({ description: '', credentials: credentialsFromOpenrc(readFileSync(cloud.openrcPath, 'utf8')), pids: [], stop: async () => {} },
  { n, concurrency: 10, flavor: 'm1.nano', image: 'orrery-tiny', pollMs: 100, listSamples: 10, stallMs: 60000 }, stderrProgress(process.stderr, true));
enabled = false;
console.log(r.serversPerSecond, r.postMs.p50);
const rows = [...stats.entries()].sort((a, b) => (b[1].execMs + b[1].prepMs) - (a[1].execMs + a[1].prepMs));
let tot = 0, totp = 0, totn = 0;
for (const [, s] of rows) { tot += s.execMs; totp += s.prepMs; totn += s.n; }
console.log(`total exec ${tot.toFixed(0)} ms prepare ${totp.toFixed(0)} ms statements ${totn} (${(totn / n).toFixed(1)} per server)`);
for (const [k, s] of rows.slice(0, 40)) console.log(`${s.n}\t${s.execMs.toFixed(0)}\t${s.prepMs.toFixed(0)}\t${k}`);
await cloud.stop();
