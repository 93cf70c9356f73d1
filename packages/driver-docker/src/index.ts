/**
 * @orrery/driver-docker — containers as servers through the Docker Engine API. Load it by name
 * ('docker') or import the factory. Configuration: the [docker] section (see docs/docker.md).
 */
export {};
