/**
 * @orrery/driver-libvirt — QEMU guests through libvirt. Load it by name ('libvirt') or import
 * the factory. Configuration: the [libvirt] section (see docs/libvirt.md).
 */
import type { VirtDriver } from '@orrery/virt-api';
import { LibvirtDriver } from './driver.js';

export { LibvirtDriver, IMAGE_FORMATS, lifecyclePowerState } from './driver.js';
export { parseConfig, LIBVIRT_OPTIONS as driverOptions, type LibvirtConfig, type VirtType } from './config.js';
export { parseEventLine, type DomainEvent } from './event-stream.js';
export { domainXml, interfaceXml, METADATA_NS, nicsOf, type DomainDefinition, type Nic } from './domain-xml.js';
export { LibvirtVifs } from './vifs.js';
export { cacheKey } from './image-cache.js';
export { powerStateOf } from './virsh.js';
export { serialPortIn, vncPortIn } from './remote-consoles.js';

/** The driver factory the loader calls. */
export function createDriver(): VirtDriver {
  return new LibvirtDriver();
}
export default createDriver;
