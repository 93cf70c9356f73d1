// Declares contract 1.1 but spawns whatever its signal says: an aborted spawn still creates a guest.
import type { DriverStatus, DriverVersionInfo, NodeEventListener } from '@orrery/virt-api';
import { MemoryDriver } from '../memory-driver.js';

export class DeafToAbortDriver extends MemoryDriver {
  override version(): DriverVersionInfo {
    return { name: 'deaf', driverVersion: '1.1.0', contract: { min: '1.0', max: '1.1' } };
  }

  async status(): Promise<DriverStatus> {
    return { reachable: true, latencyMs: 0, message: 'in memory' };
  }

  onNodeEvent(_listener: NodeEventListener): () => void {
    return () => {};
  }
}
