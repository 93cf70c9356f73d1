import { errorMessage, OrreryError, statusOf } from '../../common/errors.js';
import { holdsAllocations, releaseResources } from '../../db/allocations.js';
import type { Db } from '../../db/connection.js';
import { addFault, finishEvent, startEventOnce } from '../../db/instance-actions.js';
import { getInstance, getInstanceRow, metadataFor, rowToInstance, updateInstanceRow, type InstanceRowUpdates } from '../../db/instances.js';
import { getMigration, moveAllocations, updateMigration, type MigrationRow } from '../../db/move-records.js';
import type { Flavor, ImageMeta, Instance } from '../../objects/compute.js';
import { VmState } from '../../objects/states.js';
import { DONE, type StepRun, type Transition } from '../task-engine.js';

/**
 * Whether a step's failure is the driver error `code`. Over RPC a driver error arrives as an
 * error of that name (common/errors.ts fromWireError); in one process it may be the error itself.
 */
export function isStepError(err: unknown, code: string): boolean {
  if (typeof err !== 'object' || err === null) return false;
  return (err as { code?: unknown }).code === code || (err as { name?: unknown }).name === code;
}

/** The shared pieces of the move flows: the instance and migration they act on, events, faults, claims. */

/** The instance of a flow is gone (deleted while it moved): the flow ends, giving its claims up. */
export class InstanceGone extends OrreryError {
  constructor(uuid: string) {
    super(404, 'itemNotFound', `Instance ${uuid} could not be found.`);
  }
}

/** The flow's instance; `includeDeleted`: also once deleted (a confirm cleaning the source of a deleted server). */
export async function loadInstance(run: StepRun, opts: { includeDeleted?: boolean } = {}): Promise<Instance> {
  const uuid = run.flow.instanceUuid;
  const row = await getInstanceRow(run.env.db, uuid, opts);
  if (!row) throw new InstanceGone(uuid);
  return rowToInstance(row, (await metadataFor(run.env.db, [uuid])).get(uuid) ?? {});
}

/** The end of a flow whose instance was deleted while it moved: every claim of it and of its migration given up. */
export function endForGone(run: StepRun): Transition {
  return {
    next: DONE,
    write: async (tx) => {
      await releaseResources(tx, run.flow.instanceUuid);
      if (run.flow.migrationUuid) await releaseResources(tx, run.flow.migrationUuid);
      await writeMigration(tx, run, 'error');
    },
  };
}

export async function loadMigration(run: StepRun): Promise<MigrationRow> {
  const uuid = run.flow.migrationUuid;
  const m = uuid ? await getMigration(run.env.db, uuid) : null;
  if (!m) throw new Error(`flow ${run.flow.uuid} has no migration record`);
  return m;
}

/** Where an instance is (or goes): a node's three names and its zone. */
export interface Place { host: string; node: string; nodeUuid: string; availabilityZone: string | null }

/** The instance as a compute sees it on `place`, with `flavor` (the new one at a resize's destination). */
export function instanceAt(inst: Instance, place: Place, flavor: Flavor = inst.flavor): Instance {
  return { ...inst, host: place.host, node: place.node, nodeUuid: place.nodeUuid, flavor };
}

/** The migration's source, as a place. */
export function sourceOf(m: MigrationRow): Place {
  return { host: m.source_compute ?? '', node: m.source_node ?? '', nodeUuid: m.source_node_uuid ?? '', availabilityZone: null };
}

/** The instance row's columns of `place` and of `flavor`. */
export function placeColumns(place: Place): InstanceRowUpdates {
  return { host: place.host, node: place.node, node_uuid: place.nodeUuid, ...(place.availabilityZone ? { availability_zone: place.availabilityZone } : {}) };
}

export function flavorColumns(f: Flavor): InstanceRowUpdates {
  return { flavor: JSON.stringify(f), flavor_id: f.flavorid, vcpus: f.vcpus, memory_mb: f.memoryMb, root_gb: f.rootGb, ephemeral_gb: f.ephemeralGb };
}

