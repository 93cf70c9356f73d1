import { Conflict, errorMessage, NotFound, statusOf } from '../../common/errors.js';
import type { GlanceImage } from '../../clients/image-client.js';
import { availabilityZoneOfHost } from '../../db/aggregates.js';
import { releaseResources } from '../../db/allocations.js';
import type { Db } from '../../db/connection.js';
import { startEvent } from '../../db/instance-actions.js';
import { getInstance, getInstanceRow, updateInstanceRow, type InstanceRowUpdates } from '../../db/instances.js';
import type { ImageMeta, Instance, Selection } from '../../objects/compute.js';
import { PowerState, TaskState, VmState } from '../../objects/states.js';
import { DONE, type FlowDef, type Step, type StepRun, type Transition } from '../task-engine.js';
import { endEvent as finishStepEvent, loadInstance, recordFault } from './common.js';
import { claimDestination } from './placement.js';

/**
 * Shelve, shelve offload and unshelve as task flows (the API starts them: src/api/server-shelve.ts;
 * the periodic offload: src/conductor/shelve-offload.ts). Each step is one idempotent compute
 * call; its effects on the instance, its claims and its action events are written with the
 * step's advance. The event of a step is started by the write before it (the API's transaction
 * for the first), so `server event list` shows it open while the step runs, and finished by the
 * step's own write (Error by the way back).
 *
 *   shelve:          snapshot ─(offload: shelved_offload_time 0)→ offload → done
 *   shelve-offload:  offload → done
 *   unshelve:        power_on → done                  (SHELVED: the guest is still on its host)
 *                    schedule → spawn → done          (SHELVED_OFFLOADED: a new host, from the snapshot)
 *
 * A failed step puts the instance back in the shelved state it came from, with a fault, and
 * gives back any claim the flow made.
 */

export const SHELVE_EVENT = 'compute_shelve_instance';
export const SHELVE_OFFLOAD_EVENT = 'compute_shelve_offload_instance';
export const UNSHELVE_EVENT = 'compute_unshelve_instance';
export const SCHEDULE_EVENT = 'schedule_instances';

// ---- what the flows here and evacuate.ts share

/** A destination the scheduler chose, as a flow keeps it in its payload. */
export interface Dest { host: string; node: string; nodeUuid: string; availabilityZone: string }

export async function destOf(run: StepRun, sel: Selection): Promise<Dest> {
  // An older scheduler answers no zone: the host's, as the build path does.
  const availabilityZone = sel.availabilityZone ?? await availabilityZoneOfHost(run.env.db, run.env.config, sel.host);
  return { host: sel.host, node: sel.node, nodeUuid: sel.nodeUuid, availabilityZone };
}

/** The destination a previous step put in the payload. */
export function payloadDest(run: StepRun): Dest {
  const d = run.flow.payload.dest as Dest | undefined;
  if (!d || typeof d.node !== 'string') throw new Error(`flow ${run.flow.uuid} reached ${run.flow.step} without a destination`);
  return d;
}

/** The instance as it would be on `dest` (what a step sent to the destination carries: the RPC goes to its node). */
export function onDest(inst: Instance, dest: Dest): Instance {
  return { ...inst, host: dest.host, node: dest.node, nodeUuid: dest.nodeUuid, availabilityZone: dest.availabilityZone };
}

/** The flow's instance; gone (deleted meanwhile) is a failure of the step, and the way back writes nothing to it. */
export const flowInstance = (run: StepRun): Promise<Instance> => loadInstance(run);

/**
 * Updates the flow's instance unless it is gone or another task took it over (a delete, which
 * Nova allows in any task state): the flow still advances, and its next step finds that out.
 * Answers whether the update applied.
 */
export async function settle(tx: Db, uuid: string, updates: InstanceRowUpdates, expected?: Array<string | null>): Promise<boolean> {
  try {
    await updateInstanceRow(tx, uuid, updates, expected);
    return true;
  } catch (err) {
    if (err instanceof NotFound || err instanceof Conflict) return false;
    throw err;
  }
}

