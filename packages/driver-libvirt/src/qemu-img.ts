/** Disk files through qemu-img (and mkswap for swap disks). */
import { run } from './exec.js';

export interface DiskInfo {
  format: string;
  virtualSize: number;
  backingFile: string | null;
  /** A qcow2 external data file, which an image from users must not have. */
  dataFile: string | null;
}

export async function diskInfo(path: string, format?: string): Promise<DiskInfo> {
  const args = ['info', '--output=json', ...(format ? ['-f', format] : []), path];
  const j = JSON.parse(await run('qemu-img', args)) as {
    format: string; 'virtual-size': number; 'backing-filename'?: string;
    'format-specific'?: { data?: { 'data-file'?: string } };
  };
  return {
    format: j.format,
    virtualSize: j['virtual-size'],
    backingFile: j['backing-filename'] ?? null,
    dataFile: j['format-specific']?.data?.['data-file'] ?? null,
  };
}

/** A qcow2 overlay of `base` (read-only, shared by every instance of the image) of `sizeBytes`. */
export async function createOverlay(path: string, base: string, baseFormat: string, sizeBytes: number): Promise<void> {
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', baseFormat, '-b', base, path, String(sizeBytes)]);
}

export async function createBlank(path: string, format: 'qcow2' | 'raw', sizeBytes: number): Promise<void> {
  await run('qemu-img', ['create', '-q', '-f', format, path, String(sizeBytes)]);
}

/** Writes a swap signature, so a guest can `swapon` the disk as is (skipped without mkswap). */
export async function makeSwap(path: string): Promise<void> {
  for (const mkswap of ['/sbin/mkswap', '/usr/sbin/mkswap']) {
    try {
      await run(mkswap, ['-q', path]);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'BackendUnavailable') throw err;
    }
  }
}

/**
 * Flattens `src` (an overlay and its backing chain) into a standalone image. `shared` reads a
 * disk a running QEMU holds open (-U); the caller has paused the guest, which flushes its disks.
 */
export async function convert(src: string, srcFormat: string, dst: string, dstFormat: string, shared: boolean, signal?: AbortSignal): Promise<void> {
  await run('qemu-img', ['convert', ...(shared ? ['-U'] : []), '-f', srcFormat, '-O', dstFormat, src, dst], { timeoutMs: 30 * 60_000, signal });
}

/** qemu-img's name for an image API disk format, or null when the driver cannot write it. */
export function qemuFormatFor(diskFormat: string): string | null {
  switch (diskFormat.toLowerCase()) {
    case 'raw':
    case 'ami':
      return 'raw';
    case 'qcow2':
      return 'qcow2';
    case 'vmdk':
      return 'vmdk';
    case 'vdi':
      return 'vdi';
    case 'vhd':
      return 'vpc';
    case 'vhdx':
      return 'vhdx';
    default:
      return null;
  }
}

/** Grows a disk to `sizeBytes` (callers never shrink one: a guest's file system would be cut). */
export async function grow(path: string, format: 'qcow2' | 'raw', sizeBytes: number): Promise<void> {
  await run('qemu-img', ['resize', '-q', '-f', format, path, String(sizeBytes)]);
}