/** Starts the flow's event `event` as its step begins (once, however often the step runs). */
export async function beginEvent(run: StepRun, event: string, host: string | null): Promise<void> {
  await startEventOnce(run.env.db, run.flow.instanceUuid, run.flow.requestId, event, host);
}

/** Finishes an event in a step's write. */
export async function endEvent(tx: Db, run: StepRun, event: string, err?: unknown): Promise<void> {
  const failed = err !== undefined;
  await finishEvent(tx, run.flow.instanceUuid, run.flow.requestId, event, failed ? 'Error' : 'Success', failed ? tracebackOf(err) : null, null);
}

function tracebackOf(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : 'Error';
  return `${code}: ${errorMessage(err)}`;
}

/** The instance fault of a failed move, in its write. */
export async function recordFault(tx: Db, run: StepRun, err: unknown, host: string | null): Promise<void> {
  await addFault(tx, { instanceUuid: run.flow.instanceUuid, code: statusOf(err) ?? 500, message: errorMessage(err).slice(0, 255), details: tracebackOf(err), host });
}

export async function writeInstance(tx: Db, uuid: string, updates: InstanceRowUpdates): Promise<void> {
  try {
    await updateInstanceRow(tx, uuid, updates);
  } catch (err) {
    // Deleted meanwhile: nothing of it to write; the delete gave its claims up.
    if (statusOf(err) !== 404) throw err;
  }
}

export async function writeMigration(tx: Db, run: StepRun, status: string, more: Parameters<typeof updateMigration>[2] = {}): Promise<void> {
  if (run.flow.migrationUuid) await updateMigration(tx, run.flow.migrationUuid, { ...more, status });
}

/**
 * Claims as they must be where the instance stays: on `stays` ('source': the destination claim
 * released and the source claim, held by the migration, back to the instance; 'destination': the
 * migration's source claim released). Idempotent.
 */
export async function settleClaims(tx: Db, run: StepRun, stays: 'source' | 'destination'): Promise<void> {
  const migration = run.flow.migrationUuid;
  if (!migration) return;
  if (stays === 'destination') {
    await releaseResources(tx, migration);
    return;
  }
  if (!(await holdsAllocations(tx, migration))) return;
  await releaseResources(tx, run.flow.instanceUuid);
  await moveAllocations(tx, migration, run.flow.instanceUuid);
}

/** The vm_state a moved instance returns to: as it was when the move began. */
export function restingState(run: StepRun): string {
  return run.flow.payload.powerOn === false ? VmState.STOPPED : VmState.ACTIVE;
}

/** The image record of a transfer image, as a compute needs it to download. */
export function transferImageMeta(id: string, diskFormat: string): ImageMeta {
  return { id, name: `transfer-${id}`, status: 'active', diskFormat, containerFormat: 'bare', size: 0, checksum: null, minDisk: 0, minRam: 0, properties: {} };
}

/** The give-up of every move flow: the instance in ERROR with the fault, its claims where its row says it is. */
export function giveUpMove(run: StepRun, err: unknown) {
  return async (tx: Db): Promise<void> => {
    const inst = await getInstance(tx, run.flow.instanceUuid);
    if (inst && run.flow.migrationUuid) {
      const m = await getMigration(tx, run.flow.migrationUuid);
      await settleClaims(tx, run, m && inst.nodeUuid === m.dest_node_uuid && inst.nodeUuid !== m.source_node_uuid ? 'destination' : 'source');
    }
    if (!inst) {
      if (run.flow.migrationUuid) await releaseResources(tx, run.flow.migrationUuid);
      await writeMigration(tx, run, 'error');
      return;
    }
    await recordFault(tx, run, err, inst.host);
    await writeInstance(tx, inst.uuid, { vm_state: VmState.ERROR, task_state: null });
    await writeMigration(tx, run, 'error');
  };
}
