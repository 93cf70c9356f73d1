// Lets a raw Error escape when an instance is missing, as a driver that forwards its
// back-end's exceptions unchanged would.
import type { InstanceInfo, InstanceRef } from '@orrery/virt-api';
import { MemoryDriver } from '../memory-driver.js';

export class RawErrorDriver extends MemoryDriver {
  protected override find(ref: InstanceRef): InstanceInfo {
    const i = this.instances.get(ref.uuid);
    if (!i) throw new Error(`virDomainLookupByUUID: no domain with matching uuid '${ref.uuid}'`);
    return i;
  }
}
