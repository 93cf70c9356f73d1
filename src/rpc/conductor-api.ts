import { Type } from '@sinclair/typebox';
import { unwrap, wrap } from '../objects/envelope.js';
// Registers the objects these messages carry.
import '../objects/compute.js';
import type { MoveProgress } from '@orrery/virt-api';
import type { ComputeNodeReport, Instance, RequestSpec } from '../objects/compute.js';
import type { VifInfo } from '../objects/network.js';
import type { Bus, RpcContext } from './bus.js';
import { call, cast, defineApi, EnvelopeWire, knows, Str, StrOrNull, voidCall, type ApiSignatures, type Handlers } from './definition.js';
import { RpcClient } from './dispatch.js';
import { claimOf, type NodeClaim } from './node-ownership.js';

export const CONDUCTOR_TOPIC = 'conductor';
export const CONDUCTOR_RPC_VERSION = '1.7';

/** The node claim of 1.4, read leniently (claimOf): a malformed one is no claim, as it always was. */
const NodeClaimWire = Type.Optional(Type.Unknown());

export interface InstanceUpdates {
  vmState?: string;
  taskState?: string | null;
  powerState?: number;
  launchedAt?: string;
  host?: string | null;
  node?: string | null;
  progress?: number;
  /** 1.7: the server's ports, written to its info cache (instances.network_info). */
  networkInfo?: VifInfo[] | null;
}

const InstanceUpdatesWire = Type.Object({
  vmState: Type.Optional(Str), taskState: Type.Optional(StrOrNull), powerState: Type.Optional(Type.Number()),
  launchedAt: Type.Optional(Str), host: Type.Optional(StrOrNull), node: Type.Optional(StrOrNull), progress: Type.Optional(Type.Number()),
  networkInfo: Type.Optional(Type.Union([Type.Array(Type.Unknown(), { maxItems: 64 }), Type.Null()])),
});

/** A receiver older than 1.7 does not know the info cache: it is left out, as Nova's compute leaves it to the heal task. */
function updatesAt(pin: string, u: InstanceUpdates): InstanceUpdates {
  if (u.networkInfo === undefined || knows(pin, '1.7')) return u;
  const { networkInfo: _newer, ...older } = u;
  return older;
}

/**
 * 1.5: an instance action event an instance_update records in its own transaction — started
 * (by `host`) and/or finished — so that a spawn costs two conductor calls, not four.
 */
export interface ActionEventUpdate {
  event: string;
  start?: { host: string };
  finish?: { result: 'Success' | 'Error'; traceback: string | null };
}

const ActionEventWire = Type.Object({
  event: Str,
  start: Type.Optional(Type.Object({ host: Str })),
  finish: Type.Optional(Type.Object({ result: Type.Union([Type.Literal('Success'), Type.Literal('Error')]), traceback: StrOrNull })),
});

/** A live migration's progress, bytes: the virt contract's report, as the compute relays it. */
export type { MoveProgress } from '@orrery/virt-api';

const Bytes = Type.Number({ minimum: 0 });
const MoveProgressWire = Type.Object({
  memoryTotal: Bytes, memoryProcessed: Bytes, memoryRemaining: Bytes, diskTotal: Bytes, diskProcessed: Bytes, diskRemaining: Bytes,
});

/** An instance evacuated from a host, as evacuations_from_host answers it. */
export interface EvacuatedInstance {
  migrationUuid: string;
  instanceUuid: string;
  /** The source node it was on. */
  node: string;
  /** The instance runs on its new host (migration status done): the source may remove its guest. */
  done: boolean;
}

export interface ServiceReport {
  host: string;
  binary: string;
  topic: string;
  version: string;
}

/** A compute's driver back-end health (virt contract 1.1 status()), carried by service_report since 1.3. */
export interface DriverStatusReport {
  reachable: boolean;
  latencyMs: number | null;
  message: string;
}

/**
 * The driver status of a 1.3 service_report ({ reachable, latency_ms, message }), or undefined
 * when there is none or it is malformed (a report is never refused for it).
 */
