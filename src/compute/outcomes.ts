import { isDriverError } from '@orrery/virt-api';
import { errorMessage, statusOf } from '../common/errors.js';
import { logLifecycle, type Logger } from '../common/logging.js';
import { sleep } from '../common/time.js';
import type { Instance } from '../objects/compute.js';
import { mayPassLater, type RpcContext } from '../rpc/bus.js';
import type { ActionEventUpdate, ConductorRpcApi, InstanceUpdates } from '../rpc/conductor-api.js';

/**
 * How a compute service records what its operations did — through the conductor, since it never
 * touches the database: calls that must land (retried through a broker outage or the
 * conductor's database failing), instance updates with their action events, and failures as
 * faults. Split from manager.ts, which runs the operations.
 */

/** The compute service never reads back the instance it updates. */
export const NO_RETURN = { returnInstance: false } as const;

/** An action event's successful finish. */
export const SUCCESS = { result: 'Success', traceback: null } as const;

/** How often a conductor call that must land is tried before the operation gives up. */
const LANDING_ATTEMPTS = 8;

/** An instance operation: its action event name, the task state it runs under, and what it does. */
export interface Operation {
  event: string;
  taskStates: string[];
  run(inst: Instance): Promise<InstanceUpdates>;
}

export class OutcomeRecorder {
  constructor(private readonly conductor: ConductorRpcApi, private readonly host: string, private readonly log: Logger) {}

  /**
   * A conductor call that must land: retried while the bus times out (a broker outage) or the
   * conductor answers 503 (its database unreachable). The calls retried this way are idempotent.
   */
  async landed<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (!mayPassLater(err) || attempt >= LANDING_ATTEMPTS) throw err;
        this.log.warn({ attempt, err: errorMessage(err) }, 'conductor did not answer; retrying');
        await sleep(Math.min(500 * 2 ** attempt, 10_000));
      }
    }
  }

  /**
   * An instance update that must land. With an expected task state, a conflict after an attempt
   * that timed out or failed with the database means that attempt landed (its answer was lost),
   * so it counts as done. An action `event` goes with it (conductor 1.5: in its transaction, retried
   * and landing with it; else separate calls after it), and failing to record it never fails the update.
   */
  async update(ctx: RpcContext, uuid: string, updates: InstanceUpdates, expected?: Array<string | null>, event?: ActionEventUpdate): Promise<void> {
    const onEventError = (err: unknown) => this.log.warn({ instance: uuid, event: event?.event, err: errorMessage(err) }, 'could not record the action event');
    let unsure = false;
    let landedBefore = false;
    await this.landed(async () => {
      try {
        await this.conductor.instanceUpdate(ctx, uuid, updates, expected, { ...NO_RETURN, actionEvent: event, onEventError });
      } catch (err) {
        if (mayPassLater(err)) unsure = true;
        else if (unsure && expected && statusOf(err) === 409) {
          landedBefore = true;
          return;
        }
        throw err;
      }
    });
    if (landedBefore && event && !(await this.conductor.foldsActionEvents())) await this.conductor.recordActionEvent(ctx, uuid, event, onEventError);
  }

  /**
   * Runs one instance operation as an action event; on failure the fault is recorded, the task
   * state cleared, and the compute service carries on.
   */
  async runOperation(ctx: RpcContext, inst: Instance, op: Operation): Promise<void> {
    await this.conductor.actionEventStart(ctx, inst.uuid, op.event, this.host);
    try {
      const updates = await op.run(inst);
      // The final update records the event's finish (one call from conductor 1.5); if it fails,
      // neither landed, and the failure below finishes the event with Error.
      await this.update(ctx, inst.uuid, { ...updates, taskState: null }, op.taskStates, { event: op.event, finish: SUCCESS });
      if (updates.powerState !== undefined && updates.powerState !== inst.powerState) {
        logLifecycle(this.log, 'power_state', inst.uuid, { event: op.event, from: inst.powerState, to: updates.powerState, vm_state: updates.vmState });
      }
    } catch (err) {
      await this.recordFailure(ctx, inst, op.event, err);
      await this.conductor.instanceUpdate(ctx, inst.uuid, { taskState: null }, op.taskStates, NO_RETURN).catch(() => undefined);
    }
  }

  async recordFailure(ctx: RpcContext, inst: Instance, event: string, err: unknown): Promise<void> {
    const message = errorMessage(err);
    const code = isDriverError(err) ? err.code : 'DriverFault';
    this.log.warn({ instance: inst.uuid, event, code, err: message }, 'instance operation failed');
    const traceback = `${code}: ${message}`;
    await this.conductor.instanceFaultCreate(ctx, inst.uuid, 500, message, traceback, this.host).catch(() => undefined);
    await this.conductor.actionEventFinish(ctx, inst.uuid, event, 'Error', traceback).catch(() => undefined);
  }
}
