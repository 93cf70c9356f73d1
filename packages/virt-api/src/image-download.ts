/**
 * The one way a driver brings an image's data from the image service onto its host: streamed to
 * a file (never held in memory), its MD5 taken on the way for the caller to check against the
 * image's checksum, the failure named as the contract names it. The libvirt image cache and the
 * Docker image store both download through it.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import type { ImageService } from './contract.js';
import { ImageError, isDriverError } from './errors.js';

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A download failure as the contract names it: the image service's own typed errors
 * (ImageNotFound, ImageServiceUnavailable, …) pass as they are; anything else is ImageError.
 */
export function imageDownloadFailure(id: string, err: unknown): Error {
  if (isDriverError(err)) return err;
  return new ImageError(`cannot download image ${id}: ${messageOf(err)}`, { cause: err });
}

/**
 * Streams image `id` into `path` (created with `mode`), honouring the file's backpressure. Answers
 * the data's MD5 (hex, Glance's `checksum`) and size in bytes; the caller checks them and removes
 * the file on any failure. `what` names the file in an error ("the cache file").
 */
export async function downloadImage(images: ImageService, id: string, path: string, opts: { mode: number; what: string }): Promise<{ md5: string; size: number }> {
  const hash = createHash('md5');
  let size = 0;
  const out = createWriteStream(path, { mode: opts.mode });
  const closed = finished(out).catch((err: unknown) => err);
  try {
    let stream: AsyncIterable<Uint8Array>;
    try {
      stream = await images.download(id);
    } catch (err) {
      throw imageDownloadFailure(id, err);
    }
    try {
      for await (const chunk of stream) {
        hash.update(chunk);
        size += chunk.byteLength;
        if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      }
    } catch (err) {
      throw imageDownloadFailure(id, err);
    }
  } finally {
    out.end();
    const err = await closed;
    if (err) throw new ImageError(`image ${id}: cannot write ${opts.what}: ${messageOf(err)}`, { cause: err });
  }
  return { md5: hash.digest('hex'), size };
}
