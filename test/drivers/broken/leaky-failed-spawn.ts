// Defines the guest before checking it fits, and does not undefine it when the check fails:
// a failed spawn leaves a guest behind.
import { PowerState, type InstanceSpec } from '@orrery/virt-api';
import { MemoryDriver } from '../memory-driver.js';

export class LeakyFailedSpawnDriver extends MemoryDriver {
  protected override checkCapacity(spec: InstanceSpec): void {
    this.instances.set(spec.uuid, { uuid: spec.uuid, node: spec.node, powerState: PowerState.NOSTATE });
    super.checkCapacity(spec);
  }
}
