/** The serial console log and snapshots: reading what the guest wrote, to the console and to its disk. */
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ImageError, isDriverError, PowerState, type CallOptions, type InstanceRef, type SnapshotRequest } from '@orrery/virt-api';
import { checkpoint, messageOf, type LibvirtHost } from './host.js';
import { convert, qemuFormatFor } from './qemu-img.js';

/** getConsoleOutput returns at most the last this-many bytes of the log (Nova's limit). */
const MAX_CONSOLE_BYTES = 100 * 1024;

export async function consoleOutput(h: LibvirtHost, ref: InstanceRef): Promise<string> {
  await h.status(ref);
  const path = join(h.instanceDir(ref.uuid), 'console.log');
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    const start = Math.max(0, size - MAX_CONSOLE_BYTES);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    let text = buf.toString('utf8');
    if (start > 0) text = text.slice(text.indexOf('\n') + 1); // drop the cut line
    return text.replace(/\r\n/g, '\n');
  } finally {
    await fh.close();
  }
}

/**
 * Flattens the root disk of `uuid` (overlay and base) into `dst` in qemu-img format `format`.
 * A running guest is paused for the copy: pausing makes QEMU flush its disks.
 */
export async function flattenDisk(h: LibvirtHost, uuid: string, powerState: PowerState, dst: string, format: string, signal?: AbortSignal): Promise<void> {
  const disk = join(h.instanceDir(uuid), 'disk');
  if (powerState === PowerState.RUNNING) {
    await h.virshOn(uuid, ['suspend', h.domainName(uuid)]);
    try {
      await convert(disk, 'qcow2', dst, format, true, signal);
    } finally {
      await h.virshOn(uuid, ['resume', h.domainName(uuid)]);
    }
  } else {
    await convert(disk, 'qcow2', dst, format, powerState === PowerState.PAUSED, signal);
  }
}

/** Uploads a file into an image; the image service's own errors (typed) pass, others are ImageError. */
export async function uploadFile(h: LibvirtHost, imageId: string, path: string, what: string): Promise<void> {
  try {
    await h.ctx!.images.upload(imageId, createReadStream(path));
  } catch (err) {
    // The image service's errors are typed (ImageNotFound, ImageServiceUnavailable).
    if (isDriverError(err)) throw err;
    throw new ImageError(`${what} upload to image ${imageId} failed: ${messageOf(err)}`, { cause: err });
  }
}

/** Captures the root disk (the overlay and its base, flattened) in the image's disk format and uploads it. */
export async function snapshot(h: LibvirtHost, req: SnapshotRequest, opts?: CallOptions): Promise<void> {
  const signal = opts?.signal;
  const { uuid } = req.instance;
  const cfg = h.requireCfg();
  const format = qemuFormatFor(req.diskFormat);
  const tmp = join(cfg.snapshotsPath, `${uuid}-${randomBytes(6).toString('hex')}.tmp`);
  try {
    await h.locked(uuid, async () => {
      const st = await h.status(req.instance);
      if (format === null) throw new ImageError(`cannot write a snapshot in disk format ${req.diskFormat}`);
      checkpoint(signal);
      await flattenDisk(h, uuid, st.powerState, tmp, format, signal);
    });
    checkpoint(signal);
    await uploadFile(h, req.imageId, tmp, 'snapshot');
  } finally {
    await rm(tmp, { force: true });
  }
}
