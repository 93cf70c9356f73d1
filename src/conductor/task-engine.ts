import type { ImageClient } from '../clients/image-client.js';
import type { Config } from '../common/config.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import { sleep } from '../common/time.js';
import type { Db } from '../db/connection.js';
import { atomically } from '../db/transactions.js';
import * as flows from '../db/task-flows.js';
import type { FlowRow } from '../db/task-flows.js';
import { mayPassLater, type RpcContext } from '../rpc/bus.js';
import type { ComputeRpcApi } from '../rpc/compute-api.js';
import type { SchedulerRpcApi } from '../rpc/scheduler-api.js';

/**
 * The conductor's task engine: a move (resize, migration, live migration, evacuation), a
 * shelve or an unshelve is a flow of steps persisted in task_flows, driven by whichever live
 * conductor holds its lease. A step does its work — usually one idempotent call to a compute —
 * and answers a Transition; the engine writes the transition's effects (instance, migration
 * record, claims) and the flow's next step in one transaction, checked against the owner and the
 * step, so a conductor that lost the flow writes nothing. A conductor killed mid-step leaves the
 * flow at that step; once its lease runs out another conductor runs the step again, which is why
 * every step is idempotent. Nothing of a flow lives only in memory.
 */

/** What a flow's steps use. */
export interface StepEnv {
  db: Db;
  config: Config;
  log: Logger;
  compute: ComputeRpcApi;
  scheduler: SchedulerRpcApi;
  /** The image API with the service user's credentials (transfer and shelve images). */
  images: ImageClient | null;
  /** Milliseconds a step's compute call may take ([conductor] move_step_timeout). */
  stepTimeoutMs: number;
}

/** One run of one step. */
export interface StepRun {
  flow: FlowRow;
  /** The request's context (its id names the instance action the flow's events belong to). */
  ctx: RpcContext;
  env: StepEnv;
}

/** Where a step leads. */
export interface Transition {
  /** The next step, or 'done' (the flow ended). */
  next: string;
  /** Stop at `next` until the user (or a periodic task) resumes the flow: VERIFY_RESIZE. */
  wait?: boolean;
  /** Merged into the flow's payload. */
  payload?: Record<string, unknown>;
  /** The step's effects, written in the transaction that advances the flow (only if it still may). */
  write?(tx: Db): Promise<void>;
}

export type Step = (run: StepRun) => Promise<Transition>;

export interface FlowDef {
  kind: string;
  steps: Readonly<Record<string, Step>>;
  /**
   * A step failed for good (not a transient failure): the way back. Answers the transition to
   * the flow's rollback (recording the fault in its write), or null when the failed step was
   * itself a rollback or cleanup step, and the engine gives up (giveUp).
   */
  onError(step: string, err: unknown, run: StepRun): Transition | null;
  /**
   * The last resort: the instance to ERROR with a fault, its claims settled so none leaks —
   * written with the flow's end.
   */
  giveUp(run: StepRun, err: unknown): (tx: Db) => Promise<void>;
}

/** Tries of a step failing transiently (a compute or the database unreachable) before it counts as failed. */
const TRANSIENT_ATTEMPTS = 6;
/** How many flows one poll takes up. */
const POLL_BATCH = 20;

export const DONE = 'done';

export class TaskEngine {
  private readonly defs = new Map<string, FlowDef>();
  /** The flows this conductor drives now (their leases renewed). */
  private readonly driving = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private readonly leaseMs: number;

  constructor(private readonly env: StepEnv, private readonly owner: string, defs: FlowDef[]) {
    for (const d of defs) this.defs.set(d.kind, d);
    this.leaseMs = env.config.num('conductor', 'flow_lease') * 1000;
  }

