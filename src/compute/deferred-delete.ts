import type { VirtDriver } from '@orrery/virt-api';
import type { Instance } from '../objects/compute.js';
import { eventOf, taskStatesOf } from '../objects/actions.js';
import { VmState } from '../objects/states.js';
import type { RpcContext } from '../rpc/bus.js';
import type { ComputeHandlers } from '../rpc/compute-api.js';
import type { InstanceUpdates } from '../rpc/conductor-api.js';
import { instanceRef } from './specs.js';

/**
 * Compute RPC 1.2, deferred delete (`[DEFAULT] reclaim_instance_interval` > 0): a deleted
 * server's guest is powered off and kept, SOFT_DELETED, until it is restored (powered on,
 * ACTIVE) or the conductor's reclaim deletes it (conductor/reclaim.ts) with terminate_instance.
 */

/** How the compute manager runs one state-changing operation: its instance action event, the task states it acts in. */
export type OperationRunner = (
  event: string, taskStates: string[], run: (i: Instance) => Promise<InstanceUpdates>,
) => (args: { instance: Instance }, ctx: RpcContext) => Promise<void>;

export function deferredDeleteMethods(
  d: VirtDriver, op: OperationRunner, power: (i: Instance) => Promise<number>,
): Pick<ComputeHandlers, 'soft_delete_instance' | 'restore_instance'> {
  return {
    soft_delete_instance: op(eventOf('soft_delete_instance'), taskStatesOf('soft_delete_instance'), async (i) => {
      await d.powerOff(instanceRef(i), 60);
      return { vmState: VmState.SOFT_DELETED, powerState: await power(i) };
    }),
    restore_instance: op(eventOf('restore_instance'), taskStatesOf('restore_instance'), async (i) => {
      await d.powerOn(instanceRef(i));
      return { vmState: VmState.ACTIVE, powerState: await power(i) };
    }),
  };
}