function driverStatusOf(raw: unknown): DriverStatusReport | undefined {
  if (typeof raw !== 'object' || raw === null || !('reachable' in raw) || typeof raw.reachable !== 'boolean') return undefined;
  const latency = 'latency_ms' in raw && typeof raw.latency_ms === 'number' && Number.isFinite(raw.latency_ms) && raw.latency_ms >= 0
    ? raw.latency_ms : null;
  const message = 'message' in raw && typeof raw.message === 'string' ? raw.message.slice(0, 255) : '';
  return { reachable: raw.reachable, latencyMs: latency, message };
}

export interface ServiceStatus {
  disabled: boolean;
  forcedDown: boolean;
}

export interface ClusterSyncRequest {
  host: string;
  cluster: string;
  seen: string[];
  nodes: ComputeNodeReport[];
  held: Array<{ nodeUuid: string; generation: number }>;
}

export interface ClusterSyncAnswer {
  owned: Array<{ uuid: string; node: string; generation: number }>;
  members: string[];
}

const instanceOrNull = {
  result: Type.Union([EnvelopeWire, Type.Null()]),
  encodeResult: (i: Instance | null) => (i ? wrap('Instance', i) : null),
  decodeResult: (env: unknown) => (env ? unwrap<Instance>(env, 'Instance') : null),
};

/**
 * Conductor RPC API: orchestration for the API, and the database for compute services
 * (which never touch it themselves).
 * 1.0: build_instances, build_failed, instance_get, instance_update, instances_on_host,
 *      instance_destroyed, instance_fault_create, action_event_start, action_event_finish,
 *      service_report, compute_nodes_update.
 * 1.1: instance_update takes return_instance (default true); false answers null, and the
 *      conductor reads nothing back.
 * 1.2: instance_build_aborted: a restarted compute gives up a build its previous run left
 *      unfinished (ERROR with a fault, claim released).
 * 1.3: service_report takes driver_status { reachable, latency_ms, message } (the compute's
 *      back-end health); a back-end unreachable disables the service with an AUTO: reason.
 * 1.4: cluster_sync (shared nodes: which the caller owns, at which generation); instance_update,
 *      instance_destroyed and action_event_start take node_claim (`nodeClaim` below), and
 *      refuse a stale one with StaleNodeOwnership (rpc/node-ownership.ts).
 * 1.5: instance_update takes action_event { event, start?: { host }, finish?: { result,
 *      traceback } }, recorded in the update's transaction (a spawn: two calls, not four).
 * 1.6: moves (issue #12): run_flow (the API: a flow it persisted is to be driven now),
 *      migration_progress (a compute: how a live migration advances), evacuations_from_host and
 *      evacuation_cleaned (a returning source compute removes what was evacuated from it).
 * 1.7: instance_update takes networkInfo (the info cache, issue #13).
 *
 * Conductors are upgraded before the services that call them (Nova's documented order:
 * conductor, then API and scheduler, then computes), so senders use this version unless
 * `resolvePin` pins them lower (a compute's `[upgrade_levels] conductor`): a pinned sender
 * sends a method's older form, never an argument its receivers do not know.
 */
