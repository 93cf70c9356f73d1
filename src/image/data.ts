import type { Readable } from 'node:stream';
import { Conflict, NotFound, OrreryError } from '../common/errors.js';
import { now } from '../common/time.js';
import type { Db } from '../db/connection.js';
import { getImageRow, updateImage, type ImageRow } from '../db/images.js';
import type { ImageStore, StoredData } from './store.js';

const QCOW2_MAGIC = 0x514649fb;

/** The disk size a guest sees: read from a qcow2 header, the data size for raw, else unknown. */
export function virtualSizeOf(diskFormat: string | null, data: StoredData): number | null {
  if (diskFormat === 'raw') return data.size;
  if (diskFormat === 'qcow2' && data.head.length >= 32 && data.head.readUInt32BE(0) === QCOW2_MAGIC) {
    const v = data.head.readBigUInt64BE(24);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
  }
  return null;
}

/**
 * Stores an image's data: queued → saving → active with size, md5 checksum and sha512 hash.
 * On any failure no file is left and the image goes back to queued; an image deleted while
 * its data was uploading answers 410 Gone, as Glance does.
 */
export async function uploadImageData(
  db: Db, store: ImageStore, imageId: string, source: Readable | AsyncIterable<Uint8Array>, maxBytes?: number,
): Promise<ImageRow> {
  if (!(await updateImage(db, imageId, { status: 'saving', updated_at: now().toISOString() }, 'queued'))) {
    const current = await getImageRow(db, imageId);
    if (!current) throw new NotFound(`No image found with ID ${imageId}`);
    throw new Conflict(`Image status transition from ${current.status} to saving is not allowed`);
  }
  try {
    await store.write(imageId, source, async (data) => {
      const row = await getImageRow(db, imageId);
      const done = row !== null && await updateImage(db, imageId, {
        status: 'active', size: data.size, virtual_size: virtualSizeOf(row.disk_format, data), checksum: data.md5,
        os_hash_algo: 'sha512', os_hash_value: data.sha512, updated_at: now().toISOString(),
      }, 'saving');
      if (!done) {
        throw new OrreryError(410, 'gone', `Image ${imageId} could not be found after upload. The image may have been deleted during the upload.`);
      }
    }, maxBytes);
  } catch (err) {
    await updateImage(db, imageId, { status: 'queued', updated_at: now().toISOString() }, 'saving');
    throw err;
  }
  const row = await getImageRow(db, imageId);
  if (!row) throw new OrreryError(410, 'gone', `Image ${imageId} was deleted during the upload.`);
  return row;
}