/** Finishes the flow's `event` (Error when `err` is given) and starts `next`, if any: the next step's event shows open while it runs. */
export async function endEvent(tx: Db, run: StepRun, event: string, err?: unknown, next?: string): Promise<void> {
  await finishStepEvent(tx, run, event, err);
  if (next) await startEvent(tx, run.flow.instanceUuid, run.flow.requestId, next, null);
}

export { recordFault };

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

// ---- shelve

/** shelve 1, the instance's host: powered off and snapshotted into the image the API created. */
const snapshot: Step = async (run) => {
  const inst = await flowInstance(run);
  const imageId = str(run.flow.payload.imageId);
  // Run again after the upload finished (a conductor took the flow over): an active image is
  // the snapshot already, and the compute only powers off (image_id null).
  const uploaded = imageId !== null && (await imageStatus(run, imageId)) === 'active';
  const diskFormat = inst.imageMeta.diskFormat || 'raw';
  const args = { instance: inst, imageId: uploaded ? null : imageId, diskFormat };
  await run.env.compute.moveStep(run.ctx, 'shelve_instance', args, run.env.stepTimeoutMs);
  const offload = run.flow.payload.offload === true;
  return {
    next: offload ? 'offload' : DONE,
    write: async (tx) => {
      // Nova's shelve_instance: SHELVED, and at once SHELVING_OFFLOADING when the offload follows.
      await settle(tx, inst.uuid, {
        vm_state: VmState.SHELVED, task_state: offload ? TaskState.SHELVING_OFFLOADING : null, power_state: PowerState.SHUTDOWN,
        shelved_image_id: imageId, shelved_at: new Date().toISOString(),
      }, [TaskState.SHELVING]);
      // With the offload following, Nova's shelve event covers it (one compute method does both).
      if (!offload) await endEvent(tx, run, SHELVE_EVENT);
    },
  };
};

/** The image's status as the service user sees it; null when there is no image API or it cannot tell. */
async function imageStatus(run: StepRun, imageId: string): Promise<string | null> {
  if (!run.env.images) return null;
  try {
    return (await run.env.images.getImage(imageId)).status;
  } catch (err) {
    if (statusOf(err) === 404) return null;
    throw err;
  }
}

/** offload, the instance's host: the guest destroyed, the instance on no host, its claim released. */
function offloadStep(event: string): Step {
  return async (run) => {
    const inst = await flowInstance(run);
    if (inst.node) await run.env.compute.moveStep(run.ctx, 'shelve_offload_instance', { instance: inst }, run.env.stepTimeoutMs);
    return {
      next: DONE,
      write: async (tx) => {
        const applied = await settle(tx, inst.uuid, {
          vm_state: VmState.SHELVED_OFFLOADED, task_state: null, power_state: PowerState.SHUTDOWN, host: null, node: null, node_uuid: null,
        }, [TaskState.SHELVING_OFFLOADING]);
        if (applied) await releaseResources(tx, inst.uuid);
        await endEvent(tx, run, event);
      },
    };
  };
}

/**
 * A shelve or offload that failed: Nova leaves the instance in the state the compute reached
 * with the task cleared — here, as it was (the guest is not destroyed until offload succeeds),
 * with the fault recorded. `vmState` is where the instance goes back to.
 */
function shelveFailed(run: StepRun, err: unknown, event: string, vmState: string | null, fromTasks: string[]): Transition {
  return {
    next: DONE,
    write: async (tx) => {
      const inst = await getInstance(tx, run.flow.instanceUuid);
      await settle(tx, run.flow.instanceUuid, vmState ? { vm_state: vmState, task_state: null } : { task_state: null }, fromTasks);
      if (inst) await recordFault(tx, run, err, inst.host);
      await endEvent(tx, run, event, err);
    },
  };
}

export const SHELVE_FLOW: FlowDef = {
  kind: 'shelve',
  steps: { snapshot, offload: offloadStep(SHELVE_EVENT) },
  // The snapshot failed: back as it was (the task cleared); the offload failed: shelved, on its host.
  onError: (step, err, run) => (step === 'snapshot'
    ? shelveFailed(run, err, SHELVE_EVENT, null, [TaskState.SHELVING])
    : shelveFailed(run, err, SHELVE_EVENT, VmState.SHELVED, [TaskState.SHELVING_OFFLOADING])),
  giveUp: (run, err) => shelveFailed(run, err, SHELVE_EVENT, null, [TaskState.SHELVING, TaskState.SHELVING_OFFLOADING]).write!,
};

