import type { ImageClient } from '../clients/image-client.js';
import type { Config } from '../common/config.js';
import { Conflict, errorMessage, NotFound, statusOf } from '../common/errors.js';
import { logLifecycle, type Logger } from '../common/logging.js';
import { buildsErrored, buildsRescheduled } from '../common/metrics.js';
import { TimeSlice } from '../common/time-slice.js';
import { sleep } from '../common/time.js';
import type { Db } from '../db/connection.js';
import { releaseResources } from '../db/allocations.js';
import * as builds from '../db/builds.js';
import { updateInstanceWithEvent } from '../db/instance-updates.js';
import { upsertComputeNodes } from '../db/compute-nodes.js';
import { completeEvacuation, evacuationsFromHost, recordMoveProgress } from '../db/move-records.js';
import { addFault, finishEvent, startEvent, startEvents } from '../db/instance-actions.js';
import {
  getInstance, getInstanceRow, instancesOnHost, markInstanceDeleted, metadataFor, rowToInstance, updateInstanceRow, updateInstanceRowReturning,
  type InstanceRow, type InstanceRowUpdates,
} from '../db/instances.js';
import { reportService, ServiceHeartbeat } from '../db/service-heartbeat.js';
import { computePin } from '../db/services.js';
import { availabilityZoneOfHost } from '../db/aggregates.js';
import type { Instance, RequestSpec } from '../objects/compute.js';
import { TaskState, VmState } from '../objects/states.js';
import { mayPassLater, RpcTimeout, type Bus, type RpcContext, type Subscription } from '../rpc/bus.js';
import { ComputeRpcApi } from '../rpc/compute-api.js';
import { CONDUCTOR_API, CONDUCTOR_RPC_VERSION, CONDUCTOR_TOPIC, type ConductorHandlers, type InstanceUpdates } from '../rpc/conductor-api.js';
import { dispatcher } from '../rpc/dispatch.js';
import { SchedulerRpcApi } from '../rpc/scheduler-api.js';
import { ClusterOwnership } from './cluster.js';
import { startReclaim } from './reclaim.js';
import { ALL_FLOWS } from './flows/index.js';
import { confirmOverdueResizes } from './flows/resize.js';
import { startShelvedOffload } from './shelve-offload.js';
import { liveFlowOf, resumeWaitingFlow } from '../db/task-flows.js';
import { TaskEngine } from './task-engine.js';
import { newUuid } from '../common/ids.js';

const SCHEDULE_EVENT = 'conductor_schedule_and_build_instances';

/** Task states of a build its compute service has taken up (Nova's, before the guest exists). */
const BUILD_TASK_STATES_ON_HOST: string[] = [TaskState.BLOCK_DEVICE_MAPPING, TaskState.NETWORKING, TaskState.SPAWNING];

/**
 * The conductor: owns every multi-step flow (build and reschedule today; moves later) and is
 * the database for compute services, which never touch it themselves.
 */
export class ConductorService {
  private sub?: Subscription;
  private readonly heartbeat: ServiceHeartbeat;
  private scheduler!: SchedulerRpcApi;
  private compute!: ComputeRpcApi;
  private stopReclaim: () => void = () => undefined;
  private engine?: TaskEngine;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopOffload: () => void = () => undefined;
  /** This conductor's name as the owner of the task flows it drives: unique per process run. */
  private readonly flowOwner: string;

  /** `images`: the image API with the service user's credentials, for the flows' transfer and shelve images. */
  constructor(
    private readonly db: Db, private readonly config: Config, private readonly log: Logger, host: string,
    private readonly images: ImageClient | null = null,
  ) {
    this.flowOwner = `${host}:${process.pid}:${newUuid().slice(0, 8)}`;
    this.heartbeat = new ServiceHeartbeat(db, config, { host, binary: 'nova-conductor', topic: CONDUCTOR_TOPIC, version: CONDUCTOR_RPC_VERSION });
  }

