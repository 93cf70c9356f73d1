import {
  guardDriver, isDriverError, ERROR_TAXONOMY, type GuardedVirtDriver, type ImageService, type LifecycleEvent, type VirtDriver,
} from '@orrery/virt-api';
import type { Config } from '../common/config.js';
import { errorMessage, NotFound, statusOf } from '../common/errors.js';
import { logLifecycle, type Logger } from '../common/logging.js';
import { now } from '../common/time.js';
import { buildDuration, buildsFailed, buildsStarted, buildsSucceeded, secondsSince } from '../common/metrics.js';
import { eventOf, taskStatesOf } from '../objects/actions.js';
import type { Instance, RequestSpec } from '../objects/compute.js';
import { PowerState, TaskState, VmState } from '../objects/states.js';
import type { Bus, RpcContext } from '../rpc/bus.js';
import { COMPUTE_API, COMPUTE_RPC_VERSION, type ComputeHandlers } from '../rpc/compute-api.js';
import type { ConductorRpcApi } from '../rpc/conductor-api.js';
import { dispatcher, systemContext } from '../rpc/dispatch.js';
import { isStaleOwnership } from '../rpc/node-ownership.js';
import { DriverHealth } from './driver-health.js';
import { NO_RETURN, OutcomeRecorder, SUCCESS } from './outcomes.js';
import { InFlightCalls } from './in-flight.js';
import { ClaimingConductorApi } from './node-claims.js';
import { NodeTracker } from './node-tracker.js';
import { deferredDeleteMethods, type OperationRunner } from './deferred-delete.js';
import { Evacuations } from './evacuations.js';
import { moveMethods, type MoveMethods } from './moves.js';
import { PowerSync } from './power-sync.js';
import { rebuildKeepingState } from './rebuild.js';
import { abortOrphanedBuilds, recoverInstances, type RecoveryDeps } from './recovery.js';
import { instanceRef, instanceSpec } from './specs.js';
import type { NetworkClient } from '../clients/network-client.js';
import { InstanceNetworking, HostNetworking, type Allocation } from './networking.js';
import { interfaceMethods } from './interfaces.js';
import { consoleMethods } from './consoles.js';

export interface ComputeServiceOptions {
  config: Config;
  host: string;
  log: Logger;
  /** The driver, loaded and guarded (loadDriver); guarded here if it is not. */
  driver: VirtDriver;
  /** The image API as the driver sees it (over HTTP, with the service user's token). */
  images: ImageService;
  /** The Network API with the service user's credentials (compute/networking.ts); absent: no server gets a port. */
  network?: NetworkClient;
}

/**
 * The driver's options: its section (`[libvirt]`), and over it the section of this host
 * (`[libvirt@compute2]`) — how one all-in-one runs computes whose drivers reach different
 * back-ends (two libvirt hosts, say).
 */
export function driverOptions(config: Config, host: string): Record<string, string> {
  const driver = config.str('DEFAULT', 'compute_driver');
  return { ...config.section(driver), ...config.section(`${driver}@${host}`) };
}

/** Nova's names of power states, as server diagnostics show them. */
const POWER_STATE_NAMES: Record<number, string> = {
  [PowerState.NOSTATE]: 'pending', [PowerState.RUNNING]: 'running', [PowerState.PAUSED]: 'paused',
  [PowerState.SHUTDOWN]: 'shutdown', [PowerState.CRASHED]: 'crashed', [PowerState.SUSPENDED]: 'suspended',
};


/**
 * The compute service of one host: drives its one driver through the contract, for every node
 * the driver reports. It never touches the database — everything goes through the conductor.
 */
export class ComputeService {
  private readonly conductor: ConductorRpcApi;
  private readonly driver: GuardedVirtDriver;
  private readonly nodes: NodeTracker;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribeEvents?: () => void;
  /**
   * Instances this service is spawning, with the driver's last event about each: the service
   * records their state itself when the spawn returns, so events wait until then.
   */
  private readonly building = new Map<string, LifecycleEvent | null>();
  /** The service's side of COMPUTE_API, also run by start-up recovery to finish an operation again. */
  readonly handlers: ComputeHandlers;
  private readonly powerSync: PowerSync;
  /** The long driver calls under way, aborted when the service stops. */
  private readonly inFlight = new InFlightCalls();
  private readonly health: DriverHealth;
  private readonly outcomes: OutcomeRecorder;
  /** The move steps (moves.ts) and the evacuations from this host it cleans up after (evacuations.ts). */
  private readonly moves: MoveMethods;
  private readonly evacuations: Evacuations;
  private stopping?: Promise<void>;
  readonly host: string;
  /** The instances' ports (null without a Network API). */
  private readonly networking: InstanceNetworking | null;
  private readonly hostNetworking: HostNetworking;

