import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fork } from 'node:child_process';
import SQLite from 'better-sqlite3';
import { openDatabase } from '../src/db/connection.js';
import { findCandidates } from '../src/scheduler/host-query.js';
// build a db with the worker (budget 0 → 1 request)
const dir = mkdtempSync(join(tmpdir(), 'plan-'));
await new Promise<void>((res, rej) => {
  const c = fork(new URL('./scenarios/scheduler-worker.ts', import.meta.url).pathname, [JSON.stringify({ nodes: 10000, requests: 1, seed: 42, budgetSeconds: 0, dir })],
    { execArgv: process.execArgv, env: { ...process.env, ORRERY_BENCH_WORKER: 'scheduler' } });
  c.on('message', (m: any) => (m.result ? res() : m.error ? rej(new Error(m.error)) : undefined));
});
const path = join(dir, 'scheduler-10000.sqlite');
const db = openDatabase(`sqlite:///${path}`);
const q: any = { resources: { VCPU: 2, MEMORY_MB: 4096, DISK_GB: 40 }, upSince: new Date(Date.now() - 60000).toISOString(), availabilityZone: 'az1', defaultAvailabilityZone: 'nova', hypervisorType: null, requiredTraits: ['CUSTOM_SSD'], forbiddenTraits: ['CUSTOM_GPU'], ignoreHosts: [], forceHost: null, forceNode: null, limit: 8 };
// capture SQL
const raw = new SQLite(path);
let sqlText = '', params: unknown[] = [];
const proto = (SQLite as any).prototype; const op = proto.prepare;
proto.prepare = function (sql: string) { const st = op.call(this, sql); if (sql.includes('cn')) { sqlText = sql; const oa = st.all; st.all = function (...a: unknown[]) { params = a; return oa.apply(this, a); }; } return st; };
for (const q2 of [q, { ...q, availabilityZone: null, requiredTraits: [], forbiddenTraits: [] }]) {
  let t = performance.now();
  for (let i = 0; i < 20; i++) await findCandidates(db, q2);
  console.log('findCandidates ms', ((performance.now() - t) / 20).toFixed(2));
  console.log(sqlText);
  for (const r of raw.prepare('EXPLAIN QUERY PLAN ' + sqlText).all(...(params as any[]))) console.log(JSON.stringify(r));
}
