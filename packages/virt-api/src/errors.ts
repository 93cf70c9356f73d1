/**
 * The error taxonomy of the driver contract.
 *
 * Every error a driver may raise is a DriverError with a string `code`. Code, not
 * `instanceof`, is the identity: the compute service and a driver may load different copies
 * of this package, so errors are recognised by a global brand and their code
 * (isDriverError). Anything else that escapes a driver is wrapped at the seam as DriverFault
 * (guard.ts).
 */
import type { DriverMethod } from './contract.js';

export const DRIVER_ERROR_CODES = [
  'InstanceNotFound',
  'InstanceExists',
  'NodeNotFound',
  'NotSupported',
  'InvalidState',
  'CapacityExceeded',
  'ImageNotFound',
  'ImageError',
  'BackendUnavailable',
  'Timeout',
  'DriverFault',
  // since 1.1
  'ImageServiceUnavailable',
  'Aborted',
  'NotInContract',
  // since 1.2
  'MigrationFailed',
] as const;
export type DriverErrorCode = (typeof DRIVER_ERROR_CODES)[number];

/** What each code means and whether retrying (elsewhere or later) may succeed. */
export const ERROR_TAXONOMY: Record<DriverErrorCode, { meaning: string; retryable: boolean }> = {
  InstanceNotFound: { meaning: 'the instance does not exist on the back-end', retryable: false },
  InstanceExists: { meaning: 'spawn of a uuid the back-end already has', retryable: false },
  NodeNotFound: { meaning: 'the node named in the request is not managed by this driver', retryable: true },
  NotSupported: { meaning: 'the operation (or image format) is not in the declared capabilities', retryable: false },
  InvalidState: { meaning: 'the instance is in a power state that does not allow the operation', retryable: false },
  CapacityExceeded: { meaning: 'the node cannot hold the instance', retryable: true },
  ImageNotFound: { meaning: 'the image does not exist (or vanished during the call)', retryable: false },
  ImageError: { meaning: 'the image exists but cannot be used (bad data, format, upload failure)', retryable: false },
  BackendUnavailable: { meaning: 'the hypervisor/back-end cannot be reached', retryable: true },
  Timeout: { meaning: 'the back-end did not finish in time; the outcome is unknown', retryable: true },
  DriverFault: { meaning: 'any other failure: a driver bug or an undeclared error, wrapped at the seam', retryable: false },
  ImageServiceUnavailable: { meaning: 'the image service could not be reached or failed; the image may be fine', retryable: true },
  Aborted: { meaning: 'the compute service abandoned the call (it is stopping); the outcome is unknown', retryable: true },
  NotInContract: {
    meaning: 'the method is newer than the agreed contract version, or in an optional group the driver did not declare; the driver was not called',
    retryable: false,
  },
  MigrationFailed: { meaning: 'the hypervisor refused or failed the migration; the guest is where it was', retryable: true },
};

const BRAND = Symbol.for('orrery.virt-api.DriverError');
const KNOWN = new Set<string>(DRIVER_ERROR_CODES);

export class DriverError extends Error {
  readonly code: DriverErrorCode;
  constructor(code: DriverErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = code;
    // The global brand that makes isDriverError work across copies of this package.
    Object.defineProperty(this, BRAND, { value: true });
  }
}

export class InstanceNotFound extends DriverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InstanceNotFound', message, options);
  }
}
export class InstanceExists extends DriverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InstanceExists', message, options);
  }
}
export class NodeNotFound extends DriverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NodeNotFound', message, options);
  }
}
export class NotSupported extends DriverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NotSupported', message, options);
  }
}
export class InvalidState extends DriverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InvalidState', message, options);
  }
}
export class CapacityExceeded extends DriverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CapacityExceeded', message, options);
  }
}
export class ImageNotFound extends DriverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ImageNotFound', message, options);
  }
}
export class ImageError extends DriverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ImageError', message, options);
  }
}
export class BackendUnavailable extends DriverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BackendUnavailable', message, options);
  }
}
export class Timeout extends DriverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('Timeout', message, options);
  }
}
/** Raised by the ImageService handed to drivers when the image service cannot answer. @since 1.1 */
export class ImageServiceUnavailable extends DriverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ImageServiceUnavailable', message, options);
  }
}
/** A call abandoned through its CallOptions signal. @since 1.1 */
export class Aborted extends DriverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('Aborted', message, options);
  }
}
/** Raised by the guard, never by a driver: the call is outside the agreed contract. @since 1.1 */
export class NotInContract extends DriverError {
  readonly method: string;
  constructor(method: string, message: string) {
    super('NotInContract', message);
    this.method = method;
  }
}
/** The hypervisor refused or failed a move; the guest is where it was (another destination may work). @since 1.2 */
export class MigrationFailed extends DriverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MigrationFailed', message, options);
  }
}
/** Produced by the guard; a driver should not need to throw it itself. */
export class DriverFault extends DriverError {
  /** The driver method that failed. */
  readonly method: string | undefined;
  /** The code of a DriverError the method was not allowed to raise, if that was the fault. */
  readonly originalCode: string | undefined;
  constructor(message: string, options?: { cause?: unknown; method?: string; originalCode?: string }) {
    super('DriverFault', message, options);
    this.method = options?.method;
    this.originalCode = options?.originalCode;
  }
}

