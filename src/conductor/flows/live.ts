import { getMigration } from '../../db/move-records.js';
import type { Db } from '../../db/connection.js';
import type { LiveTarget } from '../../rpc/compute-api.js';
import { DONE, type FlowDef, type Step, type StepRun, type Transition } from '../task-engine.js';
import {
  beginEvent, endEvent, endForGone, giveUpMove, InstanceGone, instanceAt, loadInstance, loadMigration, placeColumns, recordFault,
  settleClaims, sourceOf, writeInstance, writeMigration, type Place,
} from './common.js';
import { claimDestination } from './placement.js';

/**
 * Live migration (kind 'live-migration'), Nova's states: task_state migrating throughout.
 *
 *   schedule     claim the destination (the named host, or the scheduler's)       migration preparing
 *   pre_live     destination: make ready; answers where the guest goes           running
 *   live         source: move the running guest (progress into the record)      running
 *   post_dest    destination: the guest arrived; the instance is there now       post-migrating
 *   post_source  source: remove what is left; the source claim released          completed
 *
 * A failure or an abort (DELETE /servers/{id}/migrations/{mid}: status cancelling) before the
 * guest arrived rolls back at the destination: the guest runs on where it was, the migration
 * error (cancelled for an abort), a fault unless aborted.
 */

const LIVE_TRAIT = 'COMPUTE_LIVE_MIGRATION';

interface LivePayload {
  host?: string | null;
  blockMigration?: boolean | 'auto';
  dest?: Place;
  target?: LiveTarget;
}

const payloadOf = (run: StepRun): LivePayload => run.flow.payload as LivePayload;
/** 'auto': block migration unless the hosts share storage — no driver here shares it. */
const blockMigration = (run: StepRun): boolean => payloadOf(run).blockMigration !== false;

const schedule: Step = async (run) => {
  const inst = await loadInstance(run);
  const m = await loadMigration(run);
  await beginEvent(run, 'conductor_live_migrate_instance', null);
  const sel = await claimDestination(run, {
    instance: inst, flavor: inst.flavor, migrationUuid: m.uuid, ignoreHosts: inst.host ? [inst.host] : [],
    forceHost: payloadOf(run).host ?? null, availabilityZone: null, requiredTraits: [LIVE_TRAIT],
  });
  const dest: Place = { host: sel.host, node: sel.node, nodeUuid: sel.nodeUuid, availabilityZone: sel.availabilityZone };
  return {
    next: 'pre_live',
    payload: { dest },
    write: async (tx) => {
      await advanceMigration(tx, run, 'preparing', { dest_compute: dest.host, dest_node: dest.node, dest_node_uuid: dest.nodeUuid, dest_host: dest.host });
      await endEvent(tx, run, 'conductor_live_migrate_instance');
    },
  };
};

const preLive: Step = async (run) => {
  const inst = await loadInstance(run);
  const dest = payloadOf(run).dest!;
  await beginEvent(run, 'compute_pre_live_migration', dest.host);
  const target = await run.env.compute.moveStep(run.ctx, 'pre_live_migration', {
    instance: instanceAt(inst, dest), migrationId: run.flow.migrationUuid!, blockMigration: blockMigration(run),
  }, run.env.stepTimeoutMs);
  return {
    next: 'live',
    payload: { target },
    write: async (tx) => {
      await advanceMigration(tx, run, 'running');
      await endEvent(tx, run, 'compute_pre_live_migration');
    },
  };
};

const live: Step = async (run) => {
  const inst = await loadInstance(run);
  const m = await loadMigration(run);
  if (m.status === 'cancelling') throw new Aborted();
  const source = sourceOf(m);
  await beginEvent(run, 'compute_live_migration', source.host);
  await run.env.compute.moveStep(run.ctx, 'live_migration', {
    instance: instanceAt(inst, source), migrationId: m.uuid, target: payloadOf(run).target!, blockMigration: blockMigration(run),
  }, run.env.stepTimeoutMs);
  return {
    next: 'post_dest',
    write: async (tx) => {
      await writeMigration(tx, run, 'post-migrating');
      await endEvent(tx, run, 'compute_live_migration');
    },
  };
};