  async start(bus: Bus): Promise<void> {
    const timeout = this.config.num('DEFAULT', 'rpc_response_timeout') * 1000;
    this.scheduler = new SchedulerRpcApi(bus, timeout);
    this.compute = new ComputeRpcApi(bus, timeout, () => computePin(this.db, this.config));
    this.engine = new TaskEngine({
      db: this.db, config: this.config, log: this.log, compute: this.compute, scheduler: this.scheduler, images: this.images,
      stepTimeoutMs: this.config.num('conductor', 'move_step_timeout') * 1000,
    }, this.flowOwner, ALL_FLOWS);
    this.sub = await bus.serve(CONDUCTOR_TOPIC, dispatcher(CONDUCTOR_API, this.handlers()));
    await this.heartbeat.start();
    this.stopReclaim = startReclaim(this.db, this.config, this.compute, this.log);
    this.engine.start();
    this.startAutoConfirm();
    const engine = this.engine;
    this.stopOffload = startShelvedOffload(this.db, this.config, this.log, (flow) => engine.kick(flow));
  }

  /** Confirms resizes left in VERIFY_RESIZE past resize_confirm_window (Nova's _poll_unconfirmed_resizes). */
  private startAutoConfirm(): void {
    const window = this.config.num('DEFAULT', 'resize_confirm_window');
    if (window <= 0) return;
    const t = setInterval(() => {
      confirmOverdueResizes(this.db, window)
        .then((flows) => flows.forEach((f) => this.engine?.kick(f)))
        .catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'automatic resize confirmation failed'));
    }, Math.min(window, 60) * 1000);
    t.unref();
    this.timers.push(t);
  }

  /** The conductor's side of CONDUCTOR_API: one handler per method, typed by its definition (served by start()). */
  handlers(): ConductorHandlers {
    const db = this.db;
    const cluster = new ClusterOwnership(db, this.config, this.log);
    // 1.4: writes about a shared node carry the claim the compute holds (see cluster.ts).
    const guarded = cluster.guarded.bind(cluster);
    return {
      ...cluster.methods(),
      build_instances: async (args, ctx) => {
        await this.buildInstances(ctx, args.instances, args.spec);
      },
      build_failed: async (args, ctx) => {
        await this.buildFailed(ctx, args.spec, args.uuid, args.host, args.message, args.retryable);
      },
      instance_get: async (args) => getInstance(db, args.uuid),
      instance_update: async (args, ctx) => {
        const { uuid, actionEvent: ev } = args;
        const updates = toRowUpdates(args.updates);
        const expected = args.expectedTaskState ?? undefined;
        // A call redelivered after its first handling committed (the conductor that had it was
        // killed before answering) finds the instance as it left it: that is success.
        const opts = { repeatable: true };
        // 1.1: a caller that reads nothing back says so; 1.0 callers always get the instance.
        const answer = async (row: InstanceRow) =>
          (args.returnInstance ? rowToInstance(row, (await metadataFor(db, [uuid])).get(uuid) ?? {}) : null);
        if (!ev) {
          if (!args.returnInstance) {
            await guarded(args.claim, (tx) => updateInstanceRow(tx, uuid, updates, expected, opts));
            return null;
          }
          return answer(await guarded(args.claim, (tx) => updateInstanceRowReturning(tx, uuid, updates, expected, opts)));
        }
        // 1.5: the action event it carries is written in the update's transaction, under its
        // claim; the caller's retry of the update brings the event again.
        const event = { ...ev, requestId: ctx.requestId };
        return answer(await guarded(args.claim, (tx) => updateInstanceWithEvent(tx, uuid, updates, expected, opts, event)));
      },
      instances_on_host: async (args) => instancesOnHost(db, args.host),
      instance_destroyed: async (args) => {
        await guarded(args.claim, (tx) => markInstanceDeleted(tx, args.uuid));
        await releaseResources(db, args.uuid);
        await this.confirmDeletedResize(args.uuid);
        logLifecycle(this.log, 'deleted', args.uuid);
      },
      // 1.2: a restarted compute gives up the builds its previous run did not finish.
      instance_build_aborted: async ({ uuid, host, message }, ctx) => {
        if (await this.failBuild(ctx, uuid, message, host, { taskStates: BUILD_TASK_STATES_ON_HOST, host })) return true;
        // Asked again after the first call committed (its answer lost): already given up, still yes,
        // so that the compute removes the half-built guest.
        const row = await getInstanceRow(db, uuid);
        return row !== null && row.host === host && row.vm_state === VmState.ERROR && row.task_state === null;
      },
      instance_fault_create: async (args) => {
        await addFault(db, { instanceUuid: args.uuid, code: args.code, message: args.message, details: args.details, host: args.host });
      },
      action_event_start: async (args, ctx) => {
        await guarded(args.claim, (tx) => startEvent(tx, args.uuid, ctx.requestId, args.event, args.host));
      },
      action_event_finish: async (args, ctx) => {
        await finishEvent(db, args.uuid, ctx.requestId, args.event, args.result, args.traceback, args.details);
      },
      service_report: async ({ report, driverStatus }) => {
        if (driverStatus) this.log.debug({ host: report.host, ...driverStatus }, 'driver status');
        return reportService(db, report, driverStatus);
      },
      run_flow: async ({ flowUuid }) => this.runFlow(flowUuid),
      migration_progress: async ({ migrationUuid, progress }) => recordMoveProgress(db, migrationUuid, progress),
      evacuations_from_host: async ({ host }) => evacuationsFromHost(db, host),
      evacuation_cleaned: async ({ migrationUuid }) => completeEvacuation(db, migrationUuid),
      compute_nodes_update: async ({ host, nodes }) => {
        const refused = await upsertComputeNodes(db, host, nodes);
        if (refused.length > 0) this.log.warn({ host, classes: refused }, 'compute reported inventory of classes that are not resource class names: left out');
      },
    };
  }

  /**
   * A server deleted while it waited in VERIFY_RESIZE: its destination guest is gone with it,
   * and the flow is confirmed so that the source removes what it kept (Nova confirms a resize
   * on delete).
   */
  private async confirmDeletedResize(uuid: string): Promise<void> {
    const flow = await liveFlowOf(this.db, uuid);
    if (flow?.status !== 'waiting' || flow.step !== 'verify') return;
    if (await resumeWaitingFlow(this.db, flow.uuid, 'verify', 'confirm', flow.requestId)) this.engine?.kick(flow.uuid);
  }

  /** Drives a task flow the API persisted, in the background (the cast is answered at once). */
  private async runFlow(flowUuid: string): Promise<void> {
    if (!this.engine) throw new Error('conductor not started');
    this.engine.kick(flowUuid);
  }

  /** Re-pins compute RPC to the lowest version a live compute speaks (SIGHUP). */
  refreshPins(): Promise<string> {
    return this.compute.refreshPin();
  }

  async stop(): Promise<void> {
    this.engine?.stop();
    for (const t of this.timers) clearInterval(t);
    this.stopOffload();
    this.stopReclaim();
    await this.sub?.close();
    this.heartbeat.stop();
  }

  /**
   * Schedules each instance and hands it to its node; no host → ERROR with a fault, as Nova.
   *
   * Exactly once in effect: a message is redelivered when the conductor handling it died before
   * acking (kill -9, a lost connection), and the redelivery finds some of its instances moved on
   * — placed and spawning, ACTIVE, ERROR, being deleted. Only those still waiting for a host
   * (task state scheduling) are this message's to build; the others are left alone. Only an
   * instance that is really gone gives a claim back here.
   *
   * A multi-create brings hundreds of instances in one message: the loops give the event loop a
   * turn every few ms (TimeSlice), so requests arriving meanwhile are not held behind all of them.
   */
  async buildInstances(ctx: RpcContext, instances: Instance[], spec: RequestSpec): Promise<void> {
    const waiting = await this.stillScheduling(instances);
    if (waiting.length === 0) return;
    const slice = new TimeSlice();
    await startEvents(this.db, waiting.map((i) => i.uuid), ctx.requestId, SCHEDULE_EVENT, null);
    let selections;
    try {
      selections = await this.selectDestinations(ctx, { ...spec, instanceUuids: waiting.map((i) => i.uuid) });
    } catch (err) {
      // The database failed the scheduler (or this conductor): the message is delivered again.
      if (statusOf(err) === 503) throw err;
      // Over RPC the scheduler's NoValidHost comes back as an error of that name.
      const reason = err instanceof Error && err.name === 'NoValidHost' ? 'no_valid_host' : 'failed';
      for (const inst of waiting) {
        if (await this.failBuild(ctx, inst.uuid, errorMessage(err), null, { taskStates: [TaskState.SCHEDULING] })) buildsErrored.inc({ reason });
        await slice.due();
      }
      return;
    }
    const byUuid = new Map(waiting.map((i) => [i.uuid, i]));
    for (const sel of selections) {
      await slice.due();
      const inst = byUuid.get(sel.instanceUuid)!;
      // The scheduler answers the zone of the host it chose; one older than that answers null.
      const az = sel.availabilityZone ?? await availabilityZoneOfHost(this.db, this.config, sel.host);
      let row: InstanceRow;
      try {
        // Placed, and its schedule event finished, in one transaction.
        row = await builds.placeBuild(this.db, inst.uuid, { host: sel.host, node: sel.node, nodeUuid: sel.nodeUuid, availabilityZone: az },
          { requestId: ctx.requestId, event: SCHEDULE_EVENT });
      } catch (err) {
        if (err instanceof NotFound) {
          // Deleted while it was scheduled: give the claim just made back.
          this.log.info({ instance: inst.uuid }, 'instance deleted before build; releasing claim');
          await releaseResources(this.db, inst.uuid);
          continue;
        }
        if (err instanceof Conflict) {
          // Moved on meanwhile (an earlier delivery's build reached its compute, or a delete):
          // the selection answered that build's own claim, which stays.
          this.log.info({ instance: inst.uuid, err: errorMessage(err) }, 'build already under way; nothing to do');
          continue;
        }
        throw err;
      }
      // The metadata in hand is current: it cannot change while the instance builds (the
      // metadata API refuses vm_state building). Deleted meanwhile: the compute's first update fails.
      const placed = rowToInstance(row, inst.metadata);
      logLifecycle(this.log, 'scheduled', inst.uuid, { host: sel.host, node: sel.node, attempt: spec.attempt + 1 });
      await this.compute.buildAndRunInstance(ctx, placed, sel.node, { ...spec, instanceUuids: [inst.uuid] });
    }
  }

  /**
   * The instances still waiting for a host. Those gone (deleted while a first delivery had
   * them scheduled) give back any claim that delivery made; those whose build moved on are skipped.
   */
  private async stillScheduling(instances: Instance[]): Promise<Instance[]> {
    const live = await builds.liveTaskStates(this.db, instances.map((i) => i.uuid));
    const waiting: Instance[] = [];
    for (const inst of instances) {
      if (!live.has(inst.uuid)) {
        await releaseResources(this.db, inst.uuid);
        continue;
      }
      const taskState = live.get(inst.uuid);
      if (taskState === TaskState.SCHEDULING) waiting.push(inst);
      else this.log.info({ instance: inst.uuid, taskState }, 'build message redelivered after its build moved on; nothing to do');
    }
    return waiting;
  }

  /**
   * Asks the scheduler, again when its reply was lost (a broker outage) or its database failed
   * it (503): selection is idempotent per instance, so a repeated request returns the claims
   * already made.
   */
  private async selectDestinations(ctx: RpcContext, spec: RequestSpec) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.scheduler.selectDestinations(ctx, spec);
      } catch (err) {
        if (!mayPassLater(err) || attempt >= 3) throw err;
        this.log.warn({ attempt, err: errorMessage(err) }, 'scheduler did not answer; asking again');
        // A timeout has waited already; a database failure answers at once.
        if (!(err instanceof RpcTimeout)) await sleep(1000 * attempt);
      }
    }
  }

  /**
   * A compute service could not spawn: release its claim, then reschedule or fail. Only a build
   * still spawning on that host is acted on, so a redelivered report changes nothing — except
   * one whose first handling took the instance off the host and died before scheduling it again,
   * which resumes there.
   */
  async buildFailed(ctx: RpcContext, spec: RequestSpec, uuid: string, host: string, message: string, retryable: boolean): Promise<void> {
    const row = await getInstanceRow(this.db, uuid);
    if (!row) {
      await releaseResources(this.db, uuid);
      return;
    }
    if (row.task_state === TaskState.DELETING) {
      // Its compute destroyed the failed guest already; the delete's own message finds it gone.
      await markInstanceDeleted(this.db, uuid);
      await releaseResources(this.db, uuid);
      return;
    }
    const onHost = row.task_state === TaskState.SPAWNING && row.host === host;
    const unplaced = row.task_state === TaskState.SCHEDULING && row.host === null;
    const attempt = spec.attempt + 1;
    const final = !retryable || attempt >= this.config.num('DEFAULT', 'scheduler_max_attempts');
    if (!onHost && !(unplaced && !final)) {
      this.log.info({ instance: uuid, taskState: row.task_state, host: row.host }, 'build failure reported again after it was handled; nothing to do');
      return;
    }
    if (final) {
      if (await this.failBuild(ctx, uuid, `Build of instance ${uuid} aborted: ${message}`, host, { taskStates: [TaskState.SPAWNING], host })) {
        buildsErrored.inc({ reason: 'failed' });
      }
      return;
    }
    if (onHost && !(await builds.unplaceBuild(this.db, uuid, { taskStates: [TaskState.SPAWNING], host }))) return;
    const inst = await getInstance(this.db, uuid);
    if (!inst) return;
    buildsRescheduled.inc();
    await this.buildInstances(ctx, [inst], { ...spec, instanceUuids: [uuid], attempt, ignoreHosts: [...spec.ignoreHosts, host] });
  }

  /** Ends a build in ERROR with a fault and releases its claim, if the build is still at `at`. */
  private async failBuild(ctx: RpcContext, uuid: string, message: string, host: string | null, at: builds.BuildAt): Promise<boolean> {
    if (!(await builds.failBuild(this.db, uuid, at, { message, host }))) return false;
    logLifecycle(this.log, 'error', uuid, { host, reason: message });
    await finishEvent(this.db, uuid, ctx.requestId, SCHEDULE_EVENT, 'Error', message, null);
    return true;
  }
}

/** RPC updates (camelCase, a fixed set) to row columns. */
function toRowUpdates(u: InstanceUpdates): InstanceRowUpdates {
  const out: InstanceRowUpdates = {};
  if (u.vmState !== undefined) out.vm_state = u.vmState;
  if (u.taskState !== undefined) out.task_state = u.taskState;
  if (u.powerState !== undefined) out.power_state = u.powerState;
  if (u.launchedAt !== undefined) out.launched_at = u.launchedAt;
  if (u.host !== undefined) out.host = u.host;
  if (u.node !== undefined) out.node = u.node;
  if (u.progress !== undefined) out.progress = u.progress;
  if (u.networkInfo !== undefined) out.network_info = u.networkInfo === null ? null : JSON.stringify(u.networkInfo);
  return out;
}


