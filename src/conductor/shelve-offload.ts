import type { Config } from '../common/config.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import type { Db } from '../db/connection.js';
import { getInstanceRow } from '../db/instances.js';
import { shelvedBefore, startInstanceFlow } from '../db/shelve.js';
import { TaskState, VmState } from '../objects/states.js';
import { systemContext } from '../rpc/dispatch.js';
import { SHELVE_OFFLOAD_EVENT } from './flows/shelve.js';

/**
 * The periodic offload of shelved servers (Nova's _poll_shelved_instances): every
 * shelved_poll_interval seconds, servers SHELVED for longer than shelved_offload_time (> 0)
 * get a 'shelve-offload' flow, as the shelveOffload action starts one — recorded as a
 * 'shelveOffload' action under a request of the system's. Each is taken with a guarded update
 * (SHELVED, no task, shelved before the cut), so of several conductors only one offloads a
 * server, and an unshelve racing it either wins or finds it offloading.
 */

/** Starts the offloads due now; answers the flows started (`run` drives each). */
export async function offloadShelved(db: Db, config: Config, log: Logger, run: (flowUuid: string) => void): Promise<string[]> {
  const offloadTime = config.num('DEFAULT', 'shelved_offload_time');
  // 0: shelve offloads at once (the shelve flow's own step); -1: never.
  if (offloadTime <= 0) return [];
  const before = new Date(Date.now() - offloadTime * 1000).toISOString();
  const started: string[] = [];
  for (const uuid of await shelvedBefore(db, before, 100)) {
    const row = await getInstanceRow(db, uuid);
    if (!row) continue;
    const ctx = systemContext();
    let flow;
    try {
      flow = await startInstanceFlow(db, {
        taskState: TaskState.SHELVING_OFFLOADING, vmStates: [VmState.SHELVED], taskStates: [null], shelvedBefore: before,
        action: { name: 'shelveOffload', projectId: row.project_id, userId: row.user_id }, firstEvent: SHELVE_OFFLOAD_EVENT,
        flow: {
          kind: 'shelve-offload', instanceUuid: uuid, step: 'offload', payload: {}, requestId: ctx.requestId,
          userId: row.user_id, projectId: row.project_id,
        },
      });
    } catch (err) {
      // Another flow of the instance under way (the database's refusal): it is not ours to offload.
      log.info({ instance: uuid, err: errorMessage(err) }, 'shelved instance not offloaded: it is busy');
      continue;
    }
    if (!flow) continue; // unshelved, deleted or taken by another conductor meanwhile
    log.info({ instance: uuid, flow: flow.flowUuid }, 'offloading shelved instance');
    run(flow.flowUuid);
    started.push(flow.flowUuid);
  }
  return started;
}

/** Runs the offload every shelved_poll_interval seconds; returns what stops it. */
export function startShelvedOffload(db: Db, config: Config, log: Logger, run: (flowUuid: string) => void): () => void {
  const interval = config.num('DEFAULT', 'shelved_poll_interval');
  if (interval <= 0 || config.num('DEFAULT', 'shelved_offload_time') <= 0) return () => undefined;
  const timer = setInterval(() => {
    offloadShelved(db, config, log, run).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'shelved offload failed'));
  }, interval * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