export const CONDUCTOR_API = defineApi('conductor', CONDUCTOR_RPC_VERSION, {
  // ---- from the API
  build_instances: cast({
    args: Type.Object({ instances: Type.Array(EnvelopeWire), request_spec: EnvelopeWire }),
    encode: (a: { instances: Instance[]; spec: RequestSpec }) => ({
      instances: a.instances.map((i) => wrap('Instance', i)), request_spec: wrap('RequestSpec', a.spec),
    }),
    decode: (w) => ({ instances: w.instances.map((e) => unwrap<Instance>(e, 'Instance')), spec: unwrap<RequestSpec>(w.request_spec, 'RequestSpec') }),
  }),

  /**
   * 1.6: drive the task flow `flow_uuid` (conductor/task-engine.ts) that the API persisted with
   * the instance's new task state. A lost cast costs only time: a conductor takes up any flow
   * nobody holds a lease on (its poll), so this only makes the start prompt.
   */
  run_flow: cast({
    since: '1.6',
    args: Type.Object({ flow_uuid: Str }),
    encode: (a: { flowUuid: string }) => ({ flow_uuid: a.flowUuid }),
    decode: (w) => ({ flowUuid: w.flow_uuid }),
  }),

  // ---- from compute services
  /** 1.6: the latest progress report of a live migration, copied into its migration record. */
  migration_progress: cast({
    since: '1.6',
    args: Type.Object({ migration_uuid: Str, progress: MoveProgressWire }),
    encode: (a: { migrationUuid: string; progress: MoveProgress }) => ({ migration_uuid: a.migrationUuid, progress: a.progress }),
    decode: (w) => ({ migrationUuid: w.migration_uuid, progress: w.progress }),
  }),
  /**
   * 1.6: the evacuations from `host` not yet cleaned up. `done`: the instance runs elsewhere, and
   * a returning source removes its guest without starting it; not done: under way, and the
   * source leaves the instance alone (its start-up recovery must not take it for its own).
   */
  evacuations_from_host: call({
    since: '1.6',
    args: Type.Object({ host: Str }),
    encode: (a: { host: string }) => ({ host: a.host }),
    decode: (w) => ({ host: w.host }),
    result: Type.Array(Type.Object({ migration_uuid: Str, instance_uuid: Str, node: Str, done: Type.Boolean() })),
    encodeResult: (list: EvacuatedInstance[]) => list.map((e) => ({ migration_uuid: e.migrationUuid, instance_uuid: e.instanceUuid, node: e.node, done: e.done })),
    decodeResult: (list) => list.map((e) => ({ migrationUuid: e.migration_uuid, instanceUuid: e.instance_uuid, node: e.node, done: e.done })),
  }),
  /** 1.6: the source removed what it had of an evacuated instance: its claim there is released, the migration completed. */
  evacuation_cleaned: voidCall({
    since: '1.6',
    args: Type.Object({ migration_uuid: Str }),
    encode: (a: { migrationUuid: string }) => ({ migration_uuid: a.migrationUuid }),
    decode: (w) => ({ migrationUuid: w.migration_uuid }),
  }),
  /** A spawn failed on `host`: the conductor releases the claim and reschedules or fails the instance. */
  build_failed: cast({
    args: Type.Object({ request_spec: EnvelopeWire, instance_uuid: Str, host: Str, message: Str, retryable: Type.Boolean() }),
    encode: (a: { spec: RequestSpec; uuid: string; host: string; message: string; retryable: boolean }) => ({
      request_spec: wrap('RequestSpec', a.spec), instance_uuid: a.uuid, host: a.host, message: a.message, retryable: a.retryable,
    }),
    decode: (w) => ({ spec: unwrap<RequestSpec>(w.request_spec, 'RequestSpec'), uuid: w.instance_uuid, host: w.host, message: w.message, retryable: w.retryable }),
  }),
  instance_get: call({
    args: Type.Object({ uuid: Str }),
    encode: (a: { uuid: string }) => ({ uuid: a.uuid }),
    decode: (w) => ({ uuid: w.uuid }),
    ...instanceOrNull,
  }),
  /**
   * With `expectedTaskState` the update applies only if the task state still matches (Nova's
   * expected_task_state), else Conflict. Answers the instance as updated unless `returnInstance`
   * is false (1.1), which saves the conductor re-reading it (a 1.0 conductor answers it anyway).
   * An action event (1.5) is left out here for an older conductor: the client sends it in the
   * 1.0 calls instead (ConductorRpcApi.instanceUpdate).
   */
  instance_update: call({
    nodeClaim: true,
    args: Type.Object({
      uuid: Str, updates: InstanceUpdatesWire, expected_task_state: Type.Union([Type.Array(StrOrNull), Type.Null()]),
      return_instance: Type.Optional(Type.Boolean()), action_event: Type.Optional(ActionEventWire), node_claim: NodeClaimWire,
    }),
    encode: (a: {
      uuid: string; updates: InstanceUpdates; expectedTaskState: Array<string | null> | null; returnInstance: boolean;
      actionEvent: ActionEventUpdate | null; claim?: NodeClaim | null;
    }, pin) => ({
      uuid: a.uuid, updates: updatesAt(pin, a.updates), expected_task_state: a.expectedTaskState,
      ...(!a.returnInstance && knows(pin, '1.1') ? { return_instance: false } : {}),
      ...(a.actionEvent && knows(pin, '1.5') ? { action_event: a.actionEvent } : {}),
    }),
    decode: (w) => ({
      uuid: w.uuid, updates: w.updates as InstanceUpdates, expectedTaskState: w.expected_task_state, returnInstance: w.return_instance ?? true,
      actionEvent: w.action_event ?? null, claim: claimOf(w),
    }),
    ...instanceOrNull,
  }),
  instances_on_host: call({
    args: Type.Object({ host: Str }),
    encode: (a: { host: string }) => ({ host: a.host }),
    decode: (w) => ({ host: w.host }),
    result: Type.Array(EnvelopeWire),
    encodeResult: (instances: Instance[]) => instances.map((i) => wrap('Instance', i)),
    decodeResult: (envs) => envs.map((e) => unwrap<Instance>(e, 'Instance')),
  }),
  /**
   * A build this host had taken up but will not finish (its compute service restarted
   * mid-build): the instance goes to ERROR with `message` as its fault and its claim is
   * released, if the build is still this host's and still under way. Answers whether it was
   * (or had already been given up on this host: then the caller still removes its guest).
   */
  instance_build_aborted: call({
    since: '1.2',
    args: Type.Object({ uuid: Str, host: Str, message: Str }),
    encode: (a: { uuid: string; host: string; message: string }) => ({ uuid: a.uuid, host: a.host, message: a.message }),
    decode: (w) => ({ uuid: w.uuid, host: w.host, message: w.message }),
    result: Type.Boolean(),
    encodeResult: (given: boolean) => given,
    decodeResult: (given) => given,
  }),
  /** The driver destroyed the instance: mark it deleted and release its claims. */
  instance_destroyed: voidCall({
    nodeClaim: true,
    args: Type.Object({ uuid: Str, node_claim: NodeClaimWire }),
    encode: (a: { uuid: string; claim?: NodeClaim | null }) => ({ uuid: a.uuid }),
    decode: (w) => ({ uuid: w.uuid, claim: claimOf(w) }),
  }),
  instance_fault_create: voidCall({
    args: Type.Object({ uuid: Str, code: Type.Number(), message: Str, details: Str, host: StrOrNull }),
    encode: (a: { uuid: string; code: number; message: string; details: string; host: string | null }) => ({
      uuid: a.uuid, code: a.code, message: a.message, details: a.details, host: a.host,
    }),
    decode: (w) => ({ uuid: w.uuid, code: w.code, message: w.message, details: w.details, host: w.host }),
  }),
  action_event_start: voidCall({
    nodeClaim: true,
    args: Type.Object({ uuid: Str, event: Str, host: Str, node_claim: NodeClaimWire }),
    encode: (a: { uuid: string; event: string; host: string; claim?: NodeClaim | null }) => ({ uuid: a.uuid, event: a.event, host: a.host }),
    decode: (w) => ({ uuid: w.uuid, event: w.event, host: w.host, claim: claimOf(w) }),
  }),
  action_event_finish: voidCall({
    args: Type.Object({
      uuid: Str, event: Str, result: Type.Union([Type.Literal('Success'), Type.Literal('Error')]), traceback: StrOrNull,
      details: Type.Optional(StrOrNull),
    }),
    encode: (a: { uuid: string; event: string; result: 'Success' | 'Error'; traceback: string | null; details: string | null }) => ({
      uuid: a.uuid, event: a.event, result: a.result, traceback: a.traceback, details: a.details,
    }),
    decode: (w) => ({ uuid: w.uuid, event: w.event, result: w.result, traceback: w.traceback, details: w.details ?? null }),
  }),
  /**
   * Heartbeat: creates the service row on first report. `driverStatus` @since 1.3 (left out
   * for an older conductor; absent when the driver has no status()). A malformed one is ignored
   * (the conductor's backendHealth), never a reason to refuse the heartbeat.
   */
  service_report: call({
    args: Type.Object({ host: Str, binary: Str, topic: Str, version: Str, driver_status: Type.Optional(Type.Unknown()) }),
    encode: (a: { report: ServiceReport; driverStatus?: DriverStatusReport }, pin) => ({
      host: a.report.host, binary: a.report.binary, topic: a.report.topic, version: a.report.version,
      ...(a.driverStatus && knows(pin, '1.3')
        ? { driver_status: { reachable: a.driverStatus.reachable, latency_ms: a.driverStatus.latencyMs, message: a.driverStatus.message } }
        : {}),
    }),
    decode: (w) => ({ report: { host: w.host, binary: w.binary, topic: w.topic, version: w.version }, driverStatus: driverStatusOf(w.driver_status) }),
    result: Type.Object({ disabled: Type.Boolean(), forcedDown: Type.Boolean() }),
    encodeResult: (s: ServiceStatus) => ({ disabled: s.disabled, forcedDown: s.forcedDown }),
    decodeResult: (s) => ({ disabled: s.disabled, forcedDown: s.forcedDown }),
  }),
  /**
   * A compute of a clustered back-end: the nodes its driver sees (`seen`, UUIDs), reports of
   * those whose inventory it has not yet had accepted, and the claims it holds. Answers the
   * nodes it owns now; raises StaleNodeOwnership (nothing written) when a claim is stale, and
   * the caller drops those nodes and syncs again.
   */
  cluster_sync: call({
    since: '1.4',
    args: Type.Object({
      host: Str, cluster: Str, seen: Type.Array(Str), nodes: Type.Array(EnvelopeWire),
      held: Type.Array(Type.Object({ node_uuid: Str, generation: Type.Number() })),
    }),
    encode: (r: ClusterSyncRequest) => ({
      host: r.host, cluster: r.cluster, seen: r.seen, nodes: r.nodes.map((n) => wrap('ComputeNodeReport', n)),
      held: r.held.map((h) => ({ node_uuid: h.nodeUuid, generation: h.generation })),
    }),
    decode: (w) => ({
      host: w.host, cluster: w.cluster, seen: w.seen, nodes: w.nodes.map((e) => unwrap<ComputeNodeReport>(e, 'ComputeNodeReport')),
      held: w.held.map((h) => ({ nodeUuid: h.node_uuid, generation: h.generation })),
    }),
    result: Type.Object({
      owned: Type.Array(Type.Object({ uuid: Str, node: Str, generation: Type.Number() })), members: Type.Array(Str),
    }),
    encodeResult: (a: ClusterSyncAnswer) => a,
    decodeResult: (a) => a,
  }),
  compute_nodes_update: voidCall({
    args: Type.Object({ host: Str, nodes: Type.Array(EnvelopeWire) }),
    encode: (a: { host: string; nodes: ComputeNodeReport[] }) => ({ host: a.host, nodes: a.nodes.map((n) => wrap('ComputeNodeReport', n)) }),
    decode: (w) => ({ host: w.host, nodes: w.nodes.map((e) => unwrap<ComputeNodeReport>(e, 'ComputeNodeReport')) }),
  }),
});

