import type { FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BadRequest, Conflict, errorMessage } from '../common/errors.js';
import { availabilityZoneOfHost, listAvailabilityZones } from '../db/aggregates.js';
import { getInstanceRow, type InstanceRow } from '../db/instances.js';
import { computeServiceOf } from '../db/services.js';
import { startInstanceFlow } from '../db/shelve.js';
import type { NewMigration } from '../db/task-flows.js';
import { serverAction, type ServerActionKey } from '../objects/actions.js';
import type { Flavor, ImageMeta } from '../objects/compute.js';
import { VmState } from '../objects/states.js';
import { rpcContextOf } from '../httpkit/app.js';
import { authorize } from '../httpkit/authorize.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { checkActionAllowed, checkBody, instanceNotFound, invalidState } from './server-common.js';
import type { SomeActionHandlers } from './server-actions.js';

/**
 * shelve, shelveOffload and unshelve: each checks the request as Nova's API does and starts
 * the conductor's flow (src/conductor/flows/shelve.ts) — the task state, the instance action,
 * its first event and the flow in one transaction, then run_flow. 202, no body.
 */

/** The flow's first steps' events (the flows finish them). */
const SHELVE_EVENT = 'compute_shelve_instance';
const SHELVE_OFFLOAD_EVENT = 'compute_shelve_offload_instance';
const UNSHELVE_EVENT = 'compute_unshelve_instance';
const SCHEDULE_EVENT = 'schedule_instances';

/** What starts a flow of action `key` on `row`. */
export interface FlowRequest {
  kind: string;
  step: string;
  payload: Record<string, unknown>;
  firstEvent: string | null;
  migration?: NewMigration;
}

/**
 * The flow of action `key` started from the catalogue's states, in one transaction with the
 * task state and the instance action; then the conductor told to drive it (a lost cast is
 * found by the conductors' poll). A concurrent change of the instance is Nova's 409.
 */
export async function startFlow(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, key: ServerActionKey, f: FlowRequest): Promise<string> {
  const a = serverAction(key);
  if (a.taskState === null || a.vmStates === null || a.taskStates === null || a.record === null) throw new Error(`${key} is no flow action`);
  const started = await startInstanceFlow(deps.db, {
    taskState: a.taskState, vmStates: a.vmStates, taskStates: a.taskStates,
    action: { name: a.record, projectId: row.project_id, userId: req.auth.userId }, firstEvent: f.firstEvent,
    flow: {
      kind: f.kind, instanceUuid: row.uuid, step: f.step, payload: f.payload, requestId: req.requestId,
      userId: req.auth.userId, projectId: req.auth.projectId, migration: f.migration,
    },
  });
  if (!started) {
    const now = await getInstanceRow(deps.db, row.uuid);
    if (!now) throw instanceNotFound(row.uuid);
    const vmStates: readonly string[] = a.vmStates;
    throw vmStates.includes(now.vm_state)
      ? invalidState(a.name, row.uuid, 'task_state', now.task_state)
      : invalidState(a.name, row.uuid, 'vm_state', now.vm_state);
  }
  await deps.conductor.runFlow(rpcContextOf(req), started.flowUuid)
    .catch((err: unknown) => req.log.warn({ flow: started.flowUuid, err: errorMessage(err) }, "run_flow not sent: a conductor's poll takes it up"));
  return started.flowUuid;
}

// ---- shelve

/** Image properties a snapshot does not inherit from its base image (Nova's non_inheritable_image_properties, as createImage). */
const NON_INHERITABLE = new Set([
  'cache_in_nova', 'bittorrent', 'img_signature_hash_method', 'img_signature', 'img_signature_key_type', 'img_signature_certificate_uuid',
]);

async function shelve(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow): Promise<undefined> {
  // The router checked lock, state and the snapshot capability; the snapshot image is created
  // now with the user's token (Nova's compute API does, named "<server>-shelved").
  const base = JSON.parse(row.image_meta) as ImageMeta;
  const flavor = JSON.parse(row.flavor) as Flavor;
  const inherited = Object.fromEntries(Object.entries(base.properties).filter(([k]) => !NON_INHERITABLE.has(k)));
  const image = await deps.images.createImage({
    ...inherited, name: `${row.display_name}-shelved`, container_format: base.containerFormat || 'bare', disk_format: base.diskFormat || 'raw',
    visibility: 'private', min_ram: base.minRam, min_disk: Math.max(base.minDisk, flavor.rootGb), instance_uuid: row.uuid,
    user_id: req.auth.userId, base_image_ref: row.image_ref, image_type: 'snapshot',
  }, req.auth.tokenId);
  const imageId = String(image.id);
  const offload = deps.config.num('DEFAULT', 'shelved_offload_time') === 0;
  try {
    await startFlow(deps, req, row, 'shelve', { kind: 'shelve', step: 'snapshot', payload: { imageId, offload }, firstEvent: SHELVE_EVENT });
  } catch (err) {
    // Nothing half-created: the image goes with the refused request.
    await deps.images.deleteImage(imageId, req.auth.tokenId)
      .catch((e: unknown) => req.log.warn({ image: imageId, err: errorMessage(e) }, 'could not delete the image of a refused shelve'));
    throw err;
  }
  return undefined;
}

