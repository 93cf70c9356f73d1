/**
 * @orrery/driver-docker — containers as servers through the Docker Engine API. Load it by name
 * ('docker') or import the factory. Configuration: the [docker] section (see docs/docker.md).
 */
import type { VirtDriver } from '@orrery/virt-api';
import { DockerDriver } from './driver.js';

export { DockerDriver, IMAGE_FORMATS } from './driver.js';
export { DOCKER_OPTIONS, DOCKER_OPTIONS as driverOptions, parseConfig, type DockerConfig } from './config.js';
export { containerPrefix, hostnameOf, LABEL, SEED_DIR } from './container-spec.js';
export { cacheTag, cacheTagPrefix, IMAGE_REPO } from './image-store.js';
export { demux } from './console.js';
export { powerStateAfter } from './events.js';
export { powerStateOf } from './host.js';
export { tarOf, type TarEntry } from './tar.js';

/** The driver factory the loader calls. */
export function createDriver(): VirtDriver {
  return new DockerDriver();
}
export default createDriver;
