import type { VirtDriver } from '@orrery/virt-api';
import { Conflict, errorMessage, statusOf } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import type { Instance } from '../objects/compute.js';
import { PowerState, TaskState, VmState } from '../objects/states.js';
import type { RpcContext } from '../rpc/bus.js';
import type { ComputeArgs } from '../rpc/compute-api.js';
import type { ConductorRpcApi, InstanceUpdates } from '../rpc/conductor-api.js';
import { systemContext } from '../rpc/dispatch.js';
import { instanceRef } from './specs.js';

/**
 * What a compute service does, as it starts, with the instances of its host that a previous run
 * left mid-task (killed, crashed, its machine rebooted) — Nova's ComputeManager._init_instance:
 * a build is given up (ERROR with a fault, claim released), a rebuild fails, a stop, start or
 * reboot is done again, a delete is finished, and other tasks are cleared to what the
 * hypervisor says. Builds still waiting for their message (task state scheduling) are left to
 * it: it is queued for this host and arrives once the service listens again.
 */

const T = TaskState;

/** Task states of a build this host has taken up (Nova's, before the guest exists). */
export const BUILD_TASK_STATES: readonly string[] = [T.BLOCK_DEVICE_MAPPING, T.NETWORKING, T.SPAWNING];
const REBUILD_TASK_STATES: readonly string[] = [T.REBUILDING, T.REBUILD_BLOCK_DEVICE_MAPPING, T.REBUILD_SPAWNING];
const SNAPSHOT_TASK_STATES: readonly string[] = [T.IMAGE_SNAPSHOT, T.IMAGE_SNAPSHOT_PENDING, T.IMAGE_PENDING_UPLOAD, T.IMAGE_UPLOADING];
const REBOOT_TASK_STATES: readonly string[] = [
  T.REBOOTING, T.REBOOT_PENDING, T.REBOOT_STARTED, T.REBOOTING_HARD, T.REBOOT_PENDING_HARD, T.REBOOT_STARTED_HARD,
];
const SETTLING_TASK_STATES: readonly string[] = [T.PAUSING, T.UNPAUSING, T.SUSPENDING, T.RESUMING];

/** The vm_state a guest's power state means, for a task cleared half-way. */
const VM_STATE_OF_POWER: Record<number, string> = {
  [PowerState.RUNNING]: VmState.ACTIVE, [PowerState.PAUSED]: VmState.PAUSED, [PowerState.SUSPENDED]: VmState.SUSPENDED,
  [PowerState.SHUTDOWN]: VmState.STOPPED, [PowerState.CRASHED]: VmState.STOPPED, [PowerState.NOSTATE]: VmState.STOPPED,
};

/** The operations start-up recovery does again. */
export type RerunMethod = 'stop_instance' | 'start_instance' | 'reboot_instance' | 'terminate_instance';

export interface RecoveryDeps {
  host: string;
  log: Logger;
  driver: VirtDriver;
  conductor: ConductorRpcApi;
  /** Whether this run of the service is building the instance. */
  isBuilding(uuid: string): boolean;
  /** True when a move's flow owns the instance (move-ownership.ts): the conductor finishes or rolls it back, not recovery. */
  ownedByMove(inst: Instance): boolean;
  /** Runs one of the service's own RPC methods (an operation done again). */
  rerun<K extends RerunMethod>(method: K, args: ComputeArgs<K>): Promise<void>;
}

/** The fault of a build given up because its compute service restarted. */
export function abortedBuildMessage(uuid: string, host: string): string {
  return `Instance ${uuid} was building on ${host} when its compute service restarted; the build was aborted.`;
}

/**
 * Gives up the builds this host had taken up and no run of the service is finishing: ERROR
 * with a fault and the claim released (through the conductor), the half-built guest destroyed.
 * Run at start and with every power sync (a build whose outcome could not be recorded).
 * Answers the uuids given up.
 */
export async function abortOrphanedBuilds(deps: RecoveryDeps, instances: Instance[]): Promise<string[]> {
  const aborted: string[] = [];
  for (const inst of instances) {
    if (inst.host !== deps.host || inst.taskState === null || !BUILD_TASK_STATES.includes(inst.taskState) || deps.isBuilding(inst.uuid)) continue;
    try {
      if (!(await abortBuild(deps, inst))) continue;
      aborted.push(inst.uuid);
      deps.log.warn({ instance: inst.uuid, taskState: inst.taskState }, 'build left unfinished by a previous run: set to ERROR');
      // The guest may exist half-built; its claim is gone, so is it.
      await deps.driver.destroy(instanceRef(inst)).catch(() => undefined);
    } catch (err) {
      deps.log.warn({ instance: inst.uuid, err: errorMessage(err) }, 'could not give up an unfinished build');
    }
  }
  return aborted;
}

