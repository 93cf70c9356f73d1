/**
 * The per-host image cache: each image is downloaded from the image service once, into
 * `<image_cache_path>/<image id>`, checked, and then shared read-only by every instance that
 * uses it (as the backing file of its overlay, or as its kernel / ramdisk).
 *
 * - A download goes to a `.part` file that is renamed into place only once its checksum and
 *   format are verified; a failed one leaves nothing.
 * - Concurrent fetches of the same image share one download.
 * - An entry's mtime is its last use; the cache manager removes entries no instance uses once
 *   they have been unused for the configured age.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { downloadImage, ImageError, type ImageService, type Logger } from '@orrery/virt-api';
import { diskInfo } from './qemu-img.js';

/** What an image is used as, which decides how it is checked. */
export type ImageUse = 'qcow2' | 'raw' | 'kernel' | 'ramdisk';

export interface FetchRequest {
  id: string;
  use: ImageUse;
  /** The image API's md5 checksum, when known: the download must match it. */
  checksum?: string | null;
  /** The image API's size in bytes, when known (> 0): the download must match it. */
  size?: number;
}

const PART = '.part-';

/** The cache file name of an image id (ids are UUIDs in practice; anything odd is hashed). */
export function cacheKey(id: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id) && !id.includes(PART)
    ? id
    : `h-${createHash('sha256').update(id).digest('hex')}`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class ImageCache {
  readonly #inflight = new Map<string, Promise<string>>();
  readonly #pins = new Map<string, number>();

  constructor(readonly dir: string, private readonly images: ImageService, private readonly log: Logger) {}

  /** Creates the directory and removes downloads a crash left half-done. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    for (const name of await readdir(this.dir)) {
      if (name.includes(PART)) await rm(join(this.dir, name), { force: true });
    }
  }

  pathOf(id: string): string {
    return join(this.dir, cacheKey(id));
  }

  /** Keeps the cache manager away from these images until unpin(). */
  pin(ids: string[]): void {
    for (const id of ids) this.#pins.set(cacheKey(id), (this.#pins.get(cacheKey(id)) ?? 0) + 1);
  }

  unpin(ids: string[]): void {
    for (const id of ids) {
      const k = cacheKey(id);
      const n = (this.#pins.get(k) ?? 1) - 1;
      if (n <= 0) this.#pins.delete(k);
      else this.#pins.set(k, n);
    }
  }

  /** The cached file of an image, downloading it first if needed; marks it used now. */
  async fetch(req: FetchRequest): Promise<string> {
    const path = this.pathOf(req.id);
    const key = cacheKey(req.id);
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#fetchOnce(req, path).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    await pending;
    const t = new Date();
    await utimes(path, t, t).catch(() => undefined);
    return path;
  }

  async #fetchOnce(req: FetchRequest, path: string): Promise<string> {
    if (await stat(path).then((s) => s.isFile(), () => false)) return path;
    const part = `${path}${PART}${randomBytes(6).toString('hex')}`;
    try {
      const { md5, size } = await downloadImage(this.images, req.id, part, { mode: 0o644, what: 'the cache file' });
      if (req.checksum && md5 !== req.checksum.toLowerCase()) {
        throw new ImageError(`image ${req.id}: checksum mismatch (downloaded ${md5}, the image service says ${req.checksum})`);
      }
      if (req.size !== undefined && req.size > 0 && size !== req.size) {
        throw new ImageError(`image ${req.id}: size mismatch (downloaded ${size} bytes, the image service says ${req.size})`);
      }
      if (size === 0) throw new ImageError(`image ${req.id} has no data`);
      await this.#check(req, part);
      await rename(part, path);
      this.log.info('image cached', { image: req.id, bytes: size });
      return path;
    } catch (err) {
      await rm(part, { force: true });
      throw err;
    }
  }


  /** Refuses data that cannot be what the image claims to be. */
  async #check(req: FetchRequest, file: string): Promise<void> {
    if (req.use === 'qcow2') {
      let info;
      try {
        info = await diskInfo(file, 'qcow2');
      } catch (err) {
        throw new ImageError(`image ${req.id} is not a valid qcow2 image: ${messageOf(err)}`, { cause: err });
      }
      // A backing or data file would make QEMU open a host file the image names.
      if (info.backingFile) throw new ImageError(`image ${req.id} has a backing file (${info.backingFile}): refused`);
      if (info.dataFile) throw new ImageError(`image ${req.id} has an external data file: refused`);
    } else if (req.use === 'kernel') {
      // A Linux x86 boot image carries "HdrS" at 0x202 (the boot protocol's header magic).
      const fh = await open(file, 'r');
      try {
        const buf = Buffer.alloc(4);
        await fh.read(buf, 0, 4, 0x202);
        if (buf.toString('latin1') !== 'HdrS') throw new ImageError(`image ${req.id} is not a Linux kernel (no bzImage header)`);
      } finally {
        await fh.close();
      }
    }
  }

  /**
   * The cache manager: removes entries that no instance uses (`inUse`: image ids), nobody
   * has pinned, and that have not been used for `maxAgeSec`. Returns the removed file names.
   */
  async expire(inUse: Iterable<string>, maxAgeSec: number): Promise<string[]> {
    const used = new Set([...inUse].map(cacheKey));
    const removed: string[] = [];
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return removed;
    }
    const cutoff = Date.now() - maxAgeSec * 1000;
    for (const name of names) {
      if (name.includes(PART) || used.has(name) || this.#pins.has(name) || this.#inflight.has(name)) continue;
      const st = await stat(join(this.dir, name)).catch(() => null);
      if (!st?.isFile() || st.mtimeMs > cutoff) continue;
      await rm(join(this.dir, name), { force: true });
      removed.push(name);
    }
    if (removed.length > 0) this.log.info('image cache: removed unused images', { images: removed });
    return removed;
  }
}
