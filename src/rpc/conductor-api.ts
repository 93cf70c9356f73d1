import { versionCompatible } from '../common/versions.js';
import { type Envelope, unwrap, wrap } from '../objects/envelope.js';
// Registers the objects these messages carry.
import '../objects/compute.js';
import type { ComputeNodeReport, Instance, RequestSpec } from '../objects/compute.js';
import type { Bus, RpcContext } from './bus.js';
import { RpcClient } from './dispatch.js';

export const CONDUCTOR_TOPIC = 'conductor';
export const CONDUCTOR_RPC_VERSION = '1.4';

export interface InstanceUpdates {
  vmState?: string;
  taskState?: string | null;
  powerState?: number;
  launchedAt?: string;
  host?: string | null;
  node?: string | null;
  progress?: number;
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

export interface ServiceStatus {
  disabled: boolean;
  forcedDown: boolean;
}

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
 *      instance_destroyed and action_event_start take node_claim, and refuse a stale one with
 *      StaleNodeOwnership (rpc/node-ownership.ts).
 *
 * Conductors are upgraded before the services that call them (Nova's documented order:
 * conductor, then API and scheduler, then computes), so senders use this version unless
 * `resolvePin` pins them lower (a compute's `[upgrade_levels] conductor`): a pinned sender
 * sends a method's older form, never an argument its receivers do not know.
 */
export class ConductorRpcApi extends RpcClient {
  constructor(bus: Bus, timeoutMs: number, resolvePin?: () => Promise<string | null>) {
    super(bus, 'conductor', CONDUCTOR_RPC_VERSION, timeoutMs, resolvePin);
  }

  // ---- from the API
  buildInstances(ctx: RpcContext, instances: Instance[], spec: RequestSpec): Promise<void> {
    return this.cast(CONDUCTOR_TOPIC, ctx, 'build_instances', {
      instances: instances.map((i) => wrap('Instance', i)),
      request_spec: wrap('RequestSpec', spec),
    });
  }

  // ---- from compute services
  /** A spawn failed on `host`: the conductor releases the claim and reschedules or fails the instance. */
  buildFailed(ctx: RpcContext, spec: RequestSpec, instanceUuid: string, host: string, message: string, retryable: boolean): Promise<void> {
    return this.cast(CONDUCTOR_TOPIC, ctx, 'build_failed', {
      request_spec: wrap('RequestSpec', spec), instance_uuid: instanceUuid, host, message, retryable,
    });
  }

  async instanceGet(ctx: RpcContext, uuid: string): Promise<Instance | null> {
    const env = await this.call<Envelope | null>(CONDUCTOR_TOPIC, ctx, 'instance_get', { uuid });
    return env ? unwrap<Instance>(env, 'Instance') : null;
  }

  /**
   * Updates an instance. With `expectedTaskState` the update applies only if the task state
   * still matches (Nova's expected_task_state), else it raises Conflict. It answers the
   * instance as updated unless `returnInstance` is false, which saves the conductor re-reading it.
   */
  instanceUpdate(ctx: RpcContext, uuid: string, updates: InstanceUpdates, expectedTaskState?: Array<string | null>): Promise<Instance>;
  instanceUpdate(
    ctx: RpcContext, uuid: string, updates: InstanceUpdates, expectedTaskState: Array<string | null> | undefined, opts: { returnInstance: false },
  ): Promise<void>;
  async instanceUpdate(
    ctx: RpcContext, uuid: string, updates: InstanceUpdates, expectedTaskState?: Array<string | null>, opts?: { returnInstance: false },
  ): Promise<Instance | void> {
    const returnInstance = opts?.returnInstance ?? true;
    const env = await this.call<Envelope | null>(CONDUCTOR_TOPIC, ctx, 'instance_update', (pin) => ({
      uuid, updates, expected_task_state: expectedTaskState ?? null,
      // A 1.0 conductor always answers the instance; the answer is then dropped.
      ...(!returnInstance && versionCompatible('1.1', pin) ? { return_instance: false } : {}),
    }));
    if (returnInstance) return unwrap<Instance>(env!, 'Instance');
  }

  async instancesOnHost(ctx: RpcContext, host: string): Promise<Instance[]> {
    const envs = await this.call<Envelope[]>(CONDUCTOR_TOPIC, ctx, 'instances_on_host', { host });
    return envs.map((e) => unwrap<Instance>(e, 'Instance'));
  }

  /**
   * @since 1.2. A build this host had taken up but will not finish (its compute service
   * restarted mid-build): the instance goes to ERROR with `message` as its fault and its claim
   * is released, if the build is still this host's and still under way. Answers whether it was
   * (or had already been given up on this host: then the caller still removes its guest).
   */
  instanceBuildAborted(ctx: RpcContext, uuid: string, host: string, message: string): Promise<boolean> {
    return this.call(CONDUCTOR_TOPIC, ctx, 'instance_build_aborted', { uuid, host, message }, '1.2');
  }

  /** The driver destroyed the instance: mark it deleted and release its claims. */
  instanceDestroyed(ctx: RpcContext, uuid: string): Promise<void> {
    return this.call(CONDUCTOR_TOPIC, ctx, 'instance_destroyed', { uuid });
  }

  instanceFaultCreate(ctx: RpcContext, uuid: string, code: number, message: string, details: string, host: string | null): Promise<void> {
    return this.call(CONDUCTOR_TOPIC, ctx, 'instance_fault_create', { uuid, code, message, details, host });
  }

  actionEventStart(ctx: RpcContext, uuid: string, event: string, host: string): Promise<void> {
    return this.call(CONDUCTOR_TOPIC, ctx, 'action_event_start', { uuid, event, host });
  }

  actionEventFinish(ctx: RpcContext, uuid: string, event: string, result: 'Success' | 'Error', traceback: string | null, details?: string): Promise<void> {
    return this.call(CONDUCTOR_TOPIC, ctx, 'action_event_finish', { uuid, event, result, traceback, details: details ?? null });
  }

  /**
   * Heartbeat: creates the service row on first report. `driverStatus` @since 1.3 (left out
   * for an older conductor; absent when the driver has no status()).
   */
  serviceReport(ctx: RpcContext, report: ServiceReport, driverStatus?: DriverStatusReport): Promise<ServiceStatus> {
    return this.call(CONDUCTOR_TOPIC, ctx, 'service_report', (pin) => ({
      ...report,
      ...(driverStatus && versionCompatible('1.3', pin)
        ? { driver_status: { reachable: driverStatus.reachable, latency_ms: driverStatus.latencyMs, message: driverStatus.message } }
        : {}),
    }));
  }

  /**
   * @since 1.4. A compute of a clustered back-end: the nodes its driver sees (`seen`, UUIDs),
   * reports of those whose inventory it has not yet had accepted, and the claims it holds.
   * Answers the nodes it owns now; raises StaleNodeOwnership (nothing written) when a claim is
   * stale, and the caller drops those nodes and syncs again.
   */
  clusterSync(
    ctx: RpcContext, req: { host: string; cluster: string; seen: string[]; nodes: ComputeNodeReport[]; held: Array<{ nodeUuid: string; generation: number }> },
  ): Promise<{ owned: Array<{ uuid: string; node: string; generation: number }>; members: string[] }> {
    return this.call(CONDUCTOR_TOPIC, ctx, 'cluster_sync', {
      host: req.host, cluster: req.cluster, seen: req.seen,
      nodes: req.nodes.map((n) => wrap('ComputeNodeReport', n)),
      held: req.held.map((h) => ({ node_uuid: h.nodeUuid, generation: h.generation })),
    }, '1.4');
  }

  computeNodesUpdate(ctx: RpcContext, host: string, nodes: ComputeNodeReport[]): Promise<void> {
    return this.call(CONDUCTOR_TOPIC, ctx, 'compute_nodes_update', {
      host, nodes: nodes.map((n) => wrap('ComputeNodeReport', n)),
    });
  }
}
