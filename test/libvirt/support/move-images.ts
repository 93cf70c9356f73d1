// The test guest (test-image.ts) in an in-memory image service, and a small guest of it, for the
// move tests and the bench (the driver package's own test support is not part of this build).
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ImageRef, InstanceSpec } from '@orrery/virt-api';
import { MemoryImageService } from '@orrery/virt-api/conformance';
import { buildTestImage } from './test-image.js';

export const IDS = { kernel: 'mv-kernel', ramdisk: 'mv-ramdisk', disk: 'mv-disk' };

/** An image service holding the test guest with a qcow2 root disk, and that root image's record. */
export function moveImages(cmdline = 'console=ttyS0 quiet'): { images: MemoryImageService; root: ImageRef } {
  const files = buildTestImage();
  const out = `/tmp/orrery-mv-${randomBytes(4).toString('hex')}.qcow2`;
  let disk: Buffer;
  try {
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', files.disk, out]);
    disk = readFileSync(out);
  } finally {
    execFileSync('rm', ['-f', out]);
  }
  const images = new MemoryImageService();
  images.images.set(IDS.kernel, readFileSync(files.kernel));
  images.images.set(IDS.ramdisk, readFileSync(files.ramdisk));
  images.images.set(IDS.disk, disk);
  const root: ImageRef = {
    id: IDS.disk, name: 'mv-disk', diskFormat: 'qcow2', containerFormat: 'bare', size: disk.byteLength,
    checksum: createHash('md5').update(disk).digest('hex'), minDiskGb: 0, minRamMb: 0,
    properties: { kernel_id: IDS.kernel, ramdisk_id: IDS.ramdisk, os_command_line: cmdline },
  };
  return { images, root };
}

/** A guest of `root` on `node`: 1 vCPU, 128 MiB, 1 GiB root disk, no ephemeral or swap disk. */
export function smallGuest(node: string, root: ImageRef): InstanceSpec {
  const uuid = randomUUID();
  return {
    uuid, name: `mv-${uuid.slice(0, 8)}`, node, projectId: 'p', userId: 'u',
    flavor: { id: 'mv.tiny', name: 'mv.tiny', vcpus: 1, memoryMb: 128, rootGb: 1, ephemeralGb: 0, swapMb: 0, extraSpecs: {} },
    image: root, network: { ports: [] }, metadata: {}, userData: null, keyData: null,
  };
}

/** Polls `fn` until it answers a truthy value (which it returns) or `ms` pass. */
export async function waitFor<T>(what: string, ms: number, fn: () => Promise<T> | T): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
