// Changes power states without telling anyone: no lifecycle events at all.
import type { InstanceInfo, PowerState } from '@orrery/virt-api';
import { MemoryDriver } from '../memory-driver.js';

export class SilentEventsDriver extends MemoryDriver {
  protected override emit(_i: InstanceInfo, _prev: PowerState | null): void {}
}
