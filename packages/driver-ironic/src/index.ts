/**
 * @orrery/driver-ironic — bare-metal nodes as servers, a thin client of the Bare Metal API v1
 * (Orrery's own service or a real Ironic). Load it by name ('ironic') or import the factory.
 * Configuration: the [ironic] section (see docs/baremetal.md, "The ironic driver").
 */
import type { VirtDriver } from '@orrery/virt-api';
import { IronicDriver } from './driver.js';

export { IronicDriver, DRIVER_VERSION } from './driver.js';
export { IRONIC_OPTIONS, IRONIC_OPTIONS as driverOptions, parseConfig, resourceClassOf, rootUrl, type IronicConfig } from './config.js';
export { IronicClient, IronicHttpError, compareMicroversions, faultOf, negotiate, MINIMUM_VERSION, WANTED_VERSION } from './client.js';
export { baremetalEndpoint } from './keystone.js';
export { instanceInfoOf } from './instance-info.js';
export { instanceOf, isContractNode, nodeInfoOf, powerStateOf, type IronicNode } from './nodes.js';

/** The driver factory the loader calls. */
export function createDriver(): VirtDriver {
  return new IronicDriver();
}
export default createDriver;
