import type { Instance } from '../objects/compute.js';
import { TaskState, VmState } from '../objects/states.js';

const T = TaskState;

/**
 * Task states only a move's flow sets and clears (the conductor owns the instance meanwhile):
 * resize and cold migration, live migration, shelve and unshelve. `rebuilding` is not here: a
 * local rebuild is the compute's own; an evacuation's is told apart by the conductor's list of
 * evacuations from the host (evacuations.ts).
 */
export const MOVE_TASK_STATES: ReadonlySet<string> = new Set([
  T.RESIZE_PREP, T.RESIZE_MIGRATING, T.RESIZE_MIGRATED, T.RESIZE_FINISH, T.RESIZE_REVERTING, T.RESIZE_CONFIRMING,
  T.MIGRATING, T.SHELVING, T.SHELVING_IMAGE_PENDING_UPLOAD, T.SHELVING_IMAGE_UPLOADING, T.SHELVING_OFFLOADING, T.UNSHELVING,
]);

/**
 * vm_states of an instance a move left half-way on purpose: a resize waiting for its confirm or
 * revert (the source may still hold the powered-off guest), an offloaded shelve (no guest).
 */
const MOVE_VM_STATES: ReadonlySet<string> = new Set([VmState.RESIZED, VmState.SHELVED_OFFLOADED]);

/**
 * True when a move owns `inst`: start-up recovery and power sync leave it alone. A cold move
 * powers the source guest off on purpose; "fixing" that to STOPPED, or clearing the task state,
 * would break the flow that is driving it.
 */
export function ownedByMove(inst: Instance, evacuating: (uuid: string) => boolean): boolean {
  return (inst.taskState !== null && MOVE_TASK_STATES.has(inst.taskState)) || MOVE_VM_STATES.has(inst.vmState) || evacuating(inst.uuid);
}
