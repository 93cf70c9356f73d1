import type { LifecycleEvent, VirtDriver } from '@orrery/virt-api';
import { errorMessage } from '../common/errors.js';
import { logLifecycle, type Logger } from '../common/logging.js';
import type { Instance } from '../objects/compute.js';
import { PowerState, VmState } from '../objects/states.js';
import type { ConductorRpcApi, InstanceUpdates } from '../rpc/conductor-api.js';
import { systemContext } from '../rpc/dispatch.js';
import { instanceRef } from './specs.js';

export interface PowerSyncDeps {
  host: string;
  log: Logger;
  driver: VirtDriver;
  conductor: ConductorRpcApi;
  /** `[compute] stopped_event_delay`, in ms. */
  stoppedEventDelayMs: number;
  /**
   * The instances the compute service is spawning, with the driver's last event about each
   * (shared with it): their events wait until the spawn's outcome is recorded.
   */
  building: Map<string, LifecycleEvent | null>;
  /** Gives up the builds this host took up and no longer runs (recovery.ts). */
  abortOrphanedBuilds(instances: Instance[]): Promise<unknown>;
  /** True when a move's flow owns the instance (move-ownership.ts): its power is the flow's to set. */
  ownedByMove(inst: Instance): boolean;
  /** Run before each sweep: the guests of instances evacuated from this host removed (evacuations.ts). */
  beforeSweep(): Promise<void>;
}

/**
 * Keeps the recorded power state of a host's instances in step with the hypervisor's: the
 * driver's lifecycle events as they come, and a periodic sweep over every instance of the host
 * (Nova's _sync_power_states) for what an event missed.
 */
export class PowerSync {
  private readonly pendingStops = new Map<string, NodeJS.Timeout>();

  constructor(private readonly d: PowerSyncDeps) {}

  /**
   * One lifecycle event of the driver. A Stopped event waits `stoppedEventDelayMs`: a hard
   * reboot emits Stopped then Started, and acting on the first would flap the instance to SHUTOFF.
   */
  onEvent(e: LifecycleEvent): void {
    if (this.d.building.has(e.uuid)) {
      this.d.building.set(e.uuid, e);
      return;
    }
    const pending = this.pendingStops.get(e.uuid);
    if (pending) {
      clearTimeout(pending);
      this.pendingStops.delete(e.uuid);
    }
    const act = (): void => {
      this.pendingStops.delete(e.uuid);
      this.syncOne(e.uuid, e.powerState).catch((err: unknown) => this.d.log.warn({ err: errorMessage(err) }, 'event sync failed'));
    };
    if (e.transition === 'stopped') {
      const t = setTimeout(act, this.d.stoppedEventDelayMs);
      t.unref();
      this.pendingStops.set(e.uuid, t);
    } else {
      act();
    }
  }

  /**
   * The periodic fallback to events, also run at start. Builds this host took up and no longer
   * runs (their outcome could not be recorded) are given up here.
   */
  async syncAll(): Promise<void> {
    await this.d.beforeSweep();
    const [dbInstances, driverInstances] = await Promise.all([
      this.d.conductor.instancesOnHost(systemContext(), this.d.host),
      this.d.driver.listInstances(),
    ]);
    await this.d.abortOrphanedBuilds(dbInstances);
    const power = new Map(driverInstances.map((i) => [i.uuid, i.powerState]));
    for (const inst of dbInstances) {
      await this.reconcile(inst, power.get(inst.uuid) ?? PowerState.NOSTATE).catch((err: unknown) =>
        this.d.log.warn({ instance: inst.uuid, err: errorMessage(err) }, 'power sync failed'));
    }
  }

  /** Drops the Stopped events still waiting (the service stops). */
  stop(): void {
    for (const t of this.pendingStops.values()) clearTimeout(t);
    this.pendingStops.clear();
  }

  private async syncOne(uuid: string, powerState: number): Promise<void> {
    const inst = await this.d.conductor.instanceGet(systemContext(), uuid);
    if (inst && inst.host === this.d.host) await this.reconcile(inst, powerState);
  }

  /** Nova's _sync_instance_power_state: the hypervisor is the truth for power; vm_state follows. */
  private async reconcile(inst: Instance, powerState: number): Promise<void> {
    if (inst.taskState !== null || inst.vmState === VmState.BUILDING || inst.vmState === VmState.ERROR || this.d.ownedByMove(inst)) return;
    const off = powerState === PowerState.SHUTDOWN || powerState === PowerState.NOSTATE || powerState === PowerState.CRASHED;
    const updates: InstanceUpdates = {};
    if (powerState !== inst.powerState) updates.powerState = powerState;
    if (inst.vmState === VmState.ACTIVE && off) updates.vmState = VmState.STOPPED;
    if (inst.vmState === VmState.STOPPED && powerState === PowerState.RUNNING) {
      // Should be stopped but runs: stop it, as Nova does.
      await this.d.driver.powerOff(instanceRef(inst), 60);
      updates.powerState = (await this.d.driver.getInstance(instanceRef(inst))).powerState;
    }
    if (Object.keys(updates).length === 0) return;
    // A change behind the cloud's back (the guest shut itself down, a back-end's own tools).
    logLifecycle(this.d.log, 'power_state', inst.uuid, { event: 'power_sync', from: inst.powerState, to: updates.powerState ?? inst.powerState, vm_state: updates.vmState });
    await this.d.conductor.instanceUpdate(systemContext(), inst.uuid, updates, [null], { returnInstance: false });
  }
}