/** What the conductor serves: one handler per method of CONDUCTOR_API. */
export type ConductorHandlers = Handlers<ApiSignatures<typeof CONDUCTOR_API>>;

/** How an update's action event is recorded when the conductor is older than 1.5. */
export interface InstanceUpdateOptions {
  returnInstance: false;
  /** An action event to record with the update (1.5; the separate 1.0 calls for an older conductor). */
  actionEvent?: ActionEventUpdate;
  /**
   * A separate event call failed (an older conductor): the update landed, and the event is only
   * what a user reads back, so it never fails the update; this hears of it.
   */
  onEventError?: (err: unknown) => void;
}

/** The typed client every sender uses (the API, compute services). */
export class ConductorRpcApi extends RpcClient<ApiSignatures<typeof CONDUCTOR_API>> {
  constructor(bus: Bus, timeoutMs: number, resolvePin?: () => Promise<string | null>) {
    super(bus, CONDUCTOR_API, timeoutMs, resolvePin);
  }

  buildInstances(ctx: RpcContext, instances: Instance[], spec: RequestSpec): Promise<void> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'build_instances', { instances, spec });
  }

  buildFailed(ctx: RpcContext, spec: RequestSpec, uuid: string, host: string, message: string, retryable: boolean): Promise<void> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'build_failed', { spec, uuid, host, message, retryable });
  }

  instanceGet(ctx: RpcContext, uuid: string): Promise<Instance | null> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'instance_get', { uuid });
  }

  /** instance_update (see its definition); with `opts.actionEvent`, the event too. */
  instanceUpdate(ctx: RpcContext, uuid: string, updates: InstanceUpdates, expectedTaskState?: Array<string | null>): Promise<Instance>;
  instanceUpdate(ctx: RpcContext, uuid: string, updates: InstanceUpdates, expectedTaskState: Array<string | null> | undefined, opts: InstanceUpdateOptions): Promise<void>;
  async instanceUpdate(
    ctx: RpcContext, uuid: string, updates: InstanceUpdates, expectedTaskState?: Array<string | null>, opts?: InstanceUpdateOptions,
  ): Promise<Instance | void> {
    const ev = opts?.actionEvent ?? null;
    // The backport of 1.5 for an older conductor: the update, then the event in its own calls.
    const folded = ev === null || knows(await this.pin(), '1.5');
    const inst = await this.send(CONDUCTOR_TOPIC, ctx, 'instance_update', {
      uuid, updates, expectedTaskState: expectedTaskState ?? null, returnInstance: !opts, actionEvent: folded ? ev : null,
    });
    if (!folded) await this.recordActionEvent(ctx, uuid, ev, opts?.onEventError);
    if (!opts) {
      if (!inst) throw new Error(`conductor answered no instance for the update of ${uuid}`);
      return inst;
    }
  }

  /** Whether instance_update records an action event itself (1.5), or recordActionEvent must. */
  async foldsActionEvents(): Promise<boolean> {
    return knows(await this.pin(), '1.5');
  }

  /**
   * An action event in the 1.0 calls (what instance_update records itself from 1.5): never
   * raises; a call that fails is told to `onError`.
   */
  async recordActionEvent(ctx: RpcContext, uuid: string, ev: ActionEventUpdate, onError: (err: unknown) => void = () => undefined): Promise<void> {
    if (ev.start) await this.actionEventStart(ctx, uuid, ev.event, ev.start.host).catch(onError);
    if (ev.finish) await this.actionEventFinish(ctx, uuid, ev.event, ev.finish.result, ev.finish.traceback).catch(onError);
  }

  instancesOnHost(ctx: RpcContext, host: string): Promise<Instance[]> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'instances_on_host', { host });
  }

  /** @since 1.2 (see its definition). */
  instanceBuildAborted(ctx: RpcContext, uuid: string, host: string, message: string): Promise<boolean> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'instance_build_aborted', { uuid, host, message });
  }

  instanceDestroyed(ctx: RpcContext, uuid: string): Promise<void> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'instance_destroyed', { uuid });
  }

  instanceFaultCreate(ctx: RpcContext, uuid: string, code: number, message: string, details: string, host: string | null): Promise<void> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'instance_fault_create', { uuid, code, message, details, host });
  }

  actionEventStart(ctx: RpcContext, uuid: string, event: string, host: string): Promise<void> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'action_event_start', { uuid, event, host });
  }

  actionEventFinish(ctx: RpcContext, uuid: string, event: string, result: 'Success' | 'Error', traceback: string | null, details?: string): Promise<void> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'action_event_finish', { uuid, event, result, traceback, details: details ?? null });
  }

  serviceReport(ctx: RpcContext, report: ServiceReport, driverStatus?: DriverStatusReport): Promise<ServiceStatus> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'service_report', { report, driverStatus });
  }

  /** @since 1.4 (see its definition). */
  clusterSync(ctx: RpcContext, req: ClusterSyncRequest): Promise<ClusterSyncAnswer> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'cluster_sync', req);
  }

  computeNodesUpdate(ctx: RpcContext, host: string, nodes: ComputeNodeReport[]): Promise<void> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'compute_nodes_update', { host, nodes });
  }

  /** @since 1.6 (see its definition). */
  runFlow(ctx: RpcContext, flowUuid: string): Promise<void> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'run_flow', { flowUuid });
  }

  /** @since 1.6 */
  migrationProgress(ctx: RpcContext, migrationUuid: string, progress: MoveProgress): Promise<void> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'migration_progress', { migrationUuid, progress });
  }

  /** @since 1.6 */
  evacuationsFromHost(ctx: RpcContext, host: string): Promise<EvacuatedInstance[]> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'evacuations_from_host', { host });
  }

  /** @since 1.6 */
  evacuationCleaned(ctx: RpcContext, migrationUuid: string): Promise<void> {
    return this.send(CONDUCTOR_TOPIC, ctx, 'evacuation_cleaned', { migrationUuid });
  }
}