/**
 * What a driver rejects with when its call's signal (CallOptions) is aborted: the reason the
 * compute service gave (Aborted, or Timeout from a deadline), else Aborted. @since 1.1
 */
export function abortError(signal: AbortSignal): DriverError {
  const r: unknown = signal.reason;
  if (isDriverError(r) && (r.code === 'Aborted' || r.code === 'Timeout')) return r;
  return new Aborted(`the call was aborted: ${r instanceof Error ? r.message : String(r ?? 'no reason given')}`, { cause: r });
}

/** True when `err` is a DriverError (from any copy of this package), optionally of `code`. */
export function isDriverError(err: unknown, code?: DriverErrorCode): err is DriverError {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown } & Record<symbol, unknown>;
  if (e[BRAND] !== true || typeof e.code !== 'string' || !KNOWN.has(e.code)) return false;
  return code === undefined || e.code === code;
}

const IO: DriverErrorCode[] = ['BackendUnavailable', 'Timeout'];
const ON_INSTANCE: DriverErrorCode[] = ['InstanceNotFound', 'InvalidState', 'NotSupported', ...IO];
/** What the image service handed to the driver raises (ImageService), which the driver may pass on. */
const IMAGE: DriverErrorCode[] = ['ImageNotFound', 'ImageError', 'ImageServiceUnavailable'];
/** A move step on the destination: the node and its room, as for a spawn. @since 1.2 */
const AT_DESTINATION: DriverErrorCode[] = ['NodeNotFound', 'CapacityExceeded', 'NotSupported', 'MigrationFailed', 'Aborted', ...IO];

/**
 * The errors each call may raise. DriverFault is implicitly allowed everywhere (it is what the
 * guard turns every other error into). NotInContract comes from the guard alone, before the
 * driver is called: a driver raising it is a fault. version(), capabilities(), onEvent() and onNodeEvent() raise nothing.
 * Aborted is for the calls that take CallOptions. MigrationFailed (1.2) only for the move steps
 * that can fail in the hypervisor; NotSupported of finishMigration is a disk that would shrink.
 */
export const ALLOWED_ERRORS: Record<DriverMethod, readonly DriverErrorCode[]> = {
  version: [],
  capabilities: [],
  init: IO,
  shutdown: IO,
  listNodes: IO,
  listInstances: IO,
  getInstance: ['InstanceNotFound', ...IO],
  spawn: ['InstanceExists', 'NodeNotFound', 'NotSupported', 'CapacityExceeded', ...IMAGE, 'Aborted', ...IO],
  destroy: ['Aborted', ...IO],
  reboot: ON_INSTANCE,
  powerOff: ON_INSTANCE,
  powerOn: ON_INSTANCE,
  pause: ON_INSTANCE,
  unpause: ON_INSTANCE,
  suspend: ON_INSTANCE,
  resume: ON_INSTANCE,
  rebuild: [...ON_INSTANCE, ...IMAGE],
  getConsoleOutput: ['InstanceNotFound', 'NotSupported', ...IO],
  snapshot: [...ON_INSTANCE, ...IMAGE, 'Aborted'],
  onEvent: [],
  onNodeEvent: [],
  status: IO,
  getNode: ['NodeNotFound', ...IO],
  // 1.2: moves (moves.ts). Cleanups of what is already gone succeed, so they raise only IO.
  migrateDiskAndPowerOff: [...ON_INSTANCE, ...IMAGE, 'MigrationFailed', 'Aborted'],
  finishMigration: ['InstanceNotFound', 'InstanceExists', ...IMAGE, ...AT_DESTINATION],
  confirmMigration: IO,
  revertMigration: IO,
  finishRevertMigration: ['InstanceNotFound', ...IO],
  preLiveMigration: ['InstanceExists', ...IMAGE, ...AT_DESTINATION],
  liveMigration: [...ON_INSTANCE, 'MigrationFailed', 'Aborted'],
  liveMigrationForceComplete: ['InstanceNotFound', 'InvalidState', ...IO],
  postLiveMigrationAtDestination: ['InstanceNotFound', ...IO],
  postLiveMigrationAtSource: IO,
  rollbackLiveMigrationAtDestination: IO,
  // 1.3: VIFs (vifs.ts). plugVifs needs no instance (it runs before spawn); an unplug of what is gone succeeds.
  plugVifs: ['NotSupported', ...IO],
  unplugVifs: IO,
  attachInterface: ON_INSTANCE,
  detachInterface: ['InstanceNotFound', 'InvalidState', ...IO],
  // 1.4: consoles (consoles.ts). InvalidState: the guest does not run.
  getConsole: ON_INSTANCE,
};

/** True when `method` may raise `code` (DriverFault always may). */
export function isAllowedError(method: DriverMethod, code: string): boolean {
  return code === 'DriverFault' || (ALLOWED_ERRORS[method] as readonly string[]).includes(code);
}

/**
 * Raised by the loader and the handshake, never by a driver call: the driver could not be
 * loaded (`DriverLoadFailed`) or speaks no contract version this service speaks
 * (`IncompatibleContract`).
 */
export class DriverLoadError extends Error {
  readonly code: 'DriverLoadFailed' | 'IncompatibleContract';
  constructor(code: DriverLoadError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'DriverLoadError';
  }
}
