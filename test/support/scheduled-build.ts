import { newRequestId, newUuid } from '../../src/common/ids.js';
import type { Db } from '../../src/db/connection.js';
import { createAction } from '../../src/db/instance-actions.js';
import { getInstance, insertInstance } from '../../src/db/instances.js';
import type { Flavor, ImageMeta, RequestSpec } from '../../src/objects/compute.js';
import type { RpcContext } from '../../src/rpc/bus.js';
import type { ComputeRpcApi } from '../../src/rpc/compute-api.js';

/**
 * Puts a scheduled instance (its create action too) on `node` of `host` and casts its build
 * there, as the conductor would: for tests of a compute service without a scheduler.
 */
export async function castScheduledBuild(db: Db, sender: ComputeRpcApi, host: string, node: string): Promise<{ uuid: string; ctx: RpcContext }> {
  const uuid = newUuid();
  const ts = new Date().toISOString();
  const flavor: Flavor = { flavorid: '1', name: 'm1.tiny', vcpus: 1, memoryMb: 64, rootGb: 1, ephemeralGb: 0, swap: 0, extraSpecs: {} } as Flavor;
  const image: ImageMeta = {
    id: newUuid(), name: 'img', status: 'active', diskFormat: 'raw', containerFormat: 'bare', size: 1, checksum: null,
    minDisk: 0, minRam: 0, properties: {},
  };
  await insertInstance(db, {
    uuid, display_name: 'vm', display_description: null, project_id: 'p1', user_id: 'u1', image_ref: image.id,
    flavor: JSON.stringify(flavor), flavor_id: '1', vcpus: 1, memory_mb: 64, root_gb: 1, ephemeral_gb: 0,
    vm_state: 'building', task_state: 'scheduling', power_state: 0, host, node, node_uuid: null,
    availability_zone: null, key_name: null, key_data: null, user_data: null, hostname: 'vm', reservation_id: 'r-1',
    launch_index: 0, locked: 0, locked_by: null, config_drive: '', access_ip_v4: null, access_ip_v6: null, progress: 0,
    image_meta: JSON.stringify(image), tags: '[]', launched_at: null, terminated_at: null, created_at: ts, updated_at: ts,
    deleted_at: null, deleted: 0,
  }, {});
  const ctx: RpcContext = { requestId: newRequestId(), userId: 'u1', projectId: 'p1', roles: ['member'], isAdmin: false };
  await createAction(db, { instanceUuid: uuid, action: 'create', requestId: ctx.requestId, projectId: 'p1', userId: 'u1' });
  const spec: RequestSpec = {
    instanceUuids: [uuid], projectId: 'p1', userId: 'u1', flavor, image, availabilityZone: null, ignoreHosts: [],
    forceHost: null, forceNode: null, attempt: 0,
  };
  await sender.buildAndRunInstance(ctx, (await getInstance(db, uuid))!, node, spec);
  return { uuid, ctx };
}
