import type { Insertable } from 'kysely';
import { newUuid } from '../../src/common/ids.js';
import type { InstanceTable } from '../../src/db/schema.js';

/** An instance row as the API writes one for a boot (building, scheduling, no host), with `over` applied. */
export function instanceRow(projectId: string, over: Partial<Insertable<InstanceTable>> = {}): Insertable<InstanceTable> {
  const ts = new Date().toISOString();
  return {
    uuid: newUuid(), display_name: 'vm', display_description: null, project_id: projectId, user_id: 'u1', image_ref: 'img',
    flavor: JSON.stringify({ flavorid: '1' }), flavor_id: '1', vcpus: 1, memory_mb: 512, root_gb: 1, ephemeral_gb: 0,
    vm_state: 'building', task_state: 'scheduling', power_state: 0, host: null, node: null, node_uuid: null,
    availability_zone: null, key_name: null, key_data: null, user_data: null, hostname: 'vm', reservation_id: 'r-1',
    launch_index: 0, locked: 0, locked_by: null, config_drive: '', access_ip_v4: null, access_ip_v6: null, progress: 0,
    image_meta: JSON.stringify({}), tags: '[]', launched_at: null, terminated_at: null, created_at: ts, updated_at: ts,
    deleted_at: null, deleted: 0, ...over,
  };
}
