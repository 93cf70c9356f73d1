import type { Db } from './connection.js';

/** One instance as the usage reports (os-simple-tenant-usage) account it. */
export interface UsageInstance {
  id: number;
  uuid: string;
  name: string;
  projectId: string;
  /** JSON snapshot of the flavor at create. */
  flavor: string;
  vcpus: number;
  memoryMb: number;
  localGb: number;
  vmState: string;
  launchedAt: string;
  terminatedAt: string | null;
}

export interface UsageWindow {
  /** ISO-8601 bounds of the period. */
  start: string;
  stop: string;
  projectId?: string;
  /** Instances after this row id (the marker's), in id order. */
  afterId?: number;
  limit: number;
}

/**
 * Instances running at some time in the window, deleted ones included (Nova's
 * instance_get_active_by_window_joined): launched before its end and not terminated before
 * its start. ISO-8601 text compares in time order, so the bounds are plain comparisons.
 */
export async function instancesActiveIn(db: Db, w: UsageWindow): Promise<UsageInstance[]> {
  let q = db.selectFrom('instances')
    .select(['id', 'uuid', 'display_name', 'project_id', 'flavor', 'vcpus', 'memory_mb', 'root_gb', 'ephemeral_gb', 'vm_state', 'launched_at', 'terminated_at'])
    .where('launched_at', 'is not', null).where('launched_at', '<', w.stop)
    .where((eb) => eb.or([eb('terminated_at', 'is', null), eb('terminated_at', '>', w.start)]));
  if (w.projectId !== undefined) q = q.where('project_id', '=', w.projectId);
  if (w.afterId !== undefined) q = q.where('id', '>', w.afterId);
  const rows = await q.orderBy('id').limit(w.limit).execute();
  return rows.map((r) => ({
    id: r.id, uuid: r.uuid, name: r.display_name, projectId: r.project_id, flavor: r.flavor, vcpus: r.vcpus, memoryMb: r.memory_mb,
    localGb: r.root_gb + r.ephemeral_gb, vmState: r.vm_state, launchedAt: r.launched_at!, terminatedAt: r.terminated_at,
  }));
}

/** The row id of an instance named as a paging marker (deleted ones too), or null. */
export async function instanceRowId(db: Db, uuid: string): Promise<number | null> {
  const row = await db.selectFrom('instances').select('id').where('uuid', '=', uuid).executeTakeFirst();
  return row?.id ?? null;
}
