/**
 * Contract 1.2's cold moves (resize, cold migration) for libvirt. To another host the root disk
 * travels flattened (qemu-img convert) through the transfer image, and the source keeps the
 * powered-off guest — its definition saved, its directory renamed `<uuid>_resize` — until
 * confirm removes it or revert brings it back. On the same node a copy of the root disk and the
 * old definition are set aside in `<uuid>_resize` and the guest is resized in place.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import {
  ImageError, InstanceExists, InstanceNotFound, InvalidState, isDriverError, NotSupported, PowerState,
  type CallOptions, type FinishMigrationRequest, type ImageRef, type InstanceInfo, type InstanceSpec,
  type MigrateDiskRequest, type MoveRef,
} from '@orrery/virt-api';
import { buildError, createExtraDisks, defineInstance, prepareBootFiles, teardown } from './build.js';
import { flattenDisk, uploadFile } from './console.js';
import type { DiskDevice } from './domain-xml.js';
import { checkpoint, GiB, keptDirName, messageOf, readInstanceRecord, type LibvirtHost } from './host.js';
import type { MoveRecords } from './move-records.js';
import { cleanShutdown } from './power.js';
import { convert, diskInfo, grow, qemuFormatFor } from './qemu-img.js';

export class ColdMoves {
  constructor(private readonly h: LibvirtHost, private readonly records: MoveRecords) {}

  #keptDir(uuid: string): string {
    return join(this.h.cfg!.instancesPath, keptDirName(uuid));
  }

  #info(uuid: string, powerState: PowerState): InstanceInfo {
    return { uuid, node: this.h.nodeName, powerState };
  }

  /** Powers the guest off (ACPI for shutdown_timeout seconds, then hard); InvalidState when paused or suspended. */
  async #powerOff(ref: { uuid: string; node: string }): Promise<void> {
    const h = this.h;
    const st = await h.status(ref);
    if (st.powerState === PowerState.PAUSED || st.powerState === PowerState.SUSPENDED) {
      throw new InvalidState(`cannot migrate instance ${ref.uuid} while it is ${st.state}`);
    }
    if (st.powerState === PowerState.SHUTDOWN || st.powerState === PowerState.CRASHED) return;
    const timeout = h.cfg!.shutdownTimeout;
    if (timeout > 0 && (await cleanShutdown(h, ref.uuid, timeout))) return;
    await h.destroyDomain(ref.uuid);
  }

  async migrateDiskAndPowerOff(req: MigrateDiskRequest, opts?: CallOptions): Promise<void> {
    const h = this.h;
    const { move, transfer } = req;
    const { uuid } = move.instance;
    h.requireVirsh();
    await h.locked(uuid, async () => {
      const role = transfer ? 'source' : 'aside';
      if (await this.records.get(move.migrationId, role)) return; // done already
      const dir = h.instanceDir(uuid);
      const kept = this.#keptDir(uuid);
      if (transfer === null) {
        await this.#powerOff(move.instance);
        // The copy set aside: the root disk (a small overlay on the cached image) and the old definition.
        await mkdir(kept, { recursive: true, mode: 0o755 });
        for (const f of ['disk', 'libvirt.xml', 'orrery.json']) await copyFile(join(dir, f), join(kept, f));
        await this.records.put({ migrationId: move.migrationId, role, uuid, state: 'aside' });
        return;
      }
      // A crash after the guest was set aside but before the record: finish the record only.
      if (!(await h.exists(uuid)) && existsSync(kept)) {
        await this.records.put({ migrationId: move.migrationId, role, uuid, state: 'kept' });
        return;
      }
      await this.#powerOff(move.instance);
      const format = qemuFormatFor(transfer.diskFormat);
      if (format === null) throw new ImageError(`cannot write a disk in disk format ${transfer.diskFormat}`);
      const tmp = await this.records.scratch(move.migrationId, 'disk');
      try {
        await flattenDisk(h, uuid, PowerState.SHUTDOWN, tmp, format, opts?.signal);
        checkpoint(opts?.signal);
        await uploadFile(h, transfer.imageId, tmp, 'migration disk');
      } finally {
        await rm(tmp, { force: true });
      }
      checkpoint(opts?.signal);
      // Kept for revert, no longer listed here: the definition goes (libvirt.xml keeps it), the files move aside.
      await h.undefine(uuid);
      h.known.delete(uuid);
      await rm(kept, { recursive: true, force: true });
      await rename(dir, kept);
      await this.records.put({ migrationId: move.migrationId, role, uuid, state: 'kept' });
    });
  }

  async finishMigration(req: FinishMigrationRequest, opts?: CallOptions): Promise<InstanceInfo> {
    const h = this.h;
    const { move, instance: spec, transfer, powerOn } = req;
    h.requireVirsh();
    if (spec.node !== h.nodeName) throw new InstanceNotFound(`node ${spec.node} is not managed by this driver`);
    return h.locked(spec.uuid, async () => {
      if (transfer === null) return this.#resizeHere(move, spec, powerOn);
      if (await h.exists(spec.uuid)) {
        const rec = await readInstanceRecord(h.instanceDir(spec.uuid));
        if (rec?.migrationId === move.migrationId) return this.#info(spec.uuid, (await h.status(spec)).powerState);
        throw new InstanceExists(`instance ${spec.uuid} already exists on this host`);
      }
      h.checkFormat(transfer);
      const boot = await prepareBootFiles(h, spec.image);
      const dir = h.instanceDir(spec.uuid);
      try {
        await mkdir(dir, { recursive: true, mode: 0o755 });
        const disk = join(dir, 'disk');
        await download(h, transfer, `${disk}.in`);
        checkpoint(opts?.signal);
        const inFormat = transfer.diskFormat.toLowerCase() === 'qcow2' ? 'qcow2' : 'raw';
        const size = (await diskInfo(`${disk}.in`, inFormat)).virtualSize;
        const wanted = rootSize(spec, size, null);
        if (inFormat === 'qcow2') await rename(`${disk}.in`, disk);
        else {
          await convert(`${disk}.in`, 'raw', disk, 'qcow2', false, opts?.signal);
          await rm(`${disk}.in`, { force: true });
        }
        if (wanted > size) await grow(disk, 'qcow2', wanted);
        const disks: DiskDevice[] = [{ path: disk, format: 'qcow2', target: 'vda' }];
        await createExtraDisks(spec, dir, disks);
        await defineInstance(h, spec, { ...boot, ids: [spec.image.id, ...boot.ids] }, disks, move.migrationId);
        if (powerOn) await h.start(spec.uuid, opts?.signal);
      } catch (err) {
        // Nothing half-made: no domain, no directory.
        await teardown(h, spec.uuid, false).catch((e: unknown) =>
          h.ctx!.log.error('cleanup after a failed finishMigration failed', { instance: spec.uuid, err: messageOf(e) }));
        throw buildError(err, spec.uuid, 'finishMigration');
      }
      return this.#info(spec.uuid, powerOn ? PowerState.RUNNING : PowerState.SHUTDOWN);
    });
  }

  /** finishMigration on the same node: the guest resized in place, its old disk and definition set aside. */
  async #resizeHere(move: MoveRef, spec: InstanceSpec, powerOn: boolean): Promise<InstanceInfo> {
    const h = this.h;
    const rec = await this.records.get(move.migrationId, 'aside');
    if (!rec) throw new InstanceNotFound(`nothing of ${spec.uuid} was set aside for migration ${move.migrationId}`);
    const st = await h.status(spec);
    if (rec.state === 'finished') return this.#info(spec.uuid, st.powerState);
    const dir = h.instanceDir(spec.uuid);
    const disk = join(dir, 'disk');
    const size = (await diskInfo(disk, 'qcow2')).virtualSize;
    const wanted = rootSize(spec, size, (await readInstanceRecord(dir))?.rootGb ?? null);
    if (wanted > size) await grow(disk, 'qcow2', wanted);
    for (const f of ['disk.eph0', 'disk.swap']) await rm(join(dir, f), { force: true });
    const disks: DiskDevice[] = [{ path: disk, format: 'qcow2', target: 'vda' }];
    await createExtraDisks(spec, dir, disks);
    const boot = await prepareBootFiles(h, spec.image);
    await defineInstance(h, spec, { ...boot, ids: [spec.image.id, ...boot.ids] }, disks);
    if (powerOn && st.powerState !== PowerState.RUNNING) await h.start(spec.uuid);
    await this.records.put({ ...rec, state: 'finished' });
    return this.#info(spec.uuid, powerOn ? PowerState.RUNNING : PowerState.SHUTDOWN);
  }

  async confirmMigration(move: MoveRef): Promise<void> {
    const h = this.h;
    h.requireVirsh();
    const { uuid } = move.instance;
    await h.locked(uuid, async () => {
      for (const role of ['source', 'aside'] as const) {
        if (!(await this.records.get(move.migrationId, role))) continue;
        await rm(this.#keptDir(uuid), { recursive: true, force: true });
        await this.records.delete(move.migrationId, role);
      }
    });
  }

  async revertMigration(move: MoveRef): Promise<void> {
    const h = this.h;
    h.requireVirsh();
    const { uuid } = move.instance;
    await h.locked(uuid, async () => {
      const aside = await this.records.get(move.migrationId, 'aside');
      if (aside) {
        if (aside.state === 'restored') return; // done already
        await this.#restoreAside(uuid);
        await this.records.put({ ...aside, state: 'restored' });
        return;
      }
      // Another host's move: the copy here is the moved one (its record names the move).
      if ((await readInstanceRecord(h.instanceDir(uuid)))?.migrationId === move.migrationId) await teardown(h, uuid, false);
    });
  }

  /** The copy set aside back in place: the old root disk and definition, not running. */
  async #restoreAside(uuid: string): Promise<void> {
    const h = this.h;
    const dir = h.instanceDir(uuid);
    const kept = this.#keptDir(uuid);
    await h.destroyDomain(uuid).catch((err: unknown) => {
      if (!isDriverError(err, 'InstanceNotFound')) throw err;
    });
    for (const f of ['disk', 'libvirt.xml', 'orrery.json']) await copyFile(join(kept, f), join(dir, f));
    await h.virsh!.run(['define', join(dir, 'libvirt.xml')]);
  }

  async finishRevertMigration(move: MoveRef, powerOn: boolean): Promise<InstanceInfo> {
    const h = this.h;
    h.requireVirsh();
    const { uuid } = move.instance;
    return h.locked(uuid, async () => {
      const source = await this.records.get(move.migrationId, 'source');
      const aside = await this.records.get(move.migrationId, 'aside');
      const kept = this.#keptDir(uuid);
      if (source) {
        if (existsSync(kept)) {
          // With a shared instances_path the directory may be the destination's: revert removes it there first.
          const there = await readInstanceRecord(h.instanceDir(uuid));
          if (there && there.host !== h.ctx!.host) {
            throw new Error(`instance ${uuid} still has its files of host ${there.host} here: revert it there first`);
          }
          await rm(h.instanceDir(uuid), { recursive: true, force: true });
          await rename(kept, h.instanceDir(uuid));
        }
        if (!(await h.exists(uuid))) await h.virsh!.run(['define', join(h.instanceDir(uuid), 'libvirt.xml')]);
      } else if (aside) {
        if (aside.state !== 'restored') await this.#restoreAside(uuid);
        await rm(kept, { recursive: true, force: true });
      } else {
        // Done already, or nothing was ever kept.
        if (!(await h.exists(uuid))) throw new InstanceNotFound(`nothing of ${uuid} was kept for migration ${move.migrationId}`);
        return this.#info(uuid, (await h.status(move.instance)).powerState);
      }
      const st = await h.status({ uuid, node: h.nodeName });
      if (powerOn && st.powerState !== PowerState.RUNNING) await h.start(uuid);
      await this.records.delete(move.migrationId, source ? 'source' : 'aside');
      return this.#info(uuid, powerOn ? PowerState.RUNNING : st.powerState);
    });
  }
}

