import type { Config } from '../common/config.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import type { Db } from '../db/connection.js';
import { createAction } from '../db/instance-actions.js';
import { getInstance, updateInstanceRow } from '../db/instances.js';
import { reclaimable } from '../db/reclaim.js';
import { TaskState } from '../objects/states.js';
import type { ComputeRpcApi } from '../rpc/compute-api.js';
import { systemContext } from '../rpc/dispatch.js';

/**
 * The reclaim of deferred deletes (Nova's _reclaim_queued_deletes): every
 * `reclaim_instance_interval` seconds, servers SOFT_DELETED for longer than that are deleted
 * for good — their compute destroys the guest and the claim is released as for any delete.
 * Each is taken with a guarded update (no task → deleting), so of several conductors only
 * one reclaims a server, and a restore racing the reclaim either wins or finds it deleting.
 */

/** Reclaims what is due now; answers how many deletes were sent. */
export async function reclaimDeleted(db: Db, config: Config, compute: ComputeRpcApi, log: Logger): Promise<number> {
  const interval = config.num('DEFAULT', 'reclaim_instance_interval');
  if (interval <= 0) return 0;
  const before = new Date(Date.now() - interval * 1000).toISOString();
  let sent = 0;
  for (const uuid of await reclaimable(db, before, 100)) {
    try {
      await updateInstanceRow(db, uuid, { task_state: TaskState.DELETING }, [null]);
    } catch {
      continue; // restored, deleted or taken by another conductor meanwhile
    }
    const inst = await getInstance(db, uuid);
    if (!inst?.node) continue;
    log.info({ instance: uuid }, 'reclaiming soft-deleted instance');
    const ctx = systemContext();
    await createAction(db, { instanceUuid: uuid, action: 'delete', requestId: ctx.requestId, projectId: inst.projectId, userId: inst.userId });
    await compute.instanceAction(ctx, 'terminate_instance', inst);
    sent++;
  }
  return sent;
}

/** Runs the reclaim periodically; returns what stops it. */
export function startReclaim(db: Db, config: Config, compute: ComputeRpcApi, log: Logger): () => void {
  const interval = config.num('DEFAULT', 'reclaim_instance_interval');
  if (interval <= 0) return () => undefined;
  const timer = setInterval(() => {
    reclaimDeleted(db, config, compute, log).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'reclaim failed'));
  }, interval * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
