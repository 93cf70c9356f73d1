import { Readable } from 'node:stream';
import type { Config } from '../common/config.js';
import { newUuid } from '../common/ids.js';
import { now } from '../common/time.js';
import type { Db } from '../db/connection.js';
import { DEFAULT_DOMAIN_ID, findProjectByName } from '../db/identity.js';
import { countImages, deleteImageRow, insertImage } from '../db/images.js';
import { uploadImageData } from './data.js';
import { ImageStore } from './store.js';

export const SEED_IMAGE_NAME = 'orrery-tiny';
const SEED_SIZE = 8192;

/** A tiny raw disk: an MBR boot signature and a recognizable text, zeros elsewhere. */
function tinyDisk(): Buffer {
  const disk = Buffer.alloc(SEED_SIZE);
  disk.write('orrery-tiny: a placeholder disk image for the fake driver\n', 0x40, 'ascii');
  disk[510] = 0x55;
  disk[511] = 0xaa;
  return disk;
}

/**
 * Seeds one small public image when [image] seed_image is set and there are no images yet.
 * The data goes through the same path as an upload. Run after bootstrapIdentity (the admin
 * project owns it).
 */
export async function seedImage(db: Db, config: Config): Promise<void> {
  if (!config.bool('image', 'seed_image')) return;
  if ((await countImages(db)) > 0) return;
  const owner = await findProjectByName(db, config.str('identity', 'admin_project'), DEFAULT_DOMAIN_ID);
  if (!owner) throw new Error('seedImage: the admin project does not exist; run bootstrapIdentity first');
  const ts = now().toISOString();
  const id = newUuid();
  await insertImage(db, {
    id, name: SEED_IMAGE_NAME, owner: owner.id, status: 'queued', visibility: 'public', container_format: 'bare',
    disk_format: 'raw', size: null, virtual_size: null, checksum: null, os_hash_algo: null, os_hash_value: null,
    min_disk: 0, min_ram: 0, protected: 0, os_hidden: 0, properties: '{}', tags: '[]', created_at: ts, updated_at: ts,
  });
  try {
    await uploadImageData(db, new ImageStore(config.str('image', 'store_path')), id, Readable.from([tinyDisk()]));
  } catch (err) {
    await deleteImageRow(db, id);
    throw err;
  }
}
