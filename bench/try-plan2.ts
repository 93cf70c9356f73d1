import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fork } from 'node:child_process';
import SQLite from 'better-sqlite3';
const nodes = Number(process.argv[2] ?? 10000);
const dir = mkdtempSync(join(tmpdir(), 'plan-'));
await new Promise<void>((res, rej) => {
  const c = fork(new URL('./scenarios/scheduler-worker.ts', import.meta.url).pathname, [JSON.stringify({ nodes, requests: 1, seed: 42, budgetSeconds: 0, dir })],
    { execArgv: process.execArgv, env: { ...process.env, ORRERY_BENCH_WORKER: 'scheduler' } });
  c.on('message', (m: any) => (m.result ? res() : m.error ? rej(new Error(m.error)) : undefined));
});
const db = new SQLite(join(dir, `scheduler-${nodes}.sqlite`));
db.exec(`CREATE INDEX inventories_free ON inventories (resource_class, ((total - reserved) * allocation_ratio - used))`);
const upSince = new Date(Date.now() - 60000).toISOString();
const zoned = `SELECT ah.host FROM aggregate_hosts ah JOIN aggregates a ON a.id = ah.aggregate_id AND a.deleted = 0
  JOIN aggregate_metadata am ON am.aggregate_id = ah.aggregate_id AND am.key = 'availability_zone'`;
function query(traits: string[], forbidden: string[], az: string | null) {
  return `SELECT cn.uuid, cn.host, cn.hypervisor_hostname AS node, (mem.total - mem.reserved) * mem.allocation_ratio - mem.used AS freeRam
  FROM inventories mem CROSS JOIN compute_nodes cn ON cn.uuid = mem.node_uuid AND cn.deleted = 0
  JOIN services s ON s.host = cn.host AND s.binary = 'nova-compute' AND s.deleted = 0 AND s.disabled = 0 AND s.forced_down = 0 AND s.last_seen_up >= ?
  WHERE mem.resource_class = 'MEMORY_MB' AND mem.max_unit >= ? AND (mem.total - mem.reserved) * mem.allocation_ratio - mem.used >= ?
  AND EXISTS (SELECT 1 FROM inventories inv WHERE inv.node_uuid = cn.uuid AND inv.resource_class = 'VCPU' AND inv.max_unit >= ? AND inv.used + ? <= (inv.total - inv.reserved) * inv.allocation_ratio)
  AND EXISTS (SELECT 1 FROM inventories inv WHERE inv.node_uuid = cn.uuid AND inv.resource_class = 'DISK_GB' AND inv.max_unit >= ? AND inv.used + ? <= (inv.total - inv.reserved) * inv.allocation_ratio)
  ${traits.map((t) => `AND EXISTS (SELECT 1 FROM node_traits t WHERE t.node_uuid = cn.uuid AND t.trait = '${t}')`).join('\n')}
  ${forbidden.map((t) => `AND NOT EXISTS (SELECT 1 FROM node_traits t WHERE t.node_uuid = cn.uuid AND t.trait = '${t}')`).join('\n')}
  ${az ? `AND EXISTS (SELECT 1 FROM aggregate_metadata am JOIN aggregates a ON a.id = am.aggregate_id AND a.deleted = 0 JOIN aggregate_hosts ah ON ah.aggregate_id = am.aggregate_id AND ah.host = cn.host WHERE am.key = 'availability_zone' AND am.value = '${az}')` : ''}
  ORDER BY (mem.total - mem.reserved) * mem.allocation_ratio - mem.used DESC LIMIT 8`;
}
for (const [traits, forb, az] of [[[], [], null], [['CUSTOM_SSD'], ['CUSTOM_GPU'], 'az1'], [['CUSTOM_SSD', 'HW_CPU_X86_AVX2'], [], 'az3']] as const) {
  const sql = query([...traits], [...forb], az);
  const st = db.prepare(sql);
  const args = [upSince, 4096, 4096, 2, 2, 40, 40];
  const t = performance.now();
  let rows: any[] = [];
  for (let i = 0; i < 200; i++) rows = st.all(...args);
  console.log(nodes, traits, forb, az, ((performance.now() - t) / 200).toFixed(3), 'ms', rows.length);
  if (traits.length > 0) for (const r of db.prepare('EXPLAIN QUERY PLAN ' + sql).all(...args) as any[]) console.log('  ', r.detail);
}
