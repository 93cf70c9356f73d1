import { statusOf } from '../../common/errors.js';
import { newRequestId } from '../../common/ids.js';
import { createAction } from '../../db/instance-actions.js';
import { getInstanceRow } from '../../db/instances.js';
import type { Db } from '../../db/connection.js';
import { updateMigration } from '../../db/move-records.js';
import { resumeWaitingFlow, waitingSince } from '../../db/task-flows.js';
import { atomically } from '../../db/transactions.js';
import type { Flavor } from '../../objects/compute.js';
import { TaskState, VmState } from '../../objects/states.js';
import { DONE, type FlowDef, type Step, type StepRun, type Transition } from '../task-engine.js';
import {
  beginEvent, endEvent, endForGone, flavorColumns, giveUpMove, InstanceGone, instanceAt, isStepError, loadInstance, loadMigration, placeColumns, recordFault,
  restingState, settleClaims, sourceOf, transferImageMeta, writeInstance, writeMigration, type Place,
} from './common.js';
import { claimDestination } from './placement.js';

/**
 * Resize and cold migration (kinds 'resize' and 'migration'): one flow, Nova's states.
 *
 *   schedule      claim the destination (the source claim held by the migration)   resize_prep
 *   migrate_disk  source: power off, keep the guest, upload its disk               resize_migrating
 *   finish        destination: the guest from the disk, new flavor                 resize_migrated → resize_finish
 *   verify        waiting for confirmResize / revertResize (or resize_confirm_window) VERIFY_RESIZE
 *   confirm       source: remove what it kept; the source claim released
 *   revert        destination: remove the copy                                     resize_reverting
 *   finish_revert source: the kept guest back; the destination claim released
 *
 * A failure before `verify` takes the flow back to the source (rollback_dest → rollback_source),
 * the instance usable where it was, with a fault; the migration record says error.
 */

const COLD_TRAIT = 'COMPUTE_COLD_MIGRATION';

interface ResizePayload {
  dest?: Place;
  powerOn?: boolean;
  transferImageId?: string | null;
  host?: string | null;
}

const payloadOf = (run: StepRun): ResizePayload => run.flow.payload as ResizePayload;
const flavorOf = (json: string | null): Flavor => JSON.parse(json ?? 'null') as Flavor;

/** The image format a transfer carries a disk in. */
const TRANSFER_FORMAT = 'qcow2';

const schedule: Step = async (run) => {
  const inst = await loadInstance(run);
  const m = await loadMigration(run);
  await beginEvent(run, 'conductor_migrate_server', null);
  const sameHost = run.flow.kind === 'resize' && run.env.config.bool('DEFAULT', 'allow_resize_to_same_host');
  const sel = await claimDestination(run, {
    instance: inst, flavor: flavorOf(m.new_flavor), migrationUuid: m.uuid,
    ignoreHosts: sameHost || !inst.host ? [] : [inst.host], forceHost: payloadOf(run).host ?? null,
    availabilityZone: null, requiredTraits: [COLD_TRAIT],
  });
  const dest: Place = { host: sel.host, node: sel.node, nodeUuid: sel.nodeUuid, availabilityZone: sel.availabilityZone };
  return {
    next: 'migrate_disk',
    payload: { dest, powerOn: inst.vmState !== VmState.STOPPED },
    write: async (tx) => {
      await writeMigration(tx, run, 'migrating', { dest_compute: dest.host, dest_node: dest.node, dest_node_uuid: dest.nodeUuid, dest_host: dest.host });
      await writeInstance(tx, inst.uuid, { task_state: TaskState.RESIZE_MIGRATING });
      await endEvent(tx, run, 'conductor_migrate_server');
    },
  };
};

const migrateDisk: Step = async (run) => {
  const inst = await loadInstance(run);
  const m = await loadMigration(run);
  const { dest } = payloadOf(run);
  const source = sourceOf(m);
  await beginEvent(run, 'compute_resize_instance', source.host);
  const crossNode = dest!.nodeUuid !== source.nodeUuid;
  let transfer: { imageId: string; diskFormat: string } | null = null;
  if (crossNode) {
    // The transfer image's id is the migration's: creating it again (the step run twice) finds it.
    transfer = { imageId: m.uuid, diskFormat: TRANSFER_FORMAT };
    await createTransferImage(run, m.uuid, inst.uuid);
  }
  await run.env.compute.moveStep(run.ctx, 'migrate_disk_and_power_off', {
    instance: instanceAt(inst, source), migrationId: m.uuid, transfer,
  }, run.env.stepTimeoutMs);
  return {
    next: 'finish',
    payload: { transferImageId: transfer?.imageId ?? null },
    write: async (tx) => {
      await writeMigration(tx, run, 'post-migrating');
      await writeInstance(tx, inst.uuid, { task_state: TaskState.RESIZE_MIGRATED });
      await endEvent(tx, run, 'compute_resize_instance');
    },
  };
};

