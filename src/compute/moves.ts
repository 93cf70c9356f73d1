import type { GuardedVirtDriver } from '@orrery/virt-api';
import { NotImplemented } from '../common/errors.js';
import type { ComputeHandlers, MoveStep } from '../rpc/compute-api.js';

/** The compute side of the move steps (compute RPC 1.3). Placeholder until the steps land. */
export function moveMethods(_driver: GuardedVirtDriver): Pick<ComputeHandlers, MoveStep> {
  const no = async (): Promise<never> => {
    throw new NotImplemented('moves are not implemented yet');
  };
  return {
    migrate_disk_and_power_off: no, finish_migration: no, confirm_migration: no, revert_migration: no, finish_revert_migration: no,
    pre_live_migration: no, live_migration: no, live_migration_force_complete: no, live_migration_abort: no,
    post_live_migration_at_destination: no, post_live_migration_at_source: no, rollback_live_migration_at_destination: no,
    spawn_moved_instance: no, shelve_instance: no, shelve_offload_instance: no, unshelve_on_host: no,
  };
}
