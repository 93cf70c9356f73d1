// Implements a contract this compute service does not speak.
import type { DriverVersionInfo } from '@orrery/virt-api';
import { MemoryDriver } from '../memory-driver.js';

export class FutureContractDriver extends MemoryDriver {
  override version(): DriverVersionInfo {
    return { name: 'future', driverVersion: '9.0.0', contract: { min: '2.0', max: '2.1' } };
  }
}
