import { VmState } from '../objects/states.js';
import type { Db } from './connection.js';

/**
 * The soft-deleted servers due for reclaim (conductor/reclaim.ts): SOFT_DELETED with no task
 * since `before` (ISO), at most `limit` of them; the reclaim takes each with a guarded update.
 */
export async function reclaimable(db: Db, before: string, limit: number): Promise<string[]> {
  const rows = await db.selectFrom('instances').select('uuid')
    .where('deleted', '=', 0).where('vm_state', '=', VmState.SOFT_DELETED).where('task_state', 'is', null)
    .where('updated_at', '<=', before).limit(limit).execute();
  return rows.map((r) => r.uuid);
}