async function createTransferImage(run: StepRun, id: string, instanceUuid: string): Promise<void> {
  const images = run.env.images;
  if (!images) throw new Error('the conductor has no image service to carry the disk between hosts ([service_user] auth_url)');
  try {
    await images.createImage({
      id, name: `migration-${id}`, disk_format: TRANSFER_FORMAT, container_format: 'bare', visibility: 'private', os_hidden: true,
      instance_uuid: instanceUuid, orrery_transfer: 'true',
    });
  } catch (err) {
    if (statusOf(err) !== 409) throw err; // made already
  }
}

async function deleteTransferImage(run: StepRun, id: string | null | undefined): Promise<void> {
  if (!id || !run.env.images) return;
  await run.env.images.deleteImage(id).catch((err: unknown) => {
    if (statusOf(err) !== 404) run.env.log.warn({ image: id, err: String(err) }, 'could not delete a transfer image');
  });
}

const finish: Step = async (run) => {
  const inst = await loadInstance(run);
  const m = await loadMigration(run);
  const p = payloadOf(run);
  const dest = p.dest!;
  const newFlavor = flavorOf(m.new_flavor);
  await beginEvent(run, 'compute_finish_resize', dest.host);
  await writeInstance(run.env.db, inst.uuid, { task_state: TaskState.RESIZE_FINISH });
  const { powerState } = await run.env.compute.moveStep(run.ctx, 'finish_migration', {
    instance: instanceAt(inst, dest, newFlavor), migrationId: m.uuid,
    transferImage: p.transferImageId ? transferImageMeta(p.transferImageId, TRANSFER_FORMAT) : null,
    sourceNode: m.source_node ?? '', powerOn: p.powerOn !== false,
  }, run.env.stepTimeoutMs);
  await deleteTransferImage(run, p.transferImageId);
  return {
    next: 'verify', wait: true,
    write: async (tx) => {
      await writeInstance(tx, inst.uuid, {
        ...placeColumns(dest), ...flavorColumns(newFlavor), vm_state: VmState.RESIZED, task_state: null, power_state: powerState,
      });
      await writeMigration(tx, run, 'finished');
      await endEvent(tx, run, 'compute_finish_resize');
    },
  };
};

/** Waiting for the user: nothing to run (the API or the auto-confirm resumes the flow at confirm or revert). */
const verify: Step = async () => ({ next: 'verify', wait: true });

const confirm: Step = async (run) => {
  // A server deleted in VERIFY_RESIZE is confirmed too, so that its source keeps nothing (Nova's confirm on delete).
  const inst = await loadInstance(run, { includeDeleted: true });
  const m = await loadMigration(run);
  const source = sourceOf(m);
  await beginEvent(run, 'compute_confirm_resize', source.host);
  await run.env.compute.moveStep(run.ctx, 'confirm_migration', {
    instance: instanceAt(inst, source, flavorOf(m.old_flavor)), migrationId: m.uuid,
  }, run.env.stepTimeoutMs);
  return {
    next: DONE,
    write: async (tx) => {
      await settleClaims(tx, run, 'destination');
      await writeInstance(tx, inst.uuid, { vm_state: restingState(run), task_state: null });
      await writeMigration(tx, run, 'confirmed');
      await endEvent(tx, run, 'compute_confirm_resize');
    },
  };
};

const revert: Step = async (run) => {
  const inst = await loadInstance(run);
  const m = await loadMigration(run);
  const dest = payloadOf(run).dest!;
  await beginEvent(run, 'compute_revert_resize', dest.host);
  await run.env.compute.moveStep(run.ctx, 'revert_migration', { instance: instanceAt(inst, dest), migrationId: m.uuid }, run.env.stepTimeoutMs);
  return { next: 'finish_revert', write: (tx) => endEvent(tx, run, 'compute_revert_resize') };
};

