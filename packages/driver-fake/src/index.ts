/**
 * @orrery/driver-fake — the fake virt driver. Load it by name ('fake') or import the factory.
 * Tests reach its back-end with openFakeBackend(fakeBackendPath(stateDir, host)).
 */
import type { VirtDriver } from '@orrery/virt-api';
import { FakeDriver } from './driver.js';

export { FakeDriver } from './driver.js';
export { FakeBackend, fakeBackendPath, openFakeBackend } from './backend.js';
export type { Fault, FaultKind, FaultSpec, FakeInstance } from './backend.js';
export type { VifCall, VifOp, VifRecords } from './vif-records.js';
export { parseConfig, DEFAULT_IMAGE_FORMATS, FAKE_OPTIONS as driverOptions, type FakeConfig } from './config.js';
export { clusterStatePath } from './cluster.js';

/** The driver factory the loader calls. */
export function createDriver(): VirtDriver {
  return new FakeDriver();
}
export default createDriver;