  constructor(bus: Bus, private readonly opts: ComputeServiceOptions) {
    this.host = opts.host;
    this.driver = guardDriver(opts.driver);
    this.networking = opts.network ? new InstanceNetworking(opts.network, opts.host, opts.log) : null;
    this.hostNetworking = new HostNetworking(this.driver, this.networking, opts.log);
    // Conductors are upgraded first, so a compute speaks the newest conductor RPC, unless
    // `[upgrade_levels] conductor` (Nova's option) pins it to an older conductor's version.
    const conductorLevel = opts.config.opt('upgrade_levels', 'conductor') || null;
    this.conductor = new ClaimingConductorApi(
      bus, opts.config.num('DEFAULT', 'rpc_response_timeout') * 1000, async () => conductorLevel, (node) => this.nodes.claimFor(node),
    );
    this.outcomes = new OutcomeRecorder(this.conductor, this.host, opts.log);
    this.nodes = new NodeTracker({ config: opts.config, host: this.host, log: opts.log, bus, driver: this.driver, conductor: this.conductor });
    this.moves = moveMethods({
      driver: this.driver, conductor: this.conductor, inFlight: this.inFlight, log: opts.log,
      network: this.hostNetworking,
    });
    this.evacuations = new Evacuations({
      host: this.host, log: opts.log, driver: this.driver, conductor: this.conductor, landed: (call) => this.outcomes.landed(call),
      network: this.hostNetworking,
    });
    this.handlers = this.methods();
    this.powerSync = new PowerSync({
      host: this.host, log: opts.log, driver: this.driver, conductor: this.conductor,
      stoppedEventDelayMs: opts.config.num('compute', 'stopped_event_delay') * 1000,
      building: this.building,
      abortOrphanedBuilds: (instances) => abortOrphanedBuilds(this.recoveryDeps(), instances),
      ownedByMove: (inst) => this.evacuations.ownedByMove(inst),
      beforeSweep: () => this.evacuations.sweep(),
    });
    // Within one report interval, so a hung back-end never delays the heartbeat past it.
    this.health = new DriverHealth(this.driver, opts.log, Math.max(1000, Math.min(10_000, opts.config.num('DEFAULT', 'report_interval') * 500)), opts.host);
  }

  private get log(): Logger {
    return this.opts.log;
  }

  async start(): Promise<void> {
    const { config } = this.opts;
    await this.driver.init({
      host: this.host,
      config: driverOptions(config, this.host),
      stateDir: config.statePath('compute', this.host),
      images: this.opts.images,
      log: {
        debug: (msg, f) => this.log.debug(f ?? {}, msg),
        info: (msg, f) => this.log.info(f ?? {}, msg),
        warn: (msg, f) => this.log.warn(f ?? {}, msg),
        error: (msg, f) => this.log.error(f ?? {}, msg),
      },
    });
    // The conductor may still be starting (as Nova's compute, wait for it).
    await this.outcomes.landed(() => this.report());
    // Capabilities are final only once init has read the driver's configuration. The nodes come
    // first: for shared nodes, the first sync moves this host's share of them (and their instances) here.
    await this.outcomes.landed(() => this.nodes.start(this.driver.capabilities()));
    this.unsubscribeEvents = this.driver.onEvent((e) => this.powerSync.onEvent(e));
    // Before listening: what a previous run left mid-task is settled first, so a message for
    // one of those (redelivered, as its previous run never acked it) finds it settled.
    await this.recover();
    await this.syncPowerStates();
    await this.nodes.listen(dispatcher(COMPUTE_API, this.handlers));
    this.every(config.num('DEFAULT', 'report_interval'), () => this.report());
    this.every(config.num('DEFAULT', 'sync_power_state_interval'), () => this.syncPowerStates());
  }

  async stop(): Promise<void> {
    // Idempotent: a test (or a signal handler) may stop a service its group stops again.
    if (this.stopping) return this.stopping;
    this.stopping = this.stopOnce();
    return this.stopping;
  }

  private async stopOnce(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.powerSync.stop();
    // First: a spawn, snapshot or delete hung on the back-end must not hold the stop; a 1.1
    // driver stops the work itself, and the operation fails as any driver error fails it.
    await this.inFlight.abortAll(`compute service ${this.host} is stopping`, 5000);
    await this.nodes.stop();
    this.unsubscribeEvents?.();
    await this.driver.shutdown();
  }

