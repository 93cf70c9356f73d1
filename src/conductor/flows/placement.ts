import { Conflict, NoValidHost, statusOf } from '../../common/errors.js';
import { versionCompatible } from '../../common/versions.js';
import { holdsAllocations, releaseResources } from '../../db/allocations.js';
import { hypervisorTypeOf } from '../../db/compute-nodes.js';
import { moveAllocations } from '../../db/move-records.js';
import { atomically } from '../../db/transactions.js';
import type { Flavor, Instance, Selection } from '../../objects/compute.js';
import type { StepRun } from '../task-engine.js';

/** The compute RPC version of the move steps. */
const MOVES_SINCE = '1.3';

/** What a move asks the scheduler for. */
export interface MoveRequest {
  instance: Instance;
  /** The flavor the instance will have there (a resize's new one). */
  flavor: Flavor;
  /**
   * The migration whose uuid holds the source's claim while the instance moves (Nova's
   * migration-based allocations); null when the instance holds no claim (unshelve of an
   * offloaded instance).
   */
  migrationUuid: string | null;
  ignoreHosts: string[];
  forceHost: string | null;
  forceNode?: string | null;
  availabilityZone: string | null;
  /** Traits every destination must have: the move's capability (COMPUTE_COLD_MIGRATION, COMPUTE_LIVE_MIGRATION). */
  requiredTraits: string[];
}

/**
 * Claims a destination for a move, the source's claim first handed to the migration's uuid so
 * that the instance's uuid can claim the destination (and a same-host resize holds both).
 * Idempotent: run again, the source claim is already the migration's and the scheduler answers
 * the destination claim made before. Raises NoValidHost with the source claim given back to the
 * instance, as it was.
 */
export async function claimDestination(run: StepRun, req: MoveRequest): Promise<Selection> {
  const { db } = run.env;
  const { instance, migrationUuid } = req;
  // Every step after this one is a compute call of RPC 1.3: with computes still pinned below it
  // (a rolling upgrade under way) the move is refused now, before anything moved.
  const pin = await run.env.compute.pin();
  if (!versionCompatible(MOVES_SINCE, pin)) {
    throw new Conflict(`Moves need compute RPC ${MOVES_SINCE}; the compute services are pinned to ${pin} until every one is upgraded.`);
  }
  if (migrationUuid && !(await holdsAllocations(db, migrationUuid))) await moveAllocations(db, instance.uuid, migrationUuid);
  // The scheduler reads required traits from the flavor's extra specs (trait:NAME=required),
  // as a flavor asking for them would; the instance's own flavor is not changed by this.
  const extraSpecs: Record<string, string> = { ...req.flavor.extraSpecs };
  for (const t of req.requiredTraits) extraSpecs[`trait:${t}`] = 'required';
  // A guest moves only between hypervisors of one type (a QEMU disk is no container), as an
  // image's hypervisor_type property would ask.
  const hypervisorType = instance.nodeUuid ? await hypervisorTypeOf(db, instance.nodeUuid) : null;
  const image = hypervisorType ? { ...instance.imageMeta, properties: { ...instance.imageMeta.properties, hypervisor_type: hypervisorType } } : instance.imageMeta;
  try {
    const [sel] = await run.env.scheduler.selectDestinations(run.ctx, {
      instanceUuids: [instance.uuid], projectId: instance.projectId, userId: instance.userId,
      flavor: { ...req.flavor, extraSpecs }, image, availabilityZone: req.availabilityZone,
      ignoreHosts: req.ignoreHosts, forceHost: req.forceHost, forceNode: req.forceNode ?? null, attempt: 0,
    });
    if (!sel) throw new NoValidHost();
    return sel;
  } catch (err) {
    if (statusOf(err) === 409) await giveSourceClaimBack(run, instance.uuid, migrationUuid);
    throw err;
  }
}

/**
 * The way back from a claimed (or refused) destination: the instance's destination claim
 * released and the source claim, held by the migration, returned to the instance. Idempotent.
 */
export async function giveSourceClaimBack(run: StepRun, instanceUuid: string, migrationUuid: string | null): Promise<void> {
  if (!migrationUuid) return;
  await atomically(run.env.db, async (tx) => {
    if (!(await holdsAllocations(tx, migrationUuid))) return;
    await releaseResources(tx, instanceUuid);
    await moveAllocations(tx, migrationUuid, instanceUuid);
  });
}
