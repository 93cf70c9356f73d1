/**
 * Orrery virt driver contract, version 1.0.
 *
 * The only seam between the compute service and a hypervisor. Every input and output is a
 * typed object declared in this file; every error a call may raise is declared in errors.ts
 * and enforced by the guard (guard.ts). The compute service calls only what a driver's
 * capabilities declare.
 */

/** Contract versions are MAJOR.MINOR; a driver declares the range it implements. */
export interface ContractVersion {
  major: number;
  minor: number;
}

/** Result of the version handshake (the first call the compute service makes). */
export interface DriverVersionInfo {
  /** Driver name, for logs and the hypervisor type when the node does not say otherwise. */
  name: string;
  /** The driver's own release, free form. */
  driverVersion: string;
  /** Lowest and highest contract versions the driver implements, as "MAJOR.MINOR". */
  contract: { min: string; max: string };
}

/** Standard resource classes (placement's names); drivers may add CUSTOM_* classes. */
export type StandardResourceClass = 'VCPU' | 'MEMORY_MB' | 'DISK_GB';
export type ResourceClass = StandardResourceClass | `CUSTOM_${string}`;

export interface Inventory {
  total: number;
  reserved: number;
  minUnit: number;
  maxUnit: number;
  stepSize: number;
  /** Null leaves the allocation ratio to the operator's configuration. */
  allocationRatio: number | null;
}

/** One node the driver manages: the `(host, node)` identity's `node`. */
export interface NodeInfo {
  /** Unique per driver; becomes hypervisor_hostname and the RPC topic compute.<name>. */
  name: string;
  /** Stable UUID of the node (resource provider); the driver keeps it across restarts. */
  uuid: string;
  hypervisorType: string;
  hypervisorVersion: number;
  cpuInfo: CpuInfo;
  hostIp: string;
  inventory: Partial<Record<ResourceClass, Inventory>>;
  /** Traits of the node's own (e.g. HW_CPU_X86_AVX2, CUSTOM_*). Capability traits are added by the compute service. */
  traits: string[];
  /**
   * When the node's host last started, in milliseconds since the epoch; absent when the driver
   * cannot tell. The API derives the hypervisor's uptime (os-hypervisors/{id}/uptime) from it.
   */
  startedAt?: number;
}

export interface CpuInfo {
  arch: string;
  model: string;
  vendor: string;
  topology: { sockets: number; cores: number; threads: number };
  features: string[];
}

/** What a driver can do. The compute service never calls an operation that is not declared. */
export interface Capabilities {
  pause: boolean;
  suspend: boolean;
  reboot: boolean;
  powerControl: boolean;
  rebuild: boolean;
  snapshot: boolean;
  consoleOutput: boolean;
  /** The driver manages more than one node per compute host. */
  multiNode: boolean;
  /** Image disk formats the driver can boot (raw, qcow2, ami, …). */
  imageFormats: string[];
  /** Hypervisor type of every node (QEMU, fake, docker, ironic…): becomes a trait and a scheduler filter input. */
  hypervisorType: string;
}

/** Power state as Nova numbers it (nova.compute.power_state). */
export const PowerState = {
  NOSTATE: 0,
  RUNNING: 1,
  PAUSED: 3,
  SHUTDOWN: 4,
  CRASHED: 6,
  SUSPENDED: 7,
} as const;
export type PowerState = (typeof PowerState)[keyof typeof PowerState];

export interface FlavorSpec {
  id: string;
  name: string;
  vcpus: number;
  memoryMb: number;
  rootGb: number;
  ephemeralGb: number;
  swapMb: number;
  extraSpecs: Record<string, string>;
}

export interface ImageRef {
  id: string;
  name: string;
  diskFormat: string;
  containerFormat: string;
  size: number;
  checksum: string | null;
  minDiskGb: number;
  minRamMb: number;
  /** Image properties (hw_*, hypervisor_type, kernel_id, ramdisk_id, …), as strings. */
  properties: Record<string, string>;
}

export interface NetworkInfo {
  /** Empty when the server was created with networks "none" (no network service yet). */
  ports: Array<{
    id: string;
    mac: string;
    networkId: string;
    fixedIps: string[];
  }>;
}

export interface InstanceSpec {
  uuid: string;
  name: string;
  /** Node the instance was placed on: one of the driver's NodeInfo names. */
  node: string;
  projectId: string;
  userId: string;
  flavor: FlavorSpec;
  image: ImageRef;
  network: NetworkInfo;
  metadata: Record<string, string>;
  /** Base64 user data as given by the user, or null. */
  userData: string | null;
  /** Public key of the key pair chosen at create, or null. */
  keyData: string | null;
}

/** How the compute service names an instance to the driver. */
export interface InstanceRef {
  uuid: string;
  node: string;
}

export interface InstanceInfo {
  uuid: string;
  node: string;
  powerState: PowerState;
}

export type RebootType = 'soft' | 'hard';

