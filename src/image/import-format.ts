import { open } from 'node:fs/promises';

/**
 * What Glance's import checks of the staged data before it becomes the image (its format
 * inspector, `[image_format] require_image_format_match`): the data must be what `disk_format`
 * says, and a qcow2 image may name no backing file or external data file — either would make a
 * hypervisor read a file of the compute host's choosing (CVE-2024-32498). Only the header is read.
 */

const QCOW2_MAGIC = 0x514649fb;
const HEADER_BYTES = 104;
/** qcow2 v3 incompatible feature bit 2: the guest data lives in an external file. */
const QCOW2_EXTERNAL_DATA = 1n << 2n;

/** Why the staged data may not become an image of `diskFormat`, or null when it may. */
export async function formatProblem(path: string, diskFormat: string | null): Promise<string | null> {
  const file = await open(path, 'r');
  let head: Buffer;
  try {
    const buf = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await file.read(buf, 0, HEADER_BYTES, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
  const isQcow2 = head.length >= 4 && head.readUInt32BE(0) === QCOW2_MAGIC;
  if (diskFormat === 'qcow2') {
    if (!isQcow2 || head.length < 72) return 'Image format detection failed: the data is not a qcow2 image.';
    const version = head.readUInt32BE(4);
    if (version !== 2 && version !== 3) return `Image format detection failed: qcow2 version ${version} is not supported.`;
    if (head.readBigUInt64BE(8) !== 0n) return 'Image has a backing file: QCOW2 images with a backing file are not allowed.';
    if (version === 3 && head.length >= 80 && (head.readBigUInt64BE(72) & QCOW2_EXTERNAL_DATA) !== 0n) {
      return 'Image has an external data file: QCOW2 images with a data file are not allowed.';
    }
    return null;
  }
  // A qcow2 image declared as anything else would be booted as that format: refused, as Glance does.
  if (isQcow2) return `Image format detection failed: the data is a qcow2 image, not ${diskFormat ?? 'an image without a disk_format'}.`;
  return null;
}