/**
 * The new root disk's size: the flavor's; NotSupported when that would shrink it. root_gb 0
 * (the image's size) keeps the disk as it is, but not from a flavor that had a root disk size
 * (`oldRootGb`, when known): as Nova, "resize to zero disk flavor is not allowed".
 */
function rootSize(spec: InstanceSpec, current: number, oldRootGb: number | null): number {
  if (spec.flavor.rootGb === 0) {
    if (oldRootGb !== null && oldRootGb > 0) throw new NotSupported(`the root disk of ${spec.uuid} cannot shrink to a flavor without a root disk size`);
    return current;
  }
  const wanted = spec.flavor.rootGb * GiB;
  if (wanted < current) {
    throw new NotSupported(`the root disk of ${spec.uuid} (${current} bytes) cannot shrink to ${spec.flavor.rootGb} GiB`);
  }
  return wanted;
}

/** Downloads an image into a file; the image service's own errors (typed) pass. */
async function download(h: LibvirtHost, image: ImageRef, path: string): Promise<void> {
  try {
    await pipeline(Readable.from(await h.ctx!.images.download(image.id)), createWriteStream(path));
  } catch (err) {
    if (isDriverError(err)) throw err;
    throw new ImageError(`download of transfer image ${image.id} failed: ${messageOf(err)}`, { cause: err });
  }
}
