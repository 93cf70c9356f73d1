/**
 * Contract 1.2: the move calls (resize, cold migration, live migration). The conductor owns a
 * move as a persisted flow and runs its steps one at a time on the source or the destination
 * compute; each step below is one driver call, idempotent for the move's `migrationId` (a
 * conductor that died mid-step runs it again, and gets the same result). Evacuation and shelve
 * need no call of their own (spawn/rebuild on the new host; snapshot + powerOff + destroy;
 * spawn from the shelved image).
 *
 * Two capabilities gate them (capabilities.ts; absent = false): `coldMigration` the five cold
 * calls, `liveMigration` the six live ones. The guard refuses them to a driver that agreed a
 * version before 1.2 (NotInContract) or did not declare the capability (NotSupported).
 */
import type { CallOptions, ImageRef, InstanceInfo, InstanceRef, InstanceSpec } from './contract.js';

/** A move's identity: the migration record's uuid. Every step is idempotent for it. @since 1.2 */
export interface MoveRef {
  /** The instance, on the node of the host the call is made on (source or destination). */
  instance: InstanceRef;
  /** The migration record's uuid (Nova's migration uuid); the key of every step. */
  migrationId: string;
}

/**
 * Progress of a live migration, as Nova's migration record counts it; every field in bytes.
 * The compute service copies the latest report into the migration record.
 * @since 1.2
 */
export interface MoveProgress {
  /** The guest's memory, bytes. */
  memoryTotal: number;
  /** Memory copied so far (pages re-sent after being dirtied count again), bytes. */
  memoryProcessed: number;
  /** Memory still to copy, bytes; stays above 0 while the guest dirties pages faster than they are sent. */
  memoryRemaining: number;
  /** Disk to copy: 0 unless block migration. Bytes. */
  diskTotal: number;
  diskProcessed: number;
  diskRemaining: number;
}

/**
 * Cold move, step 1, on the source. @since 1.2
 * `transfer`: the image record the compute created (queued) to carry the root disk to another
 * node, with the disk format to upload in; null when the move stays on this node (resize to the
 * same host), and the copy is set aside here instead.
 */
export interface MigrateDiskRequest {
  move: MoveRef;
  transfer: { imageId: string; diskFormat: string } | null;
}

/** Cold move, step 2, on the destination. @since 1.2 */
export interface FinishMigrationRequest {
  /** move.instance.node: the destination node. */
  move: MoveRef;
  /** The instance as it will be: node = the destination node, flavor = the new flavor (resize), image = the server's image. */
  instance: InstanceSpec;
  /** The image the source uploaded the disk into (its record, now active); null: the copy set aside on this same node. */
  transfer: ImageRef | null;
  /** The node the instance comes from (for logs and a driver's own checks). */
  sourceNode: string;
  /** Start the guest once it is there (false: the guest was stopped when the move began). */
  powerOn: boolean;
}

/** Live migration, step 1, on the destination. @since 1.2 */
export interface PreLiveMigrationRequest {
  move: MoveRef;
  /** The instance as it will be there: node = the destination node. */
  instance: InstanceSpec;
  /** The disk moves too (no shared storage): the destination makes empty disks of the same size to receive it. */
  blockMigration: boolean;
}

/**
 * Where a live migration goes, as the destination answered preLiveMigration: driver-specific
 * and opaque to the compute service, which hands it to the source unchanged. @since 1.2
 */
export interface LiveMigrationTarget {
  /** The destination node. */
  node: string;
  /** What the source needs to reach the destination, e.g. libvirt's destination and migration URIs. */
  data: Record<string, string>;
}

/** Live migration, step 2, on the source. @since 1.2 */
export interface LiveMigrationRequest {
  move: MoveRef;
  /** What preLiveMigration answered on the destination. */
  target: LiveMigrationTarget;
  /** Copy the disk as well as the memory. */
  blockMigration: boolean;
}

/**
 * The move calls, optional in the types (a 1.0/1.1 driver still type-checks); the loader demands
 * each group of a 1.2 driver that declares its capability. Missing-state rules: a cleanup call
 * (confirm, revert, post at source, rollback) of something already gone succeeds.
 */
