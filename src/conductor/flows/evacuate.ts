import { statusOf } from '../../common/errors.js';
import { getInstance } from '../../db/instances.js';
import { getMigration, updateMigration } from '../../db/move-records.js';
import { TaskState, VmState } from '../../objects/states.js';
import { DONE, type FlowDef, type Step, type StepRun, type Transition } from '../task-engine.js';
import { claimDestination, giveSourceClaimBack } from './placement.js';
import { destOf, endEvent, flowInstance, onDest, payloadDest, recordFault, settle } from './shelve.js';

/**
 * Evacuate as a task flow: the instance's host is down (the API checked that), so the guest is
 * rebuilt from its image on another host (Nova's rebuild with recreate; no shared storage).
 *
 *   schedule → rebuild → done
 *
 * The source's claim moves to the migration's uuid at schedule and stays there after the flow:
 * the source, when it comes back, destroys what is left of the guest and calls
 * evacuation_cleaned, which releases it and completes the migration (db/move-records.ts). Until
 * then the migration is 'done' and the returning compute leaves the instance alone.
 *
 * A failure leaves the instance in ERROR on its (dead) source with a fault, the destination
 * claim released and the source claim back with the instance, and the migration 'error' (no
 * host, as Nova's conductor) or 'failed' (the rebuild, as Nova's compute).
 */

export const CONDUCTOR_EVENT = 'conductor_rebuild_instance';
export const REBUILD_EVENT = 'compute_rebuild_instance';

function migrationOf(run: StepRun): string {
  if (!run.flow.migrationUuid) throw new Error(`evacuation flow ${run.flow.uuid} has no migration`);
  return run.flow.migrationUuid;
}

const schedule: Step = async (run) => {
  const inst = await flowInstance(run);
  const migrationUuid = migrationOf(run);
  const host = typeof run.flow.payload.host === 'string' ? run.flow.payload.host : null;
  const sel = await claimDestination(run, {
    instance: inst, flavor: inst.flavor, migrationUuid, ignoreHosts: inst.host ? [inst.host] : [],
    // A named host (forced from 2.29 or checked by the scheduler: the same claim here).
    forceHost: host, availabilityZone: null, requiredTraits: [],
  });
  const dest = await destOf(run, sel);
  return {
    next: 'rebuild',
    payload: { dest },
    write: async (tx) => {
      await updateMigration(tx, migrationUuid, {
        status: 'pre-migrating', dest_compute: dest.host, dest_node: dest.node, dest_node_uuid: dest.nodeUuid, dest_host: dest.host,
      });
      await endEvent(tx, run, CONDUCTOR_EVENT, undefined, REBUILD_EVENT);
    },
  };
};

const rebuild: Step = async (run) => {
  const inst = await flowInstance(run);
  const dest = payloadDest(run);
  const migrationUuid = migrationOf(run);
  // Nova's rebuild keeps a stopped instance stopped; anything else (ACTIVE, ERROR) comes back running.
  const wasStopped = inst.vmState === VmState.STOPPED;
  const { powerState } = await run.env.compute.moveStep(run.ctx, 'spawn_moved_instance', {
    instance: onDest(inst, dest), image: inst.imageMeta, powerOn: !wasStopped,
  }, run.env.stepTimeoutMs);
  return {
    next: DONE,
    write: async (tx) => {
      await settle(tx, inst.uuid, {
        host: dest.host, node: dest.node, node_uuid: dest.nodeUuid, availability_zone: dest.availabilityZone,
        vm_state: wasStopped ? VmState.STOPPED : VmState.ACTIVE, task_state: null, power_state: powerState,
        launched_at: new Date().toISOString(),
      }, [TaskState.REBUILDING]);
      await updateMigration(tx, migrationUuid, { status: 'done' });
      await endEvent(tx, run, REBUILD_EVENT);
    },
  };
};

/** The way back from any step: see the file's comment. */
function evacuationFailed(run: StepRun, step: string, err: unknown): Transition {
  return {
    next: DONE,
    write: async (tx) => {
      const migrationUuid = run.flow.migrationUuid;
      // A scheduling refusal (NoValidHost, 409) is Nova's conductor's 'error'; anything later the compute's 'failed'.
      const status = step === 'schedule' && statusOf(err) === 409 ? 'error' : 'failed';
      if (migrationUuid) {
        const m = await getMigration(tx, migrationUuid);
        if (m && m.status !== 'done' && m.status !== 'completed') await updateMigration(tx, migrationUuid, { status });
        await giveSourceClaimBack({ ...run, env: { ...run.env, db: tx } }, run.flow.instanceUuid, migrationUuid);
      }
      const inst = await getInstance(tx, run.flow.instanceUuid);
      await settle(tx, run.flow.instanceUuid, { vm_state: VmState.ERROR, task_state: null }, [TaskState.REBUILDING]);
      if (inst) await recordFault(tx, run, err, inst.host);
      await endEvent(tx, run, step === 'schedule' ? CONDUCTOR_EVENT : REBUILD_EVENT, err);
    },
  };
}

export const EVACUATE_FLOW: FlowDef = {
  kind: 'evacuation',
  steps: { schedule, rebuild },
  onError: (step, err, run) => evacuationFailed(run, step, err),
  giveUp: (run, err) => evacuationFailed(run, run.flow.step, err).write!,
};