  /** Starts the lease renewal and the poll for flows nobody drives (those of a dead conductor, or whose run_flow was lost). */
  start(): void {
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const t = setInterval(() => void fn().catch((err: unknown) => this.env.log.warn({ err: errorMessage(err) }, 'task engine periodic task failed')), ms);
      t.unref();
      this.timers.push(t);
    };
    every(Math.max(200, this.leaseMs / 3), () => flows.renewLeases(this.env.db, this.owner, [...this.driving], this.leaseMs));
    every(Math.max(200, this.env.config.num('conductor', 'flow_poll_interval') * 1000), () => this.poll());
    void this.poll().catch(() => undefined);
  }

  /** Stops taking flows up; the flows under way give their leases back when their step ends. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /** Takes up flows nobody holds. */
  async poll(): Promise<void> {
    if (this.stopped) return;
    for (const uuid of await flows.orphanedFlows(this.env.db, POLL_BATCH)) this.kick(uuid);
  }

  /** Drives `uuid` in the background (run_flow, the poll): a flow already driven here is left alone. */
  kick(uuid: string): void {
    if (this.driving.has(uuid) || this.stopped) return;
    void this.drive(uuid).catch((err: unknown) => this.env.log.error({ flow: uuid, err: errorMessage(err) }, 'task flow run failed'));
  }

  /** Drives a flow until it ends, waits, or is lost; answers when this run stops. */
  async drive(uuid: string): Promise<void> {
    if (this.driving.has(uuid)) return;
    this.driving.add(uuid);
    try {
      let flow = await flows.takeFlow(this.env.db, uuid, this.owner, this.leaseMs);
      while (flow && flow.status === 'running' && !this.stopped) flow = await this.runStep(flow);
      if (flow && this.stopped) await flows.releaseLease(this.env.db, this.owner, uuid).catch(() => undefined);
    } finally {
      this.driving.delete(uuid);
    }
  }

  /** Runs the flow's current step and commits where it leads; answers the flow as it is then (null: lost or ended). */
  private async runStep(flow: FlowRow): Promise<FlowRow | null> {
    const def = this.defs.get(flow.kind);
    if (!def) {
      this.env.log.error({ flow: flow.uuid, kind: flow.kind }, 'task flow of an unknown kind: left for a conductor that knows it');
      await flows.releaseLease(this.env.db, this.owner, flow.uuid);
      return null;
    }
    const run: StepRun = { flow, ctx: contextOf(flow), env: this.env };
    const step = Object.hasOwn(def.steps, flow.step) ? def.steps[flow.step] : undefined;
    let transition: Transition;
    try {
      if (!step) throw new Error(`flow ${flow.kind} has no step ${flow.step}`);
      this.env.log.debug({ flow: flow.uuid, kind: flow.kind, step: flow.step, attempt: flow.attempt }, 'task flow step');
      transition = await step(run);
    } catch (err) {
      if (mayPassLater(err) && flow.attempt + 1 < TRANSIENT_ATTEMPTS) {
        this.env.log.warn({ flow: flow.uuid, step: flow.step, attempt: flow.attempt, err: errorMessage(err) }, 'task flow step failed for now; trying again');
        const again = { step: flow.step, status: flow.status, payload: flow.payload, attempt: flow.attempt + 1 };
        if (!(await this.commit(flow, again))) return null;
        await sleep(Math.min(1000 * 2 ** flow.attempt, 15_000));
        return { ...flow, attempt: flow.attempt + 1 };
      }
      this.env.log.warn({ flow: flow.uuid, kind: flow.kind, step: flow.step, err: errorMessage(err) }, 'task flow step failed');
      transition = def.onError(flow.step, err, run) ?? { next: DONE, write: def.giveUp(run, err) };
    }
    return this.advance(def, run, transition);
  }

  /**
   * Commits where a step led. A write that fails for good (not the database being away) is the
   * step failing: its way back is committed instead, and failing that, the give-up — so that no
   * flow is left running to fail the same way at every takeover.
   */
  private async advance(def: FlowDef, run: StepRun, transition: Transition, depth = 0): Promise<FlowRow | null> {
    const { flow } = run;
    const payload = { ...flow.payload, ...transition.payload };
    const status: flows.FlowStatus = transition.next === DONE ? 'done' : transition.wait ? 'waiting' : 'running';
    const to = { step: transition.next, status, payload, attempt: 0 };
    try {
      if (!(await this.commit(flow, to, transition.write))) return null;
    } catch (err) {
      if (mayPassLater(err) || depth >= 2) throw err;
      this.env.log.error({ flow: flow.uuid, step: flow.step, err: errorMessage(err) }, 'task flow step could not record its outcome');
      const back = depth === 0 ? def.onError(flow.step, err, run) : null;
      return this.advance(def, run, back ?? { next: DONE, write: def.giveUp(run, err) }, back ? depth + 1 : 2);
    }
    return { ...flow, ...to };
  }

  /** Writes a step's effects and the flow's advance in one transaction; false when the flow is no longer this conductor's at that step. */
  private async commit(flow: FlowRow, to: flows.FlowAdvance, write?: (tx: Db) => Promise<void>): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await atomically(this.env.db, async (tx) => {
          if (!(await flows.advanceFlow(tx, flow.uuid, this.owner, flow.step, to))) return false;
          await write?.(tx);
          return true;
        });
      } catch (err) {
        // The database unreachable: the step's work is done and idempotent; keep trying to record it.
        if (!mayPassLater(err) || attempt >= TRANSIENT_ATTEMPTS) throw err;
        await sleep(1000 * attempt);
      }
    }
  }
}

/** The context a flow's steps act in: the request that started it (its instance action), as an admin. */
function contextOf(flow: FlowRow): RpcContext {
  return { requestId: flow.requestId, userId: flow.userId, projectId: flow.projectId, roles: ['admin'], isAdmin: true };
}