async function shelveOffload(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow): Promise<undefined> {
  await startFlow(deps, req, row, 'shelveOffload', { kind: 'shelve-offload', step: 'offload', payload: {}, firstEvent: SHELVE_OFFLOAD_EVENT });
  return undefined;
}

/**
 * A shelved server deleted: its snapshot goes with it (Nova's compute API _delete), with the
 * user's token; one gone or not the user's to delete already is only logged.
 */
export async function deleteShelvedSnapshot(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow): Promise<void> {
  if (!row.shelved_image_id || (row.vm_state !== VmState.SHELVED && row.vm_state !== VmState.SHELVED_OFFLOADED)) return;
  await deps.images.deleteImage(row.shelved_image_id, req.auth.tokenId)
    .catch((err: unknown) => req.log.warn({ instance: row.uuid, image: row.shelved_image_id, err: errorMessage(err) },
      'could not delete the snapshot of a deleted shelved server'));
}

// ---- unshelve (Nova's schemas: nothing read below 2.77; 2.77 availability_zone; 2.91 host, and a null zone to unpin)

const AzName = Type.String({ minLength: 1, maxLength: 255, pattern: '^(?! )[^\\x00-\\x1f]*(?<! )$' });
const Unshelve277 = Type.Union([Type.Null(), Type.Object({ availability_zone: AzName }, { additionalProperties: false })]);
const Unshelve291 = Type.Union([
  Type.Null(),
  Type.Object({
    availability_zone: Type.Optional(Type.Union([Type.Null(), Type.String()])), host: Type.Optional(Type.String()),
  }, { additionalProperties: false }),
]);

interface UnshelveArgs { azPassed: boolean; availabilityZone: string | null; host: string | null }

function unshelveArgs(req: FastifyRequest, raw: unknown): UnshelveArgs {
  if (mvAtLeast(req, '2.91')) {
    const b = checkBody(Unshelve291, raw ?? null);
    return { azPassed: b !== null && b.availability_zone !== undefined, availabilityZone: b?.availability_zone ?? null, host: b?.host ?? null };
  }
  if (mvAtLeast(req, '2.77')) {
    const b = checkBody(Unshelve277, raw ?? null);
    return { azPassed: b !== null, availabilityZone: b?.availability_zone ?? null, host: null };
  }
  return { azPassed: false, availabilityZone: null, host: null };
}

async function unshelve(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, raw: unknown): Promise<undefined> {
  const args = unshelveArgs(req, raw);
  if (args.host !== null) authorize(req, 'os_compute_api:os-shelve:unshelve_to_host', { project_id: row.project_id, user_id: row.user_id });
  await checkActionAllowed(deps.db, req, row, 'unshelve');
  const offloaded = row.vm_state === VmState.SHELVED_OFFLOADED;
  // Nova's compute API: a zone or a host only for an offloaded server (UnshelveInstanceInvalidState, 409).
  if ((args.azPassed || args.host !== null) && !offloaded) {
    throw new Conflict(`Specifying an availability zone when unshelving server ${row.uuid} with status "${row.vm_state}" is not supported. `
      + 'The server status must be SHELVED_OFFLOADED.');
  }
  if (args.host !== null && !(await computeServiceOf(deps.db, args.host))) throw new BadRequest(`Compute host ${args.host} could not be found.`);
  if (args.availabilityZone !== null) {
    const { available } = await listAvailabilityZones(deps.db, deps.config);
    if (!available.includes(args.availabilityZone)) throw new BadRequest('The requested availability zone is not available');
    if (args.host !== null) {
      const zone = await availabilityZoneOfHost(deps.db, deps.config, args.host);
      if (zone !== args.availabilityZone) throw new Conflict(`Host "${args.host}" is not in the availability zone "${args.availabilityZone}".`);
    }
  }
  await startFlow(deps, req, row, 'unshelve', offloaded
    ? { kind: 'unshelve', step: 'schedule', payload: { availabilityZone: args.availabilityZone, host: args.host }, firstEvent: SCHEDULE_EVENT }
    : { kind: 'unshelve', step: 'power_on', payload: { availabilityZone: null, host: null }, firstEvent: UNSHELVE_EVENT });
  return undefined;
}

export const SHELVE_ACTIONS = {
  shelve: { handler: (deps, req, _reply, row) => shelve(deps, req, row), body: null },
  shelveOffload: { handler: (deps, req, _reply, row) => shelveOffload(deps, req, row), body: null },
  unshelve: { handler: (deps, req, _reply, row, body) => unshelve(deps, req, row, body), body: Unshelve291 },
} satisfies SomeActionHandlers;
