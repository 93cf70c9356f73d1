import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OrreryError } from '../common/errors.js';

/** What a finished write learned about the data. */
export interface StoredData {
  size: number;
  /** Glance's `checksum`: md5, hex. */
  md5: string;
  /** Glance's `os_hash_value` with os_hash_algo sha512, hex. */
  sha512: string;
  /** The first bytes, for format inspection. */
  head: Buffer;
}

const HEAD_BYTES = 512;

/**
 * The file store of image data: one file per image under the store directory. Data is
 * streamed to a temporary file while hashed, and renamed into place only when complete, so a
 * failed upload leaves no partial image behind.
 */
export class ImageStore {
  constructor(readonly root: string) {}

  path(imageId: string): string {
    return join(this.root, imageId);
  }

  /**
   * Writes the image's data and returns what it learned. `commit` runs after the data is in
   * place; if it throws, the file is removed again and the error propagates.
   */
  async write(
    imageId: string, source: Readable | AsyncIterable<Uint8Array>, commit: (data: StoredData) => Promise<void>, maxBytes = Number.MAX_SAFE_INTEGER,
  ): Promise<StoredData> {
    await mkdir(this.root, { recursive: true });
    const tmp = join(this.root, `.${imageId}.${randomBytes(6).toString('hex')}.partial`);
    const md5 = createHash('md5');
    const sha512 = createHash('sha512');
    let size = 0;
    const head: Buffer[] = [];
    let headLen = 0;
    const hasher = new Transform({
      transform(chunk: Buffer, _enc, done) {
        md5.update(chunk);
        sha512.update(chunk);
        size += chunk.length;
        // Counted as it streams: a client cannot fill the disk by never saying how much it sends.
        if (size > maxBytes) {
          done(new OrreryError(413, 'overLimit', `Denying attempt to upload image larger than ${maxBytes} bytes.`));
          return;
        }
        if (headLen < HEAD_BYTES) {
          head.push(chunk.subarray(0, HEAD_BYTES - headLen));
          headLen += Math.min(chunk.length, HEAD_BYTES - headLen);
        }
        done(null, chunk);
      },
    });
    try {
      await pipeline(source, hasher, createWriteStream(tmp, { flags: 'wx' }));
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    const data: StoredData = { size, md5: md5.digest('hex'), sha512: sha512.digest('hex'), head: Buffer.concat(head) };
    const final = this.path(imageId);
    try {
      await rename(tmp, final);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    try {
      await commit(data);
    } catch (err) {
      await this.remove(imageId);
      throw err;
    }
    return data;
  }

  async exists(imageId: string): Promise<boolean> {
    return stat(this.path(imageId)).then(() => true, () => false);
  }

  open(imageId: string): ReadStream {
    return createReadStream(this.path(imageId));
  }

  async remove(imageId: string): Promise<void> {
    await unlink(this.path(imageId)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}
