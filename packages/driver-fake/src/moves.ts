/**
 * The fake driver's moves (contract 1.2). A cold move carries the root disk through the image
 * service — the source uploads a small disk file into the transfer image, the destination
 * downloads it — as a driver without shared storage or ssh between hosts does. A live migration
 * writes the guest into the destination host's own back-end (its file is the "migration URI"
 * preLiveMigration answers), after a simulated copy that reports progress ten times over
 * `[fake] live_migration_ms` and ends early when forced, or at once when its signal is aborted.
 * What each step kept is in the host's move records (move-records.ts), so every step is
 * idempotent for its migration id and survives a restart. Faults armed on a move call strike
 * at its start, as for any call, except on liveMigration: mid-copy, after the first progress
 * report (the guest still runs on the source).
 */
import { existsSync } from 'node:fs';
import {
  abortError, ImageError, InstanceExists, InstanceNotFound, InvalidState, isDriverError, MigrationFailed, NotSupported, PowerState,
  supportsImageFormat, type CallOptions, type Capabilities, type DriverMethod, type FinishMigrationRequest, type FlavorSpec,
  type ImageService, type InstanceInfo, type LiveMigrationRequest, type LiveMigrationTarget, type MigrateDiskRequest,
  type MoveCalls, type MoveProgress, type MoveRef, type PreLiveMigrationRequest,
} from '@orrery/virt-api';
import { FakeBackend, type FakeInstance, type Fault } from './backend.js';
import type { FakeConfig } from './config.js';
import { sleep } from './sleep.js';

/** What the moves need of the driver they belong to. */
export interface MoveHost {
  hostName(): string;
  config(): FakeConfig;
  capabilities(): Capabilities;
  backend(): FakeBackend;
  images(): ImageService;
  /** The start of a call: latency, then the armed fault it takes (not yet struck). */
  begin(method: DriverMethod, node: string | null, uuid: string | null, signal?: AbortSignal): Promise<Fault | undefined>;
  strike(fault: Fault, method: DriverMethod, signal?: AbortSignal): Promise<void>;
  /** NodeNotFound / CapacityExceeded when `flavor` cannot be placed on `node`. */
  checkRoom(node: string, flavor: FlavorSpec): void;
  /** A guest's power state changed here (emits the lifecycle event). */
  changed(uuid: string, node: string, prev: PowerState | null, next: PowerState): void;
  /** A guest arrived here (no event: it did not change state) or left (`state` null). */
  known(uuid: string, state: PowerState | null): void;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const DISK_MAGIC = 'ORRERY FAKE DISK\n';
/** What a cold move's disk file says: enough to check it belongs to the guest, and its size. */
interface DiskFile { instance: string; image: string; rootGb: number; migrationId: string }

const info = (r: FakeInstance): InstanceInfo => ({ uuid: r.uuid, node: r.node, powerState: r.powerState });

/** A live migration under way on this (source) host. */
interface Running { promise: Promise<void>; force: boolean }

export class FakeMoves implements Required<MoveCalls> {
  readonly #h: MoveHost;
  readonly #live = new Map<string, Running>();

  constructor(host: MoveHost) {
    this.#h = host;
  }

  async #enter(method: DriverMethod, ref: { uuid: string; node: string }, signal?: AbortSignal): Promise<FakeBackend> {
    const fault = await this.#h.begin(method, ref.node, ref.uuid, signal);
    if (fault) await this.#h.strike(fault, method, signal);
    return this.#h.backend();
  }

  // cold moves