  private every(seconds: number, fn: () => Promise<unknown>): void {
    if (seconds <= 0) return;
    const t = setInterval(() => {
      fn().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'periodic task failed'));
    }, seconds * 1000);
    t.unref();
    this.timers.push(t);
  }

  private async report(): Promise<void> {
    const driverStatus = await this.health.probe();
    await this.conductor.serviceReport(
      systemContext(), { host: this.host, binary: 'nova-compute', topic: 'compute', version: COMPUTE_RPC_VERSION }, driverStatus,
    );
  }

  private methods(): ComputeHandlers {
    const d = this.driver;
    const op: OperationRunner = (event, taskStates, run) => (args, ctx) => this.outcomes.runOperation(ctx, args.instance, { event, taskStates, run });
    const power = async (i: Instance): Promise<number> => (await d.getInstance(instanceRef(i))).powerState;
    return {
      ...deferredDeleteMethods(d, op, power),
      ...this.moves.handlers,
      ...interfaceMethods({ driver: d, networking: this.networking }),
      ...consoleMethods(d),
      build_and_run_instance: async (args, ctx) => {
        await this.buildAndRun(ctx, args.instance, args.spec);
      },
      terminate_instance: async (args, ctx) => this.terminate(ctx, args.instance),
      stop_instance: op(eventOf('stop_instance'), taskStatesOf('stop_instance'), async (i) => {
        await d.powerOff(instanceRef(i), 60);
        return { vmState: VmState.STOPPED, powerState: await power(i) };
      }),
      start_instance: op(eventOf('start_instance'), taskStatesOf('start_instance'), async (i) => {
        await d.powerOn(instanceRef(i));
        return { vmState: VmState.ACTIVE, powerState: await power(i) };
      }),
      pause_instance: op(eventOf('pause_instance'), taskStatesOf('pause_instance'), async (i) => {
        await d.pause(instanceRef(i));
        return { vmState: VmState.PAUSED, powerState: await power(i) };
      }),
      unpause_instance: op(eventOf('unpause_instance'), taskStatesOf('unpause_instance'), async (i) => {
        await d.unpause(instanceRef(i));
        return { vmState: VmState.ACTIVE, powerState: await power(i) };
      }),
      suspend_instance: op(eventOf('suspend_instance'), taskStatesOf('suspend_instance'), async (i) => {
        await d.suspend(instanceRef(i));
        return { vmState: VmState.SUSPENDED, powerState: await power(i) };
      }),
      resume_instance: op(eventOf('resume_instance'), taskStatesOf('resume_instance'), async (i) => {
        await d.resume(instanceRef(i));
        return { vmState: VmState.ACTIVE, powerState: await power(i) };
      }),
      reboot_instance: async (args, ctx) => {
        const hard = args.rebootType === 'HARD';
        const pending = hard ? TaskState.REBOOT_PENDING_HARD : TaskState.REBOOT_PENDING;
        const running = hard ? TaskState.REBOOTING_HARD : TaskState.REBOOTING;
        await this.outcomes.runOperation(ctx, args.instance, {
          event: eventOf('reboot_instance'),
          taskStates: taskStatesOf('reboot_instance', hard ? 'HARD' : undefined),
          run: async (i) => {
            await this.conductor.instanceUpdate(ctx, i.uuid, { taskState: running }, [pending], NO_RETURN);
            await d.reboot(instanceRef(i), hard ? 'hard' : 'soft');
            return { vmState: VmState.ACTIVE, powerState: await power(i) };
          },
        });
      },
      rebuild_instance: async (args, ctx) => {
        await this.outcomes.runOperation(ctx, args.instance, {
          event: eventOf('rebuild_instance'),
          taskStates: taskStatesOf('rebuild_instance'),
          run: async (i) => {
            await this.conductor.instanceUpdate(ctx, i.uuid, { taskState: TaskState.REBUILD_SPAWNING }, [TaskState.REBUILDING], NO_RETURN);
            return rebuildKeepingState(d, i, args.image, await this.hostNetworking.here(i, { bind: false }));
          },
        });
      },
      snapshot_instance: async (args, ctx) => {
        await this.outcomes.runOperation(ctx, args.instance, {
          event: eventOf('snapshot_instance'),
          taskStates: taskStatesOf('snapshot_instance'),
          run: async (i) => {
            await this.conductor.instanceUpdate(ctx, i.uuid, { taskState: TaskState.IMAGE_UPLOADING }, [TaskState.IMAGE_SNAPSHOT], NO_RETURN);
            const req = { instance: instanceRef(i), imageId: args.imageId, diskFormat: args.diskFormat };
            await this.inFlight.run((signal) => d.snapshot(req, { signal }));
            return {};
          },
        });
      },
      get_instance_diagnostics: async ({ instance: i }) => {
        const info = await d.getInstance(instanceRef(i));
        return {
          state: POWER_STATE_NAMES[info.powerState] ?? 'unknown',
          driver: d.version().name,
          hostname: i.hostname ?? i.name,
          num_cpus: i.flavor.vcpus,
          memory_details: { maximum: i.flavor.memoryMb },
          uptime: i.launchedAt ? Math.round((Date.now() - Date.parse(i.launchedAt)) / 1000) : 0,
        };
      },
      get_console_output: async ({ instance, length }) => {
        // No guest (a build that failed before it made one): Nova's 404, not a fault of the service.
        const output = await d.getConsoleOutput(instanceRef(instance)).catch((err: unknown) => {
          throw isDriverError(err, 'InstanceNotFound') ? new NotFound('Guest does not have a console available.') : err;
        });
        if (length === null) return output;
        const lines = output.split('\n');
        if (lines.at(-1) === '') lines.pop();
        return lines.slice(Math.max(0, lines.length - length)).join('\n');
      },
    };
  }

  private async buildAndRun(ctx: RpcContext, inst: Instance, spec: RequestSpec): Promise<void> {
    const event = 'compute_build_and_run_instance';
    // A second message for a build under way here (a conductor's redelivered build message
    // sent it again) is a no-op.
    if (this.building.has(inst.uuid)) return;
    // Until the spawn's outcome is recorded, a sync would find the instance BUILDING and leave
    // it alone: the driver's events wait, and only one that says other than what was recorded
    // (a spawned guest that stopped meanwhile) is acted on. A failed build is no longer this
    // service's to sync. Registered before the instance is marked spawning, so that a spawning
    // instance this service does not list is one no run of it will finish (abortOrphanedBuilds).
    this.building.set(inst.uuid, null);
    try {
      // With the build's event started (conductor 1.5: the same call).
      await this.outcomes.update(ctx, inst.uuid, { taskState: TaskState.SPAWNING }, [TaskState.SCHEDULING], { event, start: { host: this.host } });
    } catch (err) {
      this.building.delete(inst.uuid);
      // Deleted while it travelled here (the delete path releases its claim), or already taken
      // up (a message delivered twice); anything else fails the message, to be delivered again.
      // (A refused node claim too: the node's new owner builds it.)
      if (!isStaleOwnership(err) && (statusOf(err) === 404 || statusOf(err) === 409)) return;
      throw err;
    }
    let recorded: number | null = null;
    buildsStarted.inc();
    try {
      recorded = await this.spawnAndRecord(ctx, inst, spec, event, process.hrtime.bigint());
    } finally {
      const last = this.building.get(inst.uuid);
      this.building.delete(inst.uuid);
      if (last && recorded !== null && last.powerState !== recorded) this.powerSync.onEvent(last);
    }
  }

  /** Spawns and records the outcome; answers the power state recorded with ACTIVE, null when the build did not stay here. */
  private async spawnAndRecord(ctx: RpcContext, inst: Instance, spec: RequestSpec, event: string, startedNs: bigint): Promise<number | null> {
    let info;
    let ports: Allocation | null = null;
    try {
      // Nova's _build_networks_for_instance, then plug_vifs as the spawn's first step.
      ports = this.networking ? await this.networking.allocate(inst, spec.network) : null;
      if (ports && ports.vifs.length > 0 && this.driver.supports('plugVifs')) await this.driver.plugVifs(instanceRef(inst), ports.vifs);
      const network = { ports: ports?.vifs ?? [] };
      logLifecycle(this.log, 'spawning', inst.uuid, { node: inst.node, image: inst.imageRef, flavor: inst.flavor.name });
      info = await this.inFlight.run((signal) => this.driver.spawn(instanceSpec(inst, inst.imageMeta, network), { signal }));
    } catch (err) {
      buildsFailed.inc();
      buildDuration.observe({ outcome: 'failed' }, secondsSince(startedNs));
      await this.outcomes.recordFailure(ctx, inst, event, err);
      await this.driver.destroy(instanceRef(inst)).catch(() => undefined);
      // A failed build leaves no port: what it made is deleted, the user's unbound (the next host binds them again).
      await this.hostNetworking.undoBuild(inst, ports);
      // A refused network request (no such network, port in use, no address left) is the user's: no other host does better.
      const status = statusOf(err) ?? 500;
      const refused = !isDriverError(err) && ports === null && status >= 400 && status < 500;
      const retryable = (isDriverError(err) && ERROR_TAXONOMY[err.code].retryable) || (!isDriverError(err) && !refused);
      await this.conductor.buildFailed(ctx, spec, inst.uuid, this.host, errorMessage(err), retryable);
      return null;
    }
    try {
      await this.outcomes.update(ctx, inst.uuid, {
        vmState: VmState.ACTIVE, taskState: null, powerState: info.powerState, launchedAt: now().toISOString(),
        ...(ports ? { networkInfo: ports.cache } : {}),
      }, [TaskState.SPAWNING], { event, finish: SUCCESS });
    } catch (err) {
      if (statusOf(err) !== 404 && statusOf(err) !== 409) {
        // The conductor stayed unreachable: the guest runs but its instance still says spawning.
        // The next power sync (or this service's restart) gives the build up (abortOrphanedBuilds).
        this.log.error({ instance: inst.uuid, err: errorMessage(err) }, 'could not record a finished build');
        throw err;
      }
      // Only an instance really being deleted is deleted here; one that moved on otherwise
      // (given up meanwhile, say) keeps its record.
      const current = statusOf(err) === 404 ? null : await this.outcomes.landed(() => this.conductor.instanceGet(ctx, inst.uuid));
      if (current && current.taskState !== TaskState.DELETING) {
        this.log.warn({ instance: inst.uuid, vmState: current.vmState, taskState: current.taskState }, 'spawned, but the build had moved on');
        if (current.vmState === VmState.ERROR) {
          await this.driver.destroy(instanceRef(inst)).catch(() => undefined);
          await this.hostNetworking.undoBuild(inst, ports);
        }
        return null;
      }
      // Deleted during the spawn: the delete is waiting for us to finish; undo the spawn.
      this.log.info({ instance: inst.uuid }, 'instance deleted during its spawn; undoing the spawn');
      await this.driver.destroy(instanceRef(inst)).catch(() => undefined);
      await this.hostNetworking.undoBuild(inst, ports);
      await this.outcomes.landed(() => this.conductor.instanceDestroyed(ctx, inst.uuid));
      return null;
    }
    buildsSucceeded.inc();
    buildDuration.observe({ outcome: 'succeeded' }, secondsSince(startedNs));
    logLifecycle(this.log, 'active', inst.uuid, { node: inst.node, power_state: info.powerState });
    return info.powerState;
  }

  private async terminate(ctx: RpcContext, inst: Instance): Promise<void> {
    const event = eventOf('terminate_instance');
    await this.conductor.actionEventStart(ctx, inst.uuid, event, this.host);
    try {
      await this.inFlight.run((signal) => this.driver.destroy(instanceRef(inst), { signal }));
    } catch (err) {
      await this.outcomes.recordFailure(ctx, inst, event, err);
      await this.conductor.instanceUpdate(ctx, inst.uuid, { vmState: VmState.ERROR, taskState: null }, undefined, NO_RETURN);
      logLifecycle(this.log, 'error', inst.uuid, { reason: `delete failed: ${errorMessage(err)}` });
      return;
    }
    await this.hostNetworking.released(inst);
    logLifecycle(this.log, 'deleted', inst.uuid, { node: inst.node });
    await this.conductor.actionEventFinish(ctx, inst.uuid, event, 'Success', null);
    await this.outcomes.landed(() => this.conductor.instanceDestroyed(ctx, inst.uuid));
  }

  private recoveryDeps(): RecoveryDeps {
    return {
      host: this.host, log: this.log, driver: this.driver, conductor: this.conductor,
      isBuilding: (uuid) => this.building.has(uuid),
      ownedByMove: (inst) => this.evacuations.ownedByMove(inst),
      rerun: async (method, args) => {
        await this.handlers[method](args, systemContext());
      },
    };
  }

  /**
   * Start-up recovery (recovery.ts): the instances a previous run of this service left mid-task;
   * first the evacuations from this host, so that nothing here starts a guest rebuilt elsewhere.
   */
  private async recover(): Promise<void> {
    await this.evacuations.sweep();
    const [dbInstances, driverInstances] = await Promise.all([
      this.outcomes.landed(() => this.conductor.instancesOnHost(systemContext(), this.host)),
      this.driver.listInstances(),
    ]);
    await recoverInstances(this.recoveryDeps(), dbInstances, new Map(driverInstances.map((i) => [i.uuid, i.powerState])));
    await this.hostNetworking.replug(dbInstances, new Set(driverInstances.map((i) => i.uuid)));
  }

  /** The periodic fallback to events, also run at start (power-sync.ts). */
  syncPowerStates(): Promise<void> {
    return this.powerSync.syncAll();
  }
}
