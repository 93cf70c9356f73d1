// Copies its instance table, awaits the "hypervisor", then writes the copy back: concurrent
// spawns overwrite each other and instances are lost.
import type { InstanceInfo, InstanceSpec } from '@orrery/virt-api';
import { MemoryDriver } from '../memory-driver.js';

export class RacySpawnDriver extends MemoryDriver {
  protected override async create(spec: InstanceSpec): Promise<InstanceInfo> {
    const snapshot = new Map(this.instances);
    await new Promise((r) => setTimeout(r, 5));
    const info = await super.create(spec);
    snapshot.set(spec.uuid, this.instances.get(spec.uuid)!);
    this.instances = snapshot;
    return info;
  }
}