  async migrateDiskAndPowerOff(req: MigrateDiskRequest, opts?: CallOptions): Promise<void> {
    const { move, transfer } = req;
    const ref = move.instance;
    const signal = opts?.signal;
    let b = await this.#enter('migrateDiskAndPowerOff', ref, signal);
    if (b.moves.get(move.migrationId, transfer ? 'source' : 'aside')) return; // done already
    const row = b.getInstance(ref.uuid);
    if (!row) throw new InstanceNotFound(`instance ${ref.uuid} not found on the fake back-end`);
    if (row.powerState === PowerState.PAUSED || row.powerState === PowerState.SUSPENDED) {
      throw new InvalidState(`cannot migrate instance ${ref.uuid} while it is ${row.powerState === PowerState.PAUSED ? 'paused' : 'suspended'}`);
    }
    if (row.powerState !== PowerState.SHUTDOWN) {
      b.setPowerState(row.uuid, PowerState.SHUTDOWN);
      this.#h.changed(row.uuid, row.node, row.powerState, PowerState.SHUTDOWN);
    }
    const kept: FakeInstance = { ...row, powerState: PowerState.SHUTDOWN, updatedAt: Date.now() };
    if (transfer === null) {
      b.moves.put({ migrationId: move.migrationId, role: 'aside', uuid: row.uuid, node: row.node, state: 'aside', row: kept });
      return;
    }
    const disk: DiskFile = { instance: row.uuid, image: row.imageId, rootGb: row.rootGb, migrationId: move.migrationId };
    await upload(this.#h.images(), transfer.imageId, disk);
    if (signal?.aborted) throw abortError(signal);
    b = this.#h.backend();
    b.transaction(() => {
      b.deleteInstance(row.uuid);
      b.moves.put({ migrationId: move.migrationId, role: 'source', uuid: row.uuid, node: row.node, state: 'kept', row: kept });
    });
    this.#h.known(row.uuid, null);
  }

  async finishMigration(req: FinishMigrationRequest, opts?: CallOptions): Promise<InstanceInfo> {
    const { move, instance: spec, transfer, powerOn } = req;
    const signal = opts?.signal;
    let b = await this.#enter('finishMigration', spec, signal);
    const state = powerOn ? PowerState.RUNNING : PowerState.SHUTDOWN;
    const f = spec.flavor;
    const shape = { vcpus: f.vcpus, memoryMb: f.memoryMb, diskGb: f.rootGb + f.ephemeralGb, rootGb: f.rootGb };
    const shrinks = (rootGb: number) => new NotSupported(`the root disk of ${spec.uuid} (${rootGb} GB) cannot shrink to ${spec.flavor.rootGb} GB`);
    if (transfer === null) {
      const aside = b.moves.get(move.migrationId, 'aside');
      if (!aside?.row) throw new InstanceNotFound(`nothing of ${spec.uuid} was set aside for migration ${move.migrationId}`);
      const row = b.getInstance(spec.uuid);
      if (!row) throw new InstanceNotFound(`instance ${spec.uuid} not found on the fake back-end`);
      if (aside.state === 'finished') return info(row); // done already
      if (spec.flavor.rootGb < aside.row.rootGb) throw shrinks(aside.row.rootGb);
      this.#h.checkRoom(spec.node, spec.flavor);
      const next: FakeInstance = { ...row, ...shape, powerState: state, updatedAt: Date.now() };
      b.transaction(() => {
        b.putInstance(next);
        b.moves.put({ ...aside, state: 'finished' });
      });
      this.#h.changed(row.uuid, row.node, row.powerState, state);
      return info(next);
    }
    const here = b.getInstance(spec.uuid);
    if (here) {
      if (here.node === spec.node) return info(here); // done already
      throw new InstanceExists(`instance ${spec.uuid} already exists on node ${here.node} of this host`);
    }
    if (!supportsImageFormat(this.#h.capabilities(), transfer.diskFormat)) {
      throw new NotSupported(`fake driver cannot boot ${transfer.diskFormat} images`);
    }
    const disk = await download(this.#h.images(), transfer.id, spec.uuid, move.migrationId);
    if (signal?.aborted) throw abortError(signal);
    if (spec.flavor.rootGb < disk.rootGb) throw shrinks(disk.rootGb);
    this.#h.checkRoom(spec.node, spec.flavor);
    const now = Date.now();
    const row: FakeInstance = {
      uuid: spec.uuid, node: spec.node, name: spec.name, powerState: state, ...shape, imageId: spec.image.id,
      projectId: spec.projectId, createdAt: now, updatedAt: now,
    };
    b = this.#h.backend();
    if (!b.insertInstance(row)) throw new InstanceExists(`instance ${spec.uuid} already exists`);
    if (powerOn) this.#h.changed(row.uuid, row.node, null, state);
    else this.#h.known(row.uuid, state);
    return info(row);
  }

  async confirmMigration(move: MoveRef): Promise<void> {
    const b = await this.#enter('confirmMigration', move.instance);
    b.transaction(() => {
      b.moves.delete(move.migrationId, 'source');
      b.moves.delete(move.migrationId, 'aside');
    });
  }

  async revertMigration(move: MoveRef): Promise<void> {
    const ref = move.instance;
    const b = await this.#enter('revertMigration', ref);
    const aside = b.moves.get(move.migrationId, 'aside');
    if (aside?.row) {
      if (aside.state === 'restored') return; // done already
      const row = b.getInstance(ref.uuid);
      const before = aside.row;
      b.transaction(() => {
        b.putInstance({ ...before, powerState: PowerState.SHUTDOWN, updatedAt: Date.now() });
        b.moves.put({ ...aside, state: 'restored' });
      });
      if (row) this.#h.changed(row.uuid, row.node, row.powerState, PowerState.SHUTDOWN);
      return;
    }
    const row = b.getInstance(ref.uuid);
    if (row && row.node === ref.node) {
      b.deleteInstance(ref.uuid);
      this.#h.known(ref.uuid, null);
    }
  }

  async finishRevertMigration(move: MoveRef, powerOn: boolean): Promise<InstanceInfo> {
    const ref = move.instance;
    const b = await this.#enter('finishRevertMigration', ref);
    const kept = b.moves.get(move.migrationId, 'source') ?? b.moves.get(move.migrationId, 'aside');
    const current = b.getInstance(ref.uuid);
    if (!kept?.row) {
      if (!current) throw new InstanceNotFound(`nothing of ${ref.uuid} was kept for migration ${move.migrationId}`);
      return info(current); // done already
    }
    const state = powerOn ? PowerState.RUNNING : PowerState.SHUTDOWN;
    const back: FakeInstance = { ...kept.row, powerState: state, updatedAt: Date.now() };
    b.transaction(() => {
      b.putInstance(back);
      b.moves.delete(kept.migrationId, kept.role);
    });
    this.#h.changed(back.uuid, back.node, current?.powerState ?? PowerState.SHUTDOWN, state);
    return info(back);
  }

  // live migration

  async preLiveMigration(req: PreLiveMigrationRequest, opts?: CallOptions): Promise<LiveMigrationTarget> {
    const { move, instance: spec } = req;
    const b = await this.#enter('preLiveMigration', spec, opts?.signal);
    const target = { node: spec.node, data: { host: this.#h.hostName(), backend: b.path } };
    if (b.moves.get(move.migrationId, 'live-dest')) return target; // done already
    if (b.getInstance(spec.uuid)?.node === spec.node) throw new InstanceExists(`instance ${spec.uuid} is already on node ${spec.node}`);
    this.#h.checkRoom(spec.node, spec.flavor);
    b.moves.put({ migrationId: move.migrationId, role: 'live-dest', uuid: spec.uuid, node: spec.node, state: 'prepared', row: null });
    return target;
  }

  async liveMigration(req: LiveMigrationRequest, opts?: CallOptions): Promise<void> {
    const { move } = req;
    const ref = move.instance;
    const fault = await this.#h.begin('liveMigration', ref.node, ref.uuid, opts?.signal);
    const b = this.#h.backend();
    if (b.moves.get(move.migrationId, 'live-source')) return; // done already
    const under = this.#live.get(move.migrationId);
    if (under) return under.promise;
    const row = b.getInstance(ref.uuid);
    if (!row) throw new InstanceNotFound(`instance ${ref.uuid} not found on the fake back-end`);
    if (row.powerState !== PowerState.RUNNING) throw new InvalidState(`cannot live-migrate instance ${ref.uuid}: it is not running`);
    const running: Running = { promise: Promise.resolve(), force: false };
    running.promise = this.#migrate(req, row, running, fault, opts).finally(() => this.#live.delete(move.migrationId));
    this.#live.set(move.migrationId, running);
    return running.promise;
  }

  async #migrate(req: LiveMigrationRequest, row: FakeInstance, running: Running, fault: Fault | undefined, opts?: CallOptions): Promise<void> {
    const { move, target } = req;
    const signal = opts?.signal;
    const b = this.#h.backend();
    const path = target.data['backend'];
    if (!path || !existsSync(path)) throw new MigrationFailed(`live migration target ${target.node} names no fake back-end`);
    const dest = path === b.path ? b : new FakeBackend(path);
    try {
      const incoming = dest.moves.get(move.migrationId, 'live-dest');
      if (incoming?.state !== 'prepared' && incoming?.state !== 'arrived') {
        throw new MigrationFailed(`the destination ${target.node} was not prepared for migration ${move.migrationId}`);
      }
      await this.#copy(row, req.blockMigration, running, fault, opts);
      if (signal?.aborted) throw abortError(signal);
      const moved: FakeInstance = { ...row, node: target.node, updatedAt: Date.now() };
      dest.transaction(() => {
        dest.putInstance(moved);
        dest.moves.put({ ...incoming, state: 'arrived' });
      });
      b.transaction(() => {
        if (dest !== b) b.deleteInstance(row.uuid);
        b.moves.put({ migrationId: move.migrationId, role: 'live-source', uuid: row.uuid, node: row.node, state: 'migrated', row });
      });
      if (dest !== b) this.#h.known(row.uuid, null);
    } finally {
      if (dest !== b) dest.close();
    }
  }

  /** The simulated copy: ten progress reports over live_migration_ms; forced: done at the next one. */
  async #copy(row: FakeInstance, block: boolean, running: Running, fault: Fault | undefined, opts?: CallOptions): Promise<void> {
    const cfg = this.#h.config();
    const memoryTotal = row.memoryMb * MiB;
    const diskTotal = block ? row.diskGb * GiB : 0;
    const ticks = 10;
    for (let i = 1; ; i++) {
      await sleep(cfg.liveMigrationMs / ticks, opts?.signal);
      // Without convergence the last tenth stays dirty: the copy goes on until forced or aborted.
      const share = running.force ? 1 : Math.min(i, cfg.liveMigrationConverges ? ticks : ticks - 1) / ticks;
      const progress: MoveProgress = {
        memoryTotal, memoryProcessed: Math.round(memoryTotal * Math.max(share, i / ticks)),
        memoryRemaining: Math.round(memoryTotal * (1 - share)),
        diskTotal, diskProcessed: Math.round(diskTotal * share), diskRemaining: Math.round(diskTotal * (1 - share)),
      };
      opts?.onProgress?.(progress);
      if (i === 1 && fault) await this.#h.strike(fault, 'liveMigration', opts?.signal);
      if (share === 1) return;
    }
  }

  async liveMigrationForceComplete(move: MoveRef): Promise<void> {
    const b = await this.#enter('liveMigrationForceComplete', move.instance);
    const running = this.#live.get(move.migrationId);
    if (running) {
      running.force = true;
      return;
    }
    if (b.moves.get(move.migrationId, 'live-source')) return; // finished already
    throw new InvalidState(`no live migration ${move.migrationId} of ${move.instance.uuid} is under way here`);
  }

  async postLiveMigrationAtDestination(move: MoveRef): Promise<InstanceInfo> {
    const ref = move.instance;
    const b = await this.#enter('postLiveMigrationAtDestination', ref);
    const incoming = b.moves.get(move.migrationId, 'live-dest');
    const row = b.getInstance(ref.uuid);
    if ((incoming && incoming.state !== 'arrived') || row?.node !== ref.node) {
      throw new InstanceNotFound(`instance ${ref.uuid} did not arrive on node ${ref.node}`);
    }
    if (incoming) b.moves.delete(move.migrationId, 'live-dest');
    this.#h.known(row.uuid, row.powerState);
    return info(row);
  }

  async postLiveMigrationAtSource(move: MoveRef): Promise<void> {
    const b = await this.#enter('postLiveMigrationAtSource', move.instance);
    b.moves.delete(move.migrationId, 'live-source');
  }

  async rollbackLiveMigrationAtDestination(move: MoveRef): Promise<void> {
    const b = await this.#enter('rollbackLiveMigrationAtDestination', move.instance);
    if (b.moves.get(move.migrationId, 'live-dest')?.state === 'prepared') b.moves.delete(move.migrationId, 'live-dest');
  }
}

/** Uploads a cold move's disk file; the image service's own typed errors pass. */
async function upload(images: ImageService, imageId: string, disk: DiskFile): Promise<void> {
  try {
    await images.upload(imageId, new TextEncoder().encode(`${DISK_MAGIC}${JSON.stringify(disk)}\n`));
  } catch (err) {
    if (isDriverError(err, 'ImageNotFound') || isDriverError(err, 'ImageServiceUnavailable') || isDriverError(err, 'ImageError')) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new ImageError(`upload of the disk of ${disk.instance} into ${imageId} failed: ${why}`, { cause: err });
  }
}

/** Reads back the disk file of `uuid` for `migrationId` from transfer image `imageId`; ImageError when it is none. */
async function download(images: ImageService, imageId: string, uuid: string, migrationId: string): Promise<DiskFile> {
  const parts: Uint8Array[] = [];
  try {
    for await (const p of await images.download(imageId)) parts.push(p);
  } catch (err) {
    if (isDriverError(err, 'ImageNotFound') || isDriverError(err, 'ImageServiceUnavailable') || isDriverError(err, 'ImageError')) throw err;
    throw new ImageError(`download of transfer image ${imageId} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const text = Buffer.concat(parts).toString('utf8');
  let disk: Partial<DiskFile> = {};
  try {
    if (text.startsWith(DISK_MAGIC)) disk = JSON.parse(text.slice(DISK_MAGIC.length)) as Partial<DiskFile>;
  } catch {
    // not a disk file: refused below
  }
  if (disk.instance !== uuid || disk.migrationId !== migrationId || typeof disk.rootGb !== 'number' || typeof disk.image !== 'string') {
    throw new ImageError(`transfer image ${imageId} holds no disk of instance ${uuid} for migration ${migrationId}`);
  }
  return { instance: disk.instance, image: disk.image, rootGb: disk.rootGb, migrationId: disk.migrationId };
}