const postDest: Step = async (run) => {
  const inst = await loadInstance(run);
  const dest = payloadOf(run).dest!;
  await beginEvent(run, 'compute_post_live_migration_at_destination', dest.host);
  const { powerState } = await run.env.compute.moveStep(run.ctx, 'post_live_migration_at_destination', {
    instance: instanceAt(inst, dest), migrationId: run.flow.migrationUuid!,
  }, run.env.stepTimeoutMs);
  return {
    next: 'post_source',
    write: async (tx) => {
      // The guest runs there: so does the instance, from this commit on.
      await writeInstance(tx, inst.uuid, { ...placeColumns(dest), power_state: powerState });
      await endEvent(tx, run, 'compute_post_live_migration_at_destination');
    },
  };
};

const postSource: Step = async (run) => {
  const inst = await loadInstance(run);
  const m = await loadMigration(run);
  const source = sourceOf(m);
  await run.env.compute.moveStep(run.ctx, 'post_live_migration_at_source', {
    instance: instanceAt(inst, source), migrationId: m.uuid,
  }, run.env.stepTimeoutMs);
  return {
    next: DONE,
    write: async (tx) => {
      await settleClaims(tx, run, 'destination');
      await writeInstance(tx, inst.uuid, { task_state: null });
      await writeMigration(tx, run, 'completed');
    },
  };
};

/** Back where it was: what pre_live_migration made removed, the claims as before. */
const rollback: Step = async (run) => {
  const inst = await loadInstance(run);
  const dest = payloadOf(run).dest!;
  await run.env.compute.moveStep(run.ctx, 'rollback_live_migration_at_destination', {
    instance: instanceAt(inst, dest), migrationId: run.flow.migrationUuid!,
  }, run.env.stepTimeoutMs);
  return { next: DONE, write: (tx) => backWhereItWas(tx, run) };
};

/**
 * The migration's status moved on, unless an abort asked meanwhile (DELETE, 2.65 for queued and
 * preparing ones): its `cancelling` stays, for the live step to find and roll back.
 */
async function advanceMigration(tx: Db, run: StepRun, status: string, more: Parameters<typeof writeMigration>[3] = {}): Promise<void> {
  const m = run.flow.migrationUuid ? await getMigration(tx, run.flow.migrationUuid) : null;
  await writeMigration(tx, run, m?.status === 'cancelling' ? 'cancelling' : status, more);
}

async function backWhereItWas(tx: Db, run: StepRun): Promise<void> {
  const m = run.flow.migrationUuid ? await getMigration(tx, run.flow.migrationUuid) : null;
  await settleClaims(tx, run, 'source');
  await writeInstance(tx, run.flow.instanceUuid, { task_state: null });
  await writeMigration(tx, run, m?.status === 'cancelling' ? 'cancelled' : 'error');
}

/** An abort asked before the copy began. */
class Aborted extends Error {
  constructor() {
    super('the live migration was aborted');
    this.name = 'Aborted';
  }
}

const EVENTS: Record<string, string> = {
  schedule: 'conductor_live_migrate_instance', pre_live: 'compute_pre_live_migration', live: 'compute_live_migration',
};

function onError(step: string, err: unknown, run: StepRun): Transition | null {
  if (err instanceof InstanceGone) return endForGone(run);
  const event = Object.hasOwn(EVENTS, step) ? EVENTS[step]! : null;
  if (event === null) {
    if (step === 'post_source') {
      // The guest runs on the destination: the instance stays there, usable; what the source
      // kept is left with a fault saying so.
      return {
        next: DONE,
        write: async (tx) => {
          await recordFault(tx, run, err, null);
          await settleClaims(tx, run, 'destination');
          await writeInstance(tx, run.flow.instanceUuid, { task_state: null });
          await writeMigration(tx, run, 'error');
        },
      };
    }
    return null;
  }
  const aborted = err instanceof Aborted || isAbort(err);
  const failed = async (tx: Db) => {
    const m = run.flow.migrationUuid ? await getMigration(tx, run.flow.migrationUuid) : null;
    const cancelled = aborted || m?.status === 'cancelling';
    if (!cancelled) await recordFault(tx, run, err, null);
    await endEvent(tx, run, event, err);
  };
  if (step === 'schedule') {
    return { next: DONE, write: async (tx) => { await failed(tx); await backWhereItWas(tx, run); } };
  }
  return { next: 'rollback', write: failed };
}

function isAbort(err: unknown): boolean {
  const name = (err as { name?: unknown; code?: unknown } | null);
  return name?.name === 'Aborted' || name?.code === 'Aborted';
}

export const LIVE_MIGRATION_FLOW: FlowDef = {
  kind: 'live-migration',
  steps: { schedule, pre_live: preLive, live, post_dest: postDest, post_source: postSource, rollback },
  onError,
  giveUp: giveUpMove,
};
