import { newUuid } from '../src/common/ids.js';
import { startHarness } from '../test/api-servers/harness.js';
import { sql } from 'kysely';
const h = await startHarness();
const rows: any[] = [];
for (let i = 0; i < 1000; i++) {
  const ts = new Date(Date.UTC(2030, 0, 1, 0, 0, 0, i)).toISOString();
  rows.push({ uuid: newUuid(), display_name: `bulk-${i}`, display_description: null, project_id: h.member.projectId, user_id: h.member.userId,
    image_ref: h.images.active, flavor: '{}', flavor_id: '1', vcpus: 1, memory_mb: 512, root_gb: 1, ephemeral_gb: 0,
    vm_state: 'active', task_state: null, power_state: 1, host: h.node.host, node: h.node.name, node_uuid: h.node.uuid, availability_zone: 'nova', key_name: null, key_data: null, user_data: null, hostname: `bulk-${i}`,
    reservation_id: 'r-bulk0000', launch_index: i, locked: 0, locked_by: null, config_drive: '', access_ip_v4: null, access_ip_v6: null,
    progress: 0, image_meta: '{}', tags: '[]', launched_at: ts, terminated_at: null, created_at: ts, updated_at: ts, deleted_at: null, deleted: 0 });
}
for (let i = 0; i < rows.length; i += 100) await h.db.insertInto('instances').values(rows.slice(i, i + 100)).execute();
const q = h.db.selectFrom('instances').selectAll().where('project_id', '=', h.member.projectId).where('deleted', '=', 0).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1000);
const c = q.compile();
console.log(c.sql);
const plan = await sql.raw(`EXPLAIN QUERY PLAN ${c.sql}`).execute(h.db as any).catch(e => e.message);
const t = async (label: string, f: () => Promise<unknown>) => { const ts: number[] = []; for (let i = 0; i < 20; i++) { const s = performance.now(); await f(); ts.push(performance.now() - s); } ts.sort((a,b)=>a-b); console.log(label, ts[10].toFixed(2)); };
await t('kysely selectAll', () => q.execute());
await t('kysely few cols', () => h.db.selectFrom('instances').select(['uuid','display_name','project_id','created_at','id']).where('project_id', '=', h.member.projectId).where('deleted', '=', 0).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1000).execute());
await t('no order', () => h.db.selectFrom('instances').selectAll().where('project_id', '=', h.member.projectId).where('deleted', '=', 0).limit(1000).execute());
const cols = ['uuid','display_name','display_description','project_id','user_id','image_ref','flavor_id','vm_state','task_state','power_state','host','node','availability_zone','key_name','user_data','hostname','reservation_id','launch_index','locked','config_drive','access_ip_v4','access_ip_v6','progress','tags','launched_at','terminated_at','created_at','updated_at','deleted','id'] as any;
await t('30 cols', () => h.db.selectFrom('instances').select(cols).where('project_id', '=', h.member.projectId).where('deleted', '=', 0).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1000).execute());
const raw = (h.db as any);
await h.close();