export interface RebuildRequest {
  instance: InstanceSpec;
  /** The image to rebuild with (may equal instance.image). */
  image: ImageRef;
}

/** Image service access a driver gets from the compute service (over the image API, never its files). */
export interface ImageService {
  /** Streams an image's data. */
  download(imageId: string): Promise<AsyncIterable<Uint8Array>>;
  /** Uploads data to an image created by the compute service for a snapshot. */
  upload(imageId: string, data: AsyncIterable<Uint8Array> | Uint8Array): Promise<void>;
}

export interface SnapshotRequest {
  instance: InstanceRef;
  /** The image record already created (queued) by the API; the driver uploads the disk into it. */
  imageId: string;
  /** Disk format the image was created with. */
  diskFormat: string;
}

export type LifecycleTransition = 'started' | 'stopped' | 'paused' | 'resumed' | 'suspended';

export interface LifecycleEvent {
  uuid: string;
  node: string;
  transition: LifecycleTransition;
  /** Power state after the transition. */
  powerState: PowerState;
  /** Milliseconds since the epoch. */
  at: number;
}

export type EventListener = (event: LifecycleEvent) => void;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** What the compute service hands a driver when it starts it. */
export interface DriverContext {
  /** The compute host's name (the `host` of `(host, node)`). */
  host: string;
  /** The driver's own configuration section ([<driver name>] in the INI file), as strings. */
  config: Record<string, string>;
  /** A directory the driver may keep state in (survives restarts). */
  stateDir: string;
  images: ImageService;
  log: Logger;
}

/**
 * The driver interface, contract version 1.0. Grouped by concern; every method but
 * version(), capabilities() and onEvent() is async.
 * Which errors each method may raise is declared in errors.ts (ALLOWED_ERRORS).
 *
 * Power-state rules every driver follows (the conformance kit checks them):
 *   spawn → RUNNING; powerOff: any → SHUTDOWN; powerOn: SHUTDOWN|CRASHED → RUNNING, RUNNING → no-op;
 *   reboot soft: RUNNING → RUNNING; reboot hard: any → RUNNING; pause: RUNNING → PAUSED;
 *   unpause: PAUSED → RUNNING; suspend: RUNNING|PAUSED → SUSPENDED; resume: SUSPENDED → RUNNING;
 *   rebuild → RUNNING. Any other starting state raises InvalidState.
 * A driver emits a LifecycleEvent whenever an instance's power state changes (transitionFor()).
 */
export interface VirtDriver {
  // identity and version handshake
  /** Callable before init(); the loader's handshake reads it. */
  version(): DriverVersionInfo;
  /** Final once init() has resolved (a driver may learn e.g. its hypervisor type at init). */
  capabilities(): Capabilities;
  init(ctx: DriverContext): Promise<void>;
  /** Idempotent. Releases the back-end; pending calls may fail with BackendUnavailable. */
  shutdown(): Promise<void>;

  // nodes
  listNodes(): Promise<NodeInfo[]>;

  // state and info
  listInstances(): Promise<InstanceInfo[]>;
  getInstance(ref: InstanceRef): Promise<InstanceInfo>;

  // lifecycle
  /** A failed spawn leaves nothing behind on the back-end. */
  spawn(spec: InstanceSpec): Promise<InstanceInfo>;
  /** Idempotent: destroying a missing instance succeeds. */
  destroy(ref: InstanceRef): Promise<void>;
  reboot(ref: InstanceRef, type: RebootType): Promise<void>;
  /** Idempotent: powering off a stopped instance succeeds. */
  powerOff(ref: InstanceRef, timeoutSec: number): Promise<void>;
  powerOn(ref: InstanceRef): Promise<void>;
  pause(ref: InstanceRef): Promise<void>;
  unpause(ref: InstanceRef): Promise<void>;
  suspend(ref: InstanceRef): Promise<void>;
  resume(ref: InstanceRef): Promise<void>;
  rebuild(req: RebuildRequest): Promise<InstanceInfo>;

  // console and snapshot
  getConsoleOutput(ref: InstanceRef): Promise<string>;
  snapshot(req: SnapshotRequest): Promise<void>;

  // events
  /** Registers a lifecycle listener; returns a function that removes it. */
  onEvent(listener: EventListener): () => void;
}

/** A method of the driver interface; the keys of ALLOWED_ERRORS. */
export type DriverMethod = keyof VirtDriver;

/** Every method of contract 1.0, in interface order (the loader checks a driver has them all). */
export const DRIVER_METHODS: readonly DriverMethod[] = [
  'version', 'capabilities', 'init', 'shutdown', 'listNodes', 'listInstances', 'getInstance',
  'spawn', 'destroy', 'reboot', 'powerOff', 'powerOn', 'pause', 'unpause', 'suspend', 'resume',
  'rebuild', 'getConsoleOutput', 'snapshot', 'onEvent',
];
