import type { Db } from './connection.js';
import { finishEvent, startEvent } from './instance-actions.js';
import { updateInstanceRowOnce, type InstanceRow, type InstanceRowUpdates, type UpdateOptions } from './instances.js';
import { atomically } from './transactions.js';

/** An action event written with an instance update: started by `host`, and/or finished. */
export interface EventWithUpdate {
  event: string;
  requestId: string;
  start?: { host: string };
  finish?: { result: 'Success' | 'Error'; traceback: string | null };
}

/**
 * Updates an instance and records the action event it carries in one transaction (conductor
 * RPC 1.5): both land or neither. An update found made already (a retry whose first answer was
 * lost, `repeatable`) writes its event no second time: it landed with that first update.
 */
export function updateInstanceWithEvent(
  db: Db, uuid: string, updates: InstanceRowUpdates, expectedTaskState: Array<string | null> | undefined, opts: UpdateOptions,
  ev: EventWithUpdate,
): Promise<InstanceRow> {
  return atomically(db, async (tx) => {
    const { applied, row } = await updateInstanceRowOnce(tx, uuid, updates, expectedTaskState, opts);
    if (applied && ev.start) await startEvent(tx, uuid, ev.requestId, ev.event, ev.start.host);
    if (applied && ev.finish) await finishEvent(tx, uuid, ev.requestId, ev.event, ev.finish.result, ev.finish.traceback, null);
    return row;
  });
}
