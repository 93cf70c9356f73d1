import type { Config } from '../common/config.js';
import { Conflict, errorMessage, NotFound, statusOf } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import { TimeSlice } from '../common/time-slice.js';
import { sleep } from '../common/time.js';
import type { Db } from '../db/connection.js';
import { releaseResources } from '../db/allocations.js';
import * as builds from '../db/builds.js';
import { upsertComputeNodes } from '../db/compute-nodes.js';
import { addFault, finishEvent, startEvent, startEvents } from '../db/instance-actions.js';
import {
  getInstance, getInstanceRow, instancesOnHost, markInstanceDeleted, metadataFor, rowToInstance, updateInstanceRow, updateInstanceRowReturning,
  type InstanceRow, type InstanceRowUpdates,
} from '../db/instances.js';
import { reportService, ServiceHeartbeat, type BackendHealth } from '../db/service-heartbeat.js';
import { computePin } from '../db/services.js';
import { availabilityZoneOfHost } from '../db/aggregates.js';
import { type Envelope, unwrap, wrap } from '../objects/envelope.js';
import type { ComputeNodeReport, Instance, RequestSpec } from '../objects/compute.js';
import { TaskState, VmState } from '../objects/states.js';
import { mayPassLater, RpcTimeout, type Bus, type RpcContext, type Subscription } from '../rpc/bus.js';
import { ComputeRpcApi } from '../rpc/compute-api.js';
import { CONDUCTOR_RPC_VERSION, CONDUCTOR_TOPIC, type InstanceUpdates, type ServiceReport } from '../rpc/conductor-api.js';
import { dispatcher } from '../rpc/dispatch.js';
import { SchedulerRpcApi } from '../rpc/scheduler-api.js';
import { ClusterOwnership } from './cluster.js';
import { startReclaim } from './reclaim.js';

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

  constructor(private readonly db: Db, private readonly config: Config, private readonly log: Logger, host: string) {
    this.heartbeat = new ServiceHeartbeat(db, config, { host, binary: 'nova-conductor', topic: CONDUCTOR_TOPIC, version: CONDUCTOR_RPC_VERSION });
  }

  async start(bus: Bus): Promise<void> {
    const timeout = this.config.num('DEFAULT', 'rpc_response_timeout') * 1000;
    this.scheduler = new SchedulerRpcApi(bus, timeout);
    this.compute = new ComputeRpcApi(bus, timeout, () => computePin(this.db, this.config));
    const db = this.db;
    // 1.4: writes about a shared node carry the claim the compute holds (see cluster.ts).
    const cluster = new ClusterOwnership(db, this.config, this.log);
    const guarded = cluster.guarded.bind(cluster);
    this.sub = await bus.serve(CONDUCTOR_TOPIC, dispatcher('conductor', CONDUCTOR_RPC_VERSION, {
      ...cluster.methods(),
      build_instances: async (args, ctx) => {
        const spec = unwrap<RequestSpec>(args.request_spec, 'RequestSpec');
        const instances = (args.instances as Envelope[]).map((e) => unwrap<Instance>(e, 'Instance'));
        await this.buildInstances(ctx, instances, spec);
      },
      build_failed: async (args, ctx) => {
        const spec = unwrap<RequestSpec>(args.request_spec, 'RequestSpec');
        await this.buildFailed(ctx, spec, args.instance_uuid as string, args.host as string, args.message as string, args.retryable as boolean);
      },
      instance_get: async (args) => {
        const inst = await getInstance(db, args.uuid as string);
        return inst ? wrap('Instance', inst) : null;
      },
      instance_update: async (args) => {
        const uuid = args.uuid as string;
        const updates = toRowUpdates(args.updates as InstanceUpdates);
        const expected = (args.expected_task_state as Array<string | null> | null) ?? undefined;
        // A call redelivered after its first handling committed (the conductor that had it was
        // killed before answering) finds the instance as it left it: that is success.
        const opts = { repeatable: true };
        // 1.1: a caller that reads nothing back says so; 1.0 callers always get the instance.
        if (args.return_instance === false) {
          await guarded(args, (tx) => updateInstanceRow(tx, uuid, updates, expected, opts));
          return null;
        }
        const row = await guarded(args, (tx) => updateInstanceRowReturning(tx, uuid, updates, expected, opts));
        return wrap('Instance', rowToInstance(row, (await metadataFor(db, [uuid])).get(uuid) ?? {}));
      },
      instances_on_host: async (args) => (await instancesOnHost(db, args.host as string)).map((i) => wrap('Instance', i)),
      instance_destroyed: async (args) => {
        await guarded(args, (tx) => markInstanceDeleted(tx, args.uuid as string));
        await releaseResources(db, args.uuid as string);
      },
      // 1.2: a restarted compute gives up the builds its previous run did not finish.
      instance_build_aborted: async (args, ctx) => {
        const uuid = args.uuid as string;
        const host = args.host as string;
        if (await this.failBuild(ctx, uuid, args.message as string, host, { taskStates: BUILD_TASK_STATES_ON_HOST, host })) return true;
        // Asked again after the first call committed (its answer lost): already given up, still yes,
        // so that the compute removes the half-built guest.
        const row = await getInstanceRow(db, uuid);
        return row !== null && row.host === host && row.vm_state === VmState.ERROR && row.task_state === null;
      },
      instance_fault_create: async (args) => {
        await addFault(db, {
          instanceUuid: args.uuid as string, code: args.code as number, message: args.message as string,
          details: args.details as string, host: args.host as string | null,
        });
      },
      action_event_start: async (args, ctx) => {
        await guarded(args, (tx) => startEvent(tx, args.uuid as string, ctx.requestId, args.event as string, args.host as string));
      },
      action_event_finish: async (args, ctx) => {
        await finishEvent(db, args.uuid as string, ctx.requestId, args.event as string,
          args.result as 'Success' | 'Error', args.traceback as string | null, args.details as string | null);
      },
      service_report: async (args) => {
        const health = backendHealth(args.driver_status);
        if (health) this.log.debug({ host: args.host, ...health }, 'driver status');
        return reportService(db, args as unknown as ServiceReport, health);
      },
      compute_nodes_update: async (args) => {
        const nodes = (args.nodes as Envelope[]).map((e) => unwrap<ComputeNodeReport>(e, 'ComputeNodeReport'));
        const refused = await upsertComputeNodes(db, args.host as string, nodes);
        if (refused.length > 0) this.log.warn({ host: args.host, classes: refused }, 'compute reported inventory of classes that are not resource class names: left out');
      },
    }));
    await this.heartbeat.start();
    this.stopReclaim = startReclaim(db, this.config, this.compute, this.log);
  }

  /** Re-pins compute RPC to the lowest version a live compute speaks (SIGHUP). */
  refreshPins(): Promise<string> {
    return this.compute.refreshPin();
  }

  async stop(): Promise<void> {
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
      for (const inst of waiting) {
        await this.failBuild(ctx, inst.uuid, errorMessage(err), null, { taskStates: [TaskState.SCHEDULING] });
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
      await this.failBuild(ctx, uuid, `Build of instance ${uuid} aborted: ${message}`, host, { taskStates: [TaskState.SPAWNING], host });
      return;
    }
    if (onHost && !(await builds.unplaceBuild(this.db, uuid, { taskStates: [TaskState.SPAWNING], host }))) return;
    const inst = await getInstance(this.db, uuid);
    if (!inst) return;
    await this.buildInstances(ctx, [inst], { ...spec, instanceUuids: [uuid], attempt, ignoreHosts: [...spec.ignoreHosts, host] });
  }

  /** Ends a build in ERROR with a fault and releases its claim, if the build is still at `at`. */
  private async failBuild(ctx: RpcContext, uuid: string, message: string, host: string | null, at: builds.BuildAt): Promise<boolean> {
    if (!(await builds.failBuild(this.db, uuid, at, { message, host }))) return false;
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
  return out;
}


/**
 * The driver status a 1.3 service_report carries ({ reachable, latency_ms, message }), or
 * undefined when there is none or it is malformed (a report is never refused for it).
 */
function backendHealth(raw: unknown): BackendHealth | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.reachable !== 'boolean') return undefined;
  const latency = typeof r.latency_ms === 'number' && Number.isFinite(r.latency_ms) && r.latency_ms >= 0 ? r.latency_ms : null;
  const message = typeof r.message === 'string' ? r.message.slice(0, 255) : '';
  return { reachable: r.reachable, latencyMs: latency, message };
}
