/**
 * Orrery virt driver contract, version 1.4 (a 1.0–1.3 driver still loads: see version.ts; the
 * 1.2 move calls and their types are in moves.ts, the 1.3 network calls in vifs.ts, the 1.4
 * remote consoles in consoles.ts).
 *
 * The only seam between the compute service and a hypervisor. Every input and output is a
 * typed object declared in this file; every error a call may raise is declared in errors.ts
 * and enforced by the guard (guard.ts). The compute service calls only what the agreed
 * contract version, the driver's declared optional groups and its capabilities allow.
 * Members added after 1.0 carry `@since`; they are optional in the types so a 1.0 driver
 * still type-checks, and the loader demands them of a driver that agreed their version (a
 * capability's calls, only of a driver that declares it).
 */
import type { MoveCalls, MoveProgress } from './moves.js';
import type { VifCalls, VifInfo } from './vifs.js';
import type { ConsoleCalls, ConsoleKind } from './consoles.js';

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
  /**
   * Optional method groups the driver implements (OPTIONAL_GROUPS in version.ts), e.g.
   * `nodeLookup`. A group counts only when the agreed version has it.
   * @since 1.1
   */
  groups?: string[];
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
  /**
   * The driver's nodes are reachable from every compute configured for the same back-end:
   * `cluster` names that back-end (the same on each of those computes), so the nodes can be
   * spread over them and move when one stops. Absent: the nodes belong to this host alone.
   * @since 1.1
   */
  sharedNodes?: { cluster: string };
  /** Resize and cold migration (moves.ts: the five cold calls). Absent: false. @since 1.2 */
  coldMigration?: boolean;
  /** Live migration (moves.ts: the six live calls). Absent: false. @since 1.2 */
  liveMigration?: boolean;
  /** Interface attach and detach on an existing instance (vifs.ts). Absent: false. @since 1.3 */
  interfaceAttach?: boolean;
  /** Interactive remote consoles of running guests (consoles.ts: getConsole). Absent: false. @since 1.4 */
  remoteConsole?: boolean;
  /** The console kinds getConsole offers; required with remoteConsole, ignored without. @since 1.4 */
  consoleKinds?: ConsoleKind[];
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
  /**
   * The instance's ports, in the guest's NIC order; empty when the server has no network.
   * The VifInfo fields after fixedIps are @since 1.3 (an older driver is handed none of them).
   */
  ports: VifInfo[];
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

/**
 * Image service access a driver gets from the compute service (over the image API, never its
 * files). Failures are typed DriverErrors, not HTTP statuses (since 1.1; a 1.0 driver that
 * rethrows them raises an allowed error): ImageNotFound when the image does not exist or has
 * no data, ImageServiceUnavailable when the image service cannot be reached or fails,
 * ImageError for anything else about the image.
 */
export interface ImageService {
  /** Streams an image's data. */
  download(imageId: string): Promise<AsyncIterable<Uint8Array>>;
  /** Uploads data to an image created by the compute service for a snapshot. */
  upload(imageId: string, data: AsyncIterable<Uint8Array> | Uint8Array): Promise<void>;
}

/**
 * Options of a long call. The compute service aborts `signal` when it stops and when the call's
 * deadline passes; the driver stops what it is doing as soon as it can, leaves the back-end as
 * the call's own failure would (a spawn leaves nothing behind), and rejects (any allowed error;
 * the guard reports the abort's reason). A 1.0 driver is never handed options.
 * @since 1.1
 */
export interface CallOptions {
  signal?: AbortSignal;
  /**
   * Told how a live migration advances (liveMigration reports through it, at least once); a
   * throwing listener never reaches the driver. A 1.0/1.1 driver is never handed it.
   * @since 1.2
   */
  onProgress?(p: MoveProgress): void;
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

/** What happened to a node. @since 1.1 */
export type NodeEventKind = 'added' | 'removed' | 'inventoryChanged' | 'traitsChanged';

/**
 * A node came, went or changed while the driver runs. The event names the node; the compute
 * service reads it again (listNodes, or getNode with the nodeLookup group) for its new state.
 * @since 1.1
 */
export interface NodeEvent {
  kind: NodeEventKind;
  /** NodeInfo.name. */
  node: string;
  /** NodeInfo.uuid. */
  uuid: string;
  /** Milliseconds since the epoch. */
  at: number;
}

/** @since 1.1 */
export type NodeEventListener = (event: NodeEvent) => void;

/**
 * The back-end's health as the driver sees it, reported by the compute service with its
 * service report (an unreachable back-end shows the service down, with the message as reason).
 * @since 1.1
 */
export interface DriverStatus {
  /** The back-end answered. */
  reachable: boolean;
  /** How long the back-end took to answer the driver's probe, or null when it did not. */
  latencyMs: number | null;
  /** Short, for operators: what was probed, or why it failed. */
  message: string;
}

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
  /**
   * The contract version agreed at the handshake ("MAJOR.MINOR"): the driver may rely only on
   * what that version defines. Always set by the guard.
   * @since 1.1
   */
  contractVersion?: string;
}

/**
 * The driver interface: the calls of 1.0 and 1.1 here, those of 1.2 in MoveCalls (moves.ts),
 * those of 1.3 in VifCalls (vifs.ts), that of 1.4 in ConsoleCalls (consoles.ts).
 * Grouped by concern; every method but
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
export interface VirtDriver extends MoveCalls, VifCalls, ConsoleCalls {
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
  /** A failed spawn leaves nothing behind on the back-end. `opts` @since 1.1. */
  spawn(spec: InstanceSpec, opts?: CallOptions): Promise<InstanceInfo>;
  /** Idempotent: destroying a missing instance succeeds. `opts` @since 1.1. */
  destroy(ref: InstanceRef, opts?: CallOptions): Promise<void>;
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
  /** `opts` @since 1.1. */
  snapshot(req: SnapshotRequest, opts?: CallOptions): Promise<void>;

  // events
  /** Registers a lifecycle listener; returns a function that removes it. */
  onEvent(listener: EventListener): () => void;

  // 1.1: nodes that come and go, and the back-end's health
  /**
   * Registers a node event listener; returns a function that removes it. The driver emits an
   * event whenever listNodes() would answer differently for a node (nodeChanges() in events.ts).
   * @since 1.1
   */
  onNodeEvent?(listener: NodeEventListener): () => void;
  /**
   * Probes the back-end. Never throws for an unreachable back-end: it answers reachable false.
   * @since 1.1
   */
  status?(): Promise<DriverStatus>;
  /**
   * One node's current state, without listing all (group `nodeLookup`). NodeNotFound when
   * the back-end no longer has it.
   * @since 1.1
   */
  getNode?(name: string): Promise<NodeInfo>;
}

/** A method of the driver interface; the keys of ALLOWED_ERRORS. */
export type DriverMethod = keyof VirtDriver;

// The methods each version added and the optional groups: method-table.ts.
export { DRIVER_METHODS, METHOD_SINCE, METHODS_ADDED, OPTIONAL_GROUPS } from './method-table.js';
