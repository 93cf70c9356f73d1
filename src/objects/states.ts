/** Nova's instance states, task states and the API status they map to (nova/api/openstack/common.py). */

export const VmState = {
  ACTIVE: 'active',
  BUILDING: 'building',
  PAUSED: 'paused',
  SUSPENDED: 'suspended',
  STOPPED: 'stopped',
  RESCUED: 'rescued',
  RESIZED: 'resized',
  SOFT_DELETED: 'soft-delete',
  DELETED: 'deleted',
  ERROR: 'error',
  SHELVED: 'shelved',
  SHELVED_OFFLOADED: 'shelved_offloaded',
} as const;

export const TaskState = {
  SCHEDULING: 'scheduling',
  BLOCK_DEVICE_MAPPING: 'block_device_mapping',
  NETWORKING: 'networking',
  SPAWNING: 'spawning',
  IMAGE_SNAPSHOT: 'image_snapshot',
  IMAGE_SNAPSHOT_PENDING: 'image_snapshot_pending',
  IMAGE_PENDING_UPLOAD: 'image_pending_upload',
  IMAGE_UPLOADING: 'image_uploading',
  REBOOTING: 'rebooting',
  REBOOT_PENDING: 'reboot_pending',
  REBOOT_STARTED: 'reboot_started',
  REBOOTING_HARD: 'rebooting_hard',
  REBOOT_PENDING_HARD: 'reboot_pending_hard',
  REBOOT_STARTED_HARD: 'reboot_started_hard',
  PAUSING: 'pausing',
  UNPAUSING: 'unpausing',
  SUSPENDING: 'suspending',
  RESUMING: 'resuming',
  POWERING_OFF: 'powering-off',
  POWERING_ON: 'powering-on',
  REBUILDING: 'rebuilding',
  REBUILD_BLOCK_DEVICE_MAPPING: 'rebuild_block_device_mapping',
  REBUILD_SPAWNING: 'rebuild_spawning',
  DELETING: 'deleting',
  SOFT_DELETING: 'soft-deleting',
  RESTORING: 'restoring',
  // moves (issue #12)
  RESIZE_PREP: 'resize_prep',
  RESIZE_MIGRATING: 'resize_migrating',
  RESIZE_MIGRATED: 'resize_migrated',
  RESIZE_FINISH: 'resize_finish',
  RESIZE_REVERTING: 'resize_reverting',
  RESIZE_CONFIRMING: 'resize_confirming',
  MIGRATING: 'migrating',
  SHELVING: 'shelving',
  SHELVING_IMAGE_PENDING_UPLOAD: 'shelving_image_pending_upload',
  SHELVING_IMAGE_UPLOADING: 'shelving_image_uploading',
  SHELVING_OFFLOADING: 'shelving_offloading',
  UNSHELVING: 'unshelving',
} as const;

const T = TaskState;
const REBOOT = [T.REBOOTING, T.REBOOT_PENDING, T.REBOOT_STARTED];
const HARD_REBOOT = [T.REBOOTING_HARD, T.REBOOT_PENDING_HARD, T.REBOOT_STARTED_HARD];
const REBUILD = [T.REBUILDING, T.REBUILD_BLOCK_DEVICE_MAPPING, T.REBUILD_SPAWNING];
const RESIZE = [T.RESIZE_PREP, T.RESIZE_MIGRATING, T.RESIZE_MIGRATED, T.RESIZE_FINISH];

const STATE_MAP: Record<string, { default: string; tasks?: Record<string, string> }> = {
  [VmState.ACTIVE]: {
    default: 'ACTIVE',
    tasks: Object.fromEntries([
      ...REBOOT.map((t) => [t, 'REBOOT']),
      ...HARD_REBOOT.map((t) => [t, 'HARD_REBOOT']),
      ...REBUILD.map((t) => [t, 'REBUILD']),
      ...RESIZE.map((t) => [t, 'RESIZE']),
      [T.MIGRATING, 'MIGRATING'],
    ]),
  },
  [VmState.BUILDING]: { default: 'BUILD' },
  [VmState.STOPPED]: {
    default: 'SHUTOFF', tasks: Object.fromEntries([...REBUILD.map((t) => [t, 'REBUILD']), ...RESIZE.map((t) => [t, 'RESIZE'])]),
  },
  [VmState.RESIZED]: { default: 'VERIFY_RESIZE', tasks: { [T.RESIZE_REVERTING]: 'REVERT_RESIZE' } },
  [VmState.PAUSED]: {
    default: 'PAUSED', tasks: Object.fromEntries([...REBUILD.map((t) => [t, 'REBUILD']), [T.MIGRATING, 'MIGRATING']]),
  },
  [VmState.SUSPENDED]: { default: 'SUSPENDED' },
  [VmState.RESCUED]: { default: 'RESCUE' },
  [VmState.ERROR]: { default: 'ERROR', tasks: Object.fromEntries(REBUILD.map((t) => [t, 'REBUILD'])) },
  [VmState.DELETED]: { default: 'DELETED' },
  [VmState.SOFT_DELETED]: { default: 'SOFT_DELETED' },
  [VmState.SHELVED]: { default: 'SHELVED' },
  [VmState.SHELVED_OFFLOADED]: { default: 'SHELVED_OFFLOADED' },
};

/** The API status of an instance, exactly as Nova derives it. */
export function statusFromState(vmState: string, taskState: string | null): string {
  const entry = STATE_MAP[vmState];
  if (!entry) return 'UNKNOWN';
  return (taskState && entry.tasks?.[taskState]) || entry.default;
}

/** vm_states a status filter selects (the reverse map, for ?status=). */
export function statesForStatus(status: string): { vmStates: string[]; taskStates?: string[] } | null {
  const upper = status.toUpperCase();
  const vmStates: string[] = [];
  const taskStates: string[] = [];
  for (const [vm, entry] of Object.entries(STATE_MAP)) {
    if (entry.default === upper) vmStates.push(vm);
    for (const [task, st] of Object.entries(entry.tasks ?? {})) {
      if (st === upper) {
        vmStates.push(vm);
        taskStates.push(task);
      }
    }
  }
  if (vmStates.length === 0) return null;
  return taskStates.length > 0 ? { vmStates: [...new Set(vmStates)], taskStates } : { vmStates };
}

/** Nova power states (nova.compute.power_state), for OS-EXT-STS:power_state. */
export const PowerState = { NOSTATE: 0, RUNNING: 1, PAUSED: 3, SHUTDOWN: 4, CRASHED: 6, SUSPENDED: 7 } as const;