/** The kept guest back on the source; `failed`: the way back of a failed move (the fault written, the migration in error). */
function backOnSource(failed: boolean): Step {
  return async (run) => {
    const inst = await loadInstance(run);
    const m = await loadMigration(run);
    const source = sourceOf(m);
    const oldFlavor = flavorOf(m.old_flavor);
    const event = failed ? 'compute_rollback_resize' : 'compute_finish_revert_resize';
    await beginEvent(run, event, source.host);
    let powerState: number | null = null;
    try {
      ({ powerState } = await run.env.compute.moveStep(run.ctx, 'finish_revert_migration', {
        instance: instanceAt(inst, source, oldFlavor), migrationId: m.uuid, powerOn: payloadOf(run).powerOn !== false,
      }, run.env.stepTimeoutMs));
    } catch (err) {
      // A move that failed before the source kept anything left the guest listed there, perhaps
      // powered off already: power it on again as it was.
      if (!failed || !(isStepError(err, 'InstanceNotFound') || statusOf(err) === 404)) throw err;
      if (payloadOf(run).powerOn !== false) {
        ({ powerState } = await run.env.compute.moveStep(run.ctx, 'unshelve_on_host', { instance: instanceAt(inst, source, oldFlavor) }, run.env.stepTimeoutMs));
      }
    }
    return {
      next: DONE,
      write: async (tx) => {
        await settleClaims(tx, run, 'source');
        await writeInstance(tx, inst.uuid, {
          ...placeColumns({ ...source, availabilityZone: null }), ...flavorColumns(oldFlavor), vm_state: restingState(run), task_state: null,
          ...(powerState !== null ? { power_state: powerState } : {}),
        });
        await writeMigration(tx, run, failed ? 'error' : 'reverted');
        await endEvent(tx, run, event);
      },
    };
  };
}

/** Failed after the destination began: remove its copy, then back on the source. */
const rollbackDest: Step = async (run) => {
  const inst = await loadInstance(run);
  const m = await loadMigration(run);
  const dest = payloadOf(run).dest!;
  await run.env.compute.moveStep(run.ctx, 'revert_migration', { instance: instanceAt(inst, dest), migrationId: m.uuid }, run.env.stepTimeoutMs);
  await deleteTransferImage(run, payloadOf(run).transferImageId);
  return { next: 'rollback_source' };
};

/** The step a failure of each step leads to. */
function onError(step: string, err: unknown, run: StepRun): Transition | null {
  const event = ({ schedule: 'conductor_migrate_server', migrate_disk: 'compute_resize_instance', finish: 'compute_finish_resize' } as Record<string, string>)[step];
  if (err instanceof InstanceGone) return endForGone(run);
  if (event === undefined) return null; // a confirm, revert or rollback failed: give up
  const failed = async (tx: Parameters<NonNullable<Transition['write']>>[0]) => {
    await recordFault(tx, run, err, null);
    await endEvent(tx, run, event, err);
  };
  if (step === 'schedule') {
    // No destination: nothing moved; the claim is the instance's again (claimDestination gave it back).
    return {
      next: DONE,
      write: async (tx) => {
        await failed(tx);
        await settleClaims(tx, run, 'source');
        await writeInstance(tx, run.flow.instanceUuid, { task_state: null });
        await writeMigration(tx, run, 'error');
      },
    };
  }
  return { next: step === 'finish' ? 'rollback_dest' : 'rollback_source', write: failed };
}

const steps = {
  schedule, migrate_disk: migrateDisk, finish, verify, confirm, revert, finish_revert: backOnSource(false),
  rollback_dest: rollbackDest, rollback_source: backOnSource(true),
};

export const RESIZE_FLOW: FlowDef = { kind: 'resize', steps, onError, giveUp: giveUpMove };
export const MIGRATION_FLOW: FlowDef = { kind: 'migration', steps, onError, giveUp: giveUpMove };

/**
 * Nova's resize_confirm_window: resizes waiting in VERIFY_RESIZE longer than it are confirmed by
 * the conductor itself. Answers the flows set running again (the caller drives them).
 */
export async function confirmOverdueResizes(db: Db, windowSeconds: number): Promise<string[]> {
  if (windowSeconds <= 0) return [];
  const before = new Date(Date.now() - windowSeconds * 1000).toISOString();
  const resumed: string[] = [];
  for (const f of await waitingSince(db, ['resize', 'migration'], 'verify', before, 50)) {
    // Recorded as Nova's periodic confirm is: a confirmResize action of the system's own request.
    const requestId = newRequestId();
    const ok = await atomically(db, async (tx) => {
      const row = await getInstanceRow(tx, f.instanceUuid);
      if (!row || !(await resumeWaitingFlow(tx, f.uuid, 'verify', 'confirm', requestId))) return false;
      if (f.migrationUuid) await updateMigration(tx, f.migrationUuid, { status: 'confirming' });
      await createAction(tx, { instanceUuid: row.uuid, action: 'confirmResize', requestId, projectId: row.project_id, userId: row.user_id });
      return true;
    });
    if (ok) resumed.push(f.uuid);
  }
  return resumed;
}