async function abortBuild(deps: RecoveryDeps, inst: Instance): Promise<boolean> {
  const ctx = systemContext();
  const message = abortedBuildMessage(inst.uuid, deps.host);
  try {
    return await deps.conductor.instanceBuildAborted(ctx, inst.uuid, deps.host, message);
  } catch (err) {
    if (!(err instanceof Conflict && /needs RPC 1\.2/.test(err.message))) throw err;
  }
  // Pinned to a conductor older than 1.2: ERROR with the fault through the 1.0 calls; the
  // claim stays until the instance is deleted.
  try {
    await deps.conductor.instanceUpdate(ctx, inst.uuid, { vmState: VmState.ERROR, taskState: null }, [...BUILD_TASK_STATES], { returnInstance: false });
  } catch (err) {
    if (statusOf(err) === 409 || statusOf(err) === 404) return false;
    throw err;
  }
  await deps.conductor.instanceFaultCreate(ctx, inst.uuid, 500, message, message, deps.host);
  return true;
}

/** Start-up recovery of every instance of the host (see the file comment); `power` is the hypervisor's view. */
export async function recoverInstances(deps: RecoveryDeps, instances: Instance[], power: Map<string, number>): Promise<void> {
  await abortOrphanedBuilds(deps, instances);
  for (const inst of instances) {
    if (inst.host !== deps.host || inst.taskState === null || BUILD_TASK_STATES.includes(inst.taskState) || deps.ownedByMove(inst)) continue;
    try {
      await recoverOne(deps, inst, power.get(inst.uuid) ?? PowerState.NOSTATE);
    } catch (err) {
      deps.log.warn({ instance: inst.uuid, taskState: inst.taskState, err: errorMessage(err) }, 'could not recover an unfinished task');
    }
  }
}

async function recoverOne(deps: RecoveryDeps, inst: Instance, powerState: number): Promise<void> {
  const task = inst.taskState!;
  const ctx = systemContext();
  const set = (updates: InstanceUpdates): Promise<void> =>
    deps.conductor.instanceUpdate(ctx, inst.uuid, updates, [task], { returnInstance: false });
  if (task === T.SCHEDULING) return; // its build message is queued for this host
  deps.log.info({ instance: inst.uuid, taskState: task, powerState }, 'task left unfinished by a previous run');
  if (REBUILD_TASK_STATES.includes(task)) {
    const message = `Instance ${inst.uuid} was rebuilding on ${deps.host} when its compute service restarted.`;
    await set({ vmState: VmState.ERROR, taskState: null });
    await deps.conductor.instanceFaultCreate(ctx, inst.uuid, 500, message, message, deps.host);
  } else if (SNAPSHOT_TASK_STATES.includes(task)) {
    await set({ taskState: null });
  } else if (task === T.DELETING) {
    await deps.rerun('terminate_instance', { instance: inst });
  } else if (task === T.POWERING_OFF) {
    await deps.rerun('stop_instance', { instance: inst });
  } else if (task === T.POWERING_ON) {
    await deps.rerun('start_instance', { instance: inst });
  } else if (REBOOT_TASK_STATES.includes(task)) {
    await recoverReboot(deps, ctx, inst, task, powerState, set);
  } else if (SETTLING_TASK_STATES.includes(task)) {
    await set({ taskState: null, vmState: VM_STATE_OF_POWER[powerState] ?? VmState.ERROR, powerState });
  } else {
    await set({ taskState: null });
  }
}

/**
 * Nova's _retry_reboot: a reboot still pending is done again (soft only if it was a soft one of a
 * running guest), one that had started is done again as a hard reboot unless the guest runs, in
 * which case it is over and its task is cleared.
 */
async function recoverReboot(
  deps: RecoveryDeps, ctx: RpcContext, inst: Instance, task: string, powerState: number, set: (u: InstanceUpdates) => Promise<void>,
): Promise<void> {
  const pending = task === T.REBOOT_PENDING || task === T.REBOOT_PENDING_HARD;
  if (!pending && powerState === PowerState.RUNNING) {
    await set({ taskState: null, vmState: VmState.ACTIVE, powerState });
    return;
  }
  const soft = task === T.REBOOT_PENDING && powerState === PowerState.RUNNING;
  const again = soft ? T.REBOOT_PENDING : T.REBOOT_PENDING_HARD;
  if (again !== task) await deps.conductor.instanceUpdate(ctx, inst.uuid, { taskState: again }, [task], { returnInstance: false });
  await deps.rerun('reboot_instance', { instance: { ...inst, taskState: again }, rebootType: soft ? 'SOFT' : 'HARD' });
}