export const SHELVE_OFFLOAD_FLOW: FlowDef = {
  kind: 'shelve-offload',
  steps: { offload: offloadStep(SHELVE_OFFLOAD_EVENT) },
  onError: (_step, err, run) => shelveFailed(run, err, SHELVE_OFFLOAD_EVENT, VmState.SHELVED, [TaskState.SHELVING_OFFLOADING]),
  giveUp: (run, err) => shelveFailed(run, err, SHELVE_OFFLOAD_EVENT, VmState.SHELVED, [TaskState.SHELVING_OFFLOADING]).write!,
};

// ---- unshelve

/** The instance back in service: what both ways of unshelving write at the end. */
function unshelved(inst: Instance, powerState: number, dest: Dest | null): InstanceRowUpdates {
  return {
    vm_state: VmState.ACTIVE, task_state: null, power_state: powerState, shelved_image_id: null, shelved_at: null,
    ...(dest ? { host: dest.host, node: dest.node, node_uuid: dest.nodeUuid, availability_zone: dest.availabilityZone } : {}),
    launched_at: inst.launchedAt ?? new Date().toISOString(),
  };
}

/**
 * The shelved snapshot is not needed once the instance runs again (Nova deletes it at unshelve):
 * deleted with the service user's credentials; one gone already is fine. Failures are logged,
 * never the unshelve's: the instance runs.
 */
async function deleteShelvedImage(run: StepRun, imageId: string | null): Promise<void> {
  if (!imageId || !run.env.images) return;
  try {
    await run.env.images.deleteImage(imageId);
  } catch (err) {
    if (statusOf(err) === 404) return;
    run.env.log.warn({ instance: run.flow.instanceUuid, image: imageId, err: errorMessage(err) }, 'could not delete the shelved image');
  }
}

/** SHELVED: the guest is still on its host, powered off; power it on. */
const powerOn: Step = async (run) => {
  const inst = await flowInstance(run);
  const imageId = await shelvedImageOf(run);
  const { powerState } = await run.env.compute.moveStep(run.ctx, 'unshelve_on_host', { instance: inst }, run.env.stepTimeoutMs);
  return {
    next: 'forget_image', payload: { shelvedImageId: imageId },
    write: async (tx) => {
      await settle(tx, inst.uuid, unshelved(inst, powerState, null), [TaskState.UNSHELVING]);
      await endEvent(tx, run, UNSHELVE_EVENT);
    },
  };
};

async function shelvedImageOf(run: StepRun): Promise<string | null> {
  return (await getInstanceRow(run.env.db, run.flow.instanceUuid))?.shelved_image_id ?? null;
}

/**
 * Last, the instance running again: the shelved snapshot deleted. A step of its own, after the
 * write that cleared shelved_image_id, so that a spawn run again still finds its image.
 */
const forgetImage: Step = async (run) => {
  await deleteShelvedImage(run, str(run.flow.payload.shelvedImageId));
  return { next: DONE };
};

/** SHELVED_OFFLOADED 1: a host for it (no claim is held while offloaded: the claim made here is the instance's). */
const schedule: Step = async (run) => {
  const inst = await flowInstance(run);
  const sel = await claimDestination(run, {
    instance: inst, flavor: inst.flavor, migrationUuid: null, ignoreHosts: [],
    forceHost: str(run.flow.payload.host), availabilityZone: str(run.flow.payload.availabilityZone), requiredTraits: [],
  });
  const dest = await destOf(run, sel);
  return { next: 'spawn', payload: { dest }, write: (tx) => endEvent(tx, run, SCHEDULE_EVENT, undefined, UNSHELVE_EVENT) };
};

