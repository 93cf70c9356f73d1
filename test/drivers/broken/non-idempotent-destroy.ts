// Destroying an instance that is already gone raises InstanceNotFound instead of succeeding.
import type { InstanceRef } from '@orrery/virt-api';
import { MemoryDriver } from '../memory-driver.js';

export class NonIdempotentDestroyDriver extends MemoryDriver {
  override async destroy(ref: InstanceRef): Promise<void> {
    this.find(ref);
    this.instances.delete(ref.uuid);
  }
}
