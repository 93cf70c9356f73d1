import SQLite from 'better-sqlite3';
import { openDatabase, migrate } from '../src/db/connection.js';
import { rmSync } from 'node:fs';
rmSync('/tmp/bench.sqlite', { force: true });
const db = openDatabase('sqlite:////tmp/bench.sqlite');
await migrate(db);
const rows: any[] = [];
for (let i = 0; i < 1000; i++) {
  const ts = new Date(Date.UTC(2030, 0, 1, 0, 0, 0, i)).toISOString();
  rows.push({ uuid: crypto.randomUUID(), display_name: `bulk-${i}`, display_description: null, project_id: 'p', user_id: 'u',
    image_ref: 'img', flavor: '{}', flavor_id: '1', vcpus: 1, memory_mb: 512, root_gb: 1, ephemeral_gb: 0,
    vm_state: 'active', task_state: null, power_state: 1, host: 'h', node: 'n', node_uuid: 'nu', availability_zone: 'nova', key_name: null, key_data: null, user_data: null, hostname: `bulk-${i}`,
    reservation_id: 'r-bulk0000', launch_index: i, locked: 0, locked_by: null, config_drive: '', access_ip_v4: null, access_ip_v6: null,
    progress: 0, image_meta: '{}', tags: '[]', launched_at: ts, terminated_at: null, created_at: ts, updated_at: ts, deleted_at: null, deleted: 0 });
}
for (let i = 0; i < rows.length; i += 100) await db.insertInto('instances').values(rows.slice(i, i + 100)).execute();
const raw = new SQLite('/tmp/bench.sqlite');
const st = raw.prepare('select * from instances where project_id = ? and deleted = ? order by created_at desc, id desc limit ?');
const t = (label: string, f: () => unknown) => { const ts: number[] = []; for (let i = 0; i < 50; i++) { const s = performance.now(); f(); ts.push(performance.now() - s); } ts.sort((a,b)=>a-b); console.log(label, ts[25].toFixed(2)); };
t('raw all', () => st.all('p', 0, 1000));
t('raw all no order', () => raw.prepare('select * from instances where project_id = ? and deleted = ? limit ?').all('p', 0, 1000));
t('raw raw()', () => raw.prepare('select * from instances where project_id = ? and deleted = ? order by created_at desc, id desc limit ?').raw().all('p', 0, 1000));
console.log(raw.prepare('explain query plan select * from instances where project_id = ? and deleted = ? order by created_at desc, id desc limit ?').all('p',0,1000));
const ts: number[] = []; for (let i = 0; i < 50; i++) { const s = performance.now(); await db.selectFrom('instances').selectAll().where('project_id', '=', 'p').where('deleted', '=', 0).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1000).execute(); ts.push(performance.now() - s); } ts.sort((a,b)=>a-b); console.log('kysely', ts[25].toFixed(2));
for (const n of [5, 10, 20, 25, 30, 35, 46]) {
  const cols = ['uuid','display_name','display_description','project_id','user_id','image_ref','flavor_id','vm_state','task_state','power_state','host','node','availability_zone','key_name','user_data','hostname','reservation_id','launch_index','locked','config_drive','access_ip_v4','access_ip_v6','progress','tags','launched_at','terminated_at','created_at','updated_at','deleted','id','flavor','image_meta','key_data','node_uuid','vcpus','memory_mb','root_gb','ephemeral_gb','locked_by','deleted_at','display_name as a1','uuid as a2','uuid as a3','uuid as a4','uuid as a5','uuid as a6'].slice(0, n);
  const q = raw.prepare(`select ${cols.join(',')} from instances where project_id = ? and deleted = ? order by created_at desc, id desc limit ?`);
  t(`raw ${n}`, () => q.all('p', 0, 1000));
}
await db.destroy();