/** SHELVED_OFFLOADED 2, the chosen host: the guest spawned from the shelved snapshot. */
const spawn: Step = async (run) => {
  const inst = await flowInstance(run);
  const dest = payloadDest(run);
  const imageId = await shelvedImageOf(run);
  if (!imageId) throw new NotFound(`Instance ${inst.uuid} has no shelved image to unshelve from.`);
  const image = await shelvedImageMeta(run, inst, imageId);
  const args = { instance: onDest(inst, dest), image, powerOn: true };
  const { powerState } = await run.env.compute.moveStep(run.ctx, 'spawn_moved_instance', args, run.env.stepTimeoutMs);
  if (!(await getInstanceRow(run.env.db, inst.uuid))) {
    // Deleted while it spawned (an offloaded server is deleted without a compute): the new guest
    // goes too, and the way back gives the claim up.
    await run.env.compute.moveStep(run.ctx, 'shelve_offload_instance', { instance: onDest(inst, dest) }, run.env.stepTimeoutMs);
    throw new NotFound(`Instance ${inst.uuid} could not be found.`);
  }
  return {
    next: 'forget_image', payload: { shelvedImageId: imageId },
    write: async (tx) => {
      // Deleted since the look above: nothing holds the claim but this flow.
      if (!(await settle(tx, inst.uuid, unshelved(inst, powerState, dest), [TaskState.UNSHELVING])) && !(await getInstanceRow(tx, inst.uuid))) {
        await releaseResources(tx, inst.uuid);
      }
      await endEvent(tx, run, UNSHELVE_EVENT);
    },
  };
};

/**
 * The snapshot's image meta for the spawn: the image API's record when there is one (its
 * size and checksum), else the boot image's with the snapshot's id (a snapshot keeps the boot
 * image's formats and properties).
 */
async function shelvedImageMeta(run: StepRun, inst: Instance, imageId: string): Promise<ImageMeta> {
  const base: ImageMeta = { ...inst.imageMeta, id: imageId };
  if (!run.env.images) return base;
  let img: GlanceImage;
  try {
    img = await run.env.images.getImage(imageId);
  } catch (err) {
    // Nova: "Unshelve attempted but the image … cannot be found."
    if (statusOf(err) === 404) throw new NotFound(`Unshelve attempted but the image ${imageId} cannot be found.`);
    throw err;
  }
  // A snapshot still uploading (or killed mid-upload) has no complete disk to spawn from.
  if (img.status !== 'active') throw new Conflict(`Image ${imageId} to unshelve from is ${img.status}, not active.`);
  return {
    ...base, name: img.name ?? base.name, status: img.status, diskFormat: img.disk_format ?? base.diskFormat,
    containerFormat: img.container_format ?? base.containerFormat, size: img.size ?? 0, checksum: img.checksum,
    minDisk: img.min_disk, minRam: img.min_ram,
  };
}

/**
 * An unshelve that failed: back in the shelved state it came from, the task cleared, a fault
 * and the event's Error; a claim the schedule made released (Nova: NoValidHost leaves it
 * SHELVED_OFFLOADED with the task cleared).
 */
function unshelveFailed(run: StepRun, step: string, err: unknown): Transition {
  return {
    next: DONE,
    write: async (tx) => {
      const offloaded = step !== 'power_on';
      const inst = await getInstance(tx, run.flow.instanceUuid);
      const back = { vm_state: offloaded ? VmState.SHELVED_OFFLOADED : VmState.SHELVED, task_state: null };
      await settle(tx, run.flow.instanceUuid, back, [TaskState.UNSHELVING]);
      // The instance's claim: while offloaded (or once deleted) it holds none but what this flow's schedule made.
      if (offloaded && (!inst || !inst.node)) await releaseResources(tx, run.flow.instanceUuid);
      if (inst) await recordFault(tx, run, err, inst.host);
      await endEvent(tx, run, step === 'schedule' ? SCHEDULE_EVENT : UNSHELVE_EVENT, err);
    },
  };
}

export const UNSHELVE_FLOW: FlowDef = {
  kind: 'unshelve',
  steps: { power_on: powerOn, schedule, spawn, forget_image: forgetImage },
  // The instance runs once forget_image is reached: a snapshot left behind is only logged.
  onError: (step, err, run) => (step === 'forget_image' ? { next: DONE } : unshelveFailed(run, step, err)),
  giveUp: (run, err) => unshelveFailed(run, run.flow.step, err).write!,
};

export const SHELVE_FLOWS: FlowDef[] = [SHELVE_FLOW, SHELVE_OFFLOAD_FLOW, UNSHELVE_FLOW];
