// Refuses to power off an instance that is already off.
import { PowerState, type InstanceRef } from '@orrery/virt-api';
import { MemoryDriver } from '../memory-driver.js';

export class NonIdempotentPowerOffDriver extends MemoryDriver {
  override powerOff(ref: InstanceRef): Promise<void> {
    return this.move('powerOff', ref, [PowerState.RUNNING, PowerState.PAUSED, PowerState.SUSPENDED], PowerState.SHUTDOWN);
  }
}