export interface MoveCalls {
  /**
   * Cold move, step 1, on the source: power the guest off and keep it (revert needs it; moving
   * to another node, the kept guest is no longer listed here), and upload its root disk into
   * `transfer`; with `transfer` null (the move stays on this node) set a copy of it aside
   * instead, the guest still listed, powered off. InvalidState for a paused or suspended guest.
   * @since 1.2 (capability coldMigration)
   */
  migrateDiskAndPowerOff?(req: MigrateDiskRequest, opts?: CallOptions): Promise<void>;
  /**
   * Cold move, step 2, on the destination: create the instance from the transferred disk
   * (`transfer` null: from the copy set aside on this same node) with `instance`'s flavor, its
   * image still the server's image; RUNNING when `powerOn`, else SHUTDOWN. The disk grows to the
   * new flavor's root_gb; it never shrinks (NotSupported, nothing changed).
   * @since 1.2 (capability coldMigration)
   */
  finishMigration?(req: FinishMigrationRequest, opts?: CallOptions): Promise<InstanceInfo>;
  /**
   * Confirm, on the source: remove what the source kept (the powered-off guest, its disks and
   * console log; on the same node only the copy set aside). Missing: success.
   * @since 1.2 (capability coldMigration)
   */
  confirmMigration?(move: MoveRef): Promise<void>;
  /**
   * Revert, step 1, on the destination: remove the moved copy only (on the same node: put the
   * copy set aside back in place, not yet running). Missing: success.
   * @since 1.2 (capability coldMigration)
   */
  revertMigration?(move: MoveRef): Promise<void>;
  /**
   * Revert, step 2, on the source: the kept guest back as it was (its old flavor and disk),
   * listed again, RUNNING when `powerOn`. InstanceNotFound when nothing of it was kept.
   * @since 1.2 (capability coldMigration)
   */
  finishRevertMigration?(move: MoveRef, powerOn: boolean): Promise<InstanceInfo>;
  /**
   * Live migration, step 1, on the destination: make ready to receive (disks for a block
   * migration, kernel files); answers what the source needs to reach it. Nothing is listed
   * here yet.
   * @since 1.2 (capability liveMigration)
   */
  preLiveMigration?(req: PreLiveMigrationRequest, opts?: CallOptions): Promise<LiveMigrationTarget>;
  /**
   * Live migration, step 2, on the source: move the running guest (memory; and disk when
   * `blockMigration`) to `target`; resolves when the guest runs there (the source no longer
   * lists it). `opts.signal` aborted = abort: the guest stays running here, nothing is left
   * there but what preLiveMigration made. Reports progress through `opts.onProgress` (at least
   * once). InvalidState for a guest not running; MigrationFailed when the hypervisor refused or
   * failed it (the guest still runs here). Called again after it succeeded: success.
   * @since 1.2 (capability liveMigration)
   */
  liveMigration?(req: LiveMigrationRequest, opts?: CallOptions): Promise<void>;
  /**
   * During step 2, on the source: make a migration that does not converge finish (pause the
   * guest, or switch to post-copy). InvalidState when no migration of `move` is under way here;
   * a migration of `move` already finished: success.
   * @since 1.2 (capability liveMigration)
   */
  liveMigrationForceComplete?(move: MoveRef): Promise<void>;
  /**
   * Live migration, step 3, on the destination: the guest is here; finish what the source
   * cannot (persist its definition, follow its events). InstanceNotFound when it did not arrive.
   * @since 1.2 (capability liveMigration)
   */
  postLiveMigrationAtDestination?(move: MoveRef): Promise<InstanceInfo>;
  /**
   * Live migration, step 4, on the source: remove what is left of the guest here (disks of a
   * block migration, console log, definition). Missing: success.
   * @since 1.2 (capability liveMigration)
   */
  postLiveMigrationAtSource?(move: MoveRef): Promise<void>;
  /**
   * Abort or failure of step 2, on the destination: remove what preLiveMigration made.
   * Missing: success.
   * @since 1.2 (capability liveMigration)
   */
  rollbackLiveMigrationAtDestination?(move: MoveRef): Promise<void>;
}

const PROGRESS_FIELDS = ['memoryTotal', 'memoryProcessed', 'memoryRemaining', 'diskTotal', 'diskProcessed', 'diskRemaining'] as const satisfies
  ReadonlyArray<keyof MoveProgress>;

/** True when `p` is a well-formed MoveProgress (every field a finite number ≥ 0). The guard drops others. */
export function isMoveProgress(p: unknown): p is MoveProgress {
  if (typeof p !== 'object' || p === null) return false;
  const r = p as Record<string, unknown>;
  return PROGRESS_FIELDS.every((f) => {
    const v = r[f];
    return typeof v === 'number' && Number.isFinite(v) && v >= 0;
  });
}

/**
 * What the guard hands a driver as onProgress: each well-formed report, copied, reaches
 * `listener` until `stop()` (the call settled); a malformed one is dropped, and a throwing
 * listener is told to `onError`, never to the driver.
 */
export function progressRelay(
  listener: (p: MoveProgress) => void, onError: (err: unknown, p: MoveProgress) => void,
): { onProgress: (p: MoveProgress) => void; stop: () => void } {
  let live = true;
  return {
    onProgress: (p) => {
      if (!live || !isMoveProgress(p)) return;
      const { memoryTotal, memoryProcessed, memoryRemaining, diskTotal, diskProcessed, diskRemaining } = p;
      const copy = { memoryTotal, memoryProcessed, memoryRemaining, diskTotal, diskProcessed, diskRemaining };
      try {
        listener(copy);
      } catch (err) {
        onError(err, copy);
      }
    },
    stop: () => void (live = false),
  };
}
