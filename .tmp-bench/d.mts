import { newUuid } from '../src/common/ids.js';
import { startHarness } from '../test/api-servers/harness.js';
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
await h.db.insertInto('instance_metadata').values(rows.map((r) => ({ instance_uuid: r.uuid, key: 'n', value: r.display_name }))).execute();
for (let i = 0; i < 60; i++) await h.compute.inject({ method: 'GET', url: '/v2.1/servers/detail', headers: { 'x-auth-token': h.member.token, 'openstack-api-version': 'compute 2.37' } });
await h.close();
