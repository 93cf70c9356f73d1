/**
 * Images from the image service, loaded into the daemon on first use. An image's data is a
 * `docker save` tarball; the daemon's own image store is the per-host cache, each loaded image
 * tagged `orrery-image:<host>-<md5 of the tarball>` (the image service's checksum, checked at the
 * download), so a cached image is found by its checksum alone and two image records with the
 * same data share one load.
 *
 * - The download goes to a scratch file first and is checked (checksum, size, not empty)
 *   before the daemon sees it; concurrent loads of one image share one download and load.
 * - The unused image is removed again by its last container's destroy ([docker]
 *   remove_unused_images), never while a load of it is under way.
 * - A tarball must hold exactly one image; whatever a failed load put on the daemon is removed.
 * - The tarball's own names (`busybox:latest`, …) are untagged after the load: a server's image
 *   is known by its checksum tag alone, and the daemon's names stay the operator's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { abortError, downloadImage, ImageError, isDriverError, type ImageRef, type ImageService, type Logger } from '@orrery/virt-api';
import { LABEL } from './container-spec.js';
import { engineError, messageOf, progressOf, readAll, statusOf, type Engine } from './engine.js';

export const IMAGE_REPO = 'orrery-image';
const PART = '.part-';

/** A host's part of its cache tags: its name when it fits a tag, else a hash of it. */
function hostKey(host: string): string {
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,39}$/.test(host) ? host : `h${createHash('sha256').update(host).digest('hex').slice(0, 12)}`;
}

/**
 * The tag an image is cached under on `host`: `orrery-image:<host>-<md5 checksum>`, or (no
 * checksum known) `<host>-id-<image id>`. Per host, so two computes sharing a daemon never
 * remove each other's images.
 */
export function cacheTag(image: Pick<ImageRef, 'id' | 'checksum'>, host: string): string {
  const sum = image.checksum?.toLowerCase() ?? '';
  if (/^[0-9a-f]{32}$/.test(sum)) return `${IMAGE_REPO}:${hostKey(host)}-${sum}`;
  const id = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(image.id) ? image.id : createHash('sha256').update(image.id).digest('hex').slice(0, 32);
  return `${IMAGE_REPO}:${hostKey(host)}-id-${id}`;
}

/** The prefix of every cache tag of `host` (tests look for leftovers with it). */
export function cacheTagPrefix(host: string): string {
  return `${IMAGE_REPO}:${hostKey(host)}-`;
}

export class ImageStore {
  readonly #inflight = new Map<string, Promise<string>>();
  /** Tags a call is about to use (pin → container made → unpin): never removed meanwhile. */
  readonly #pins = new Map<string, number>();

  constructor(
    private readonly engine: Engine,
    private readonly images: ImageService,
    private readonly scratch: string,
    private readonly log: Logger,
    private readonly host: string,
    /** [docker] remove_unused_images. */
    private readonly removeUnused: boolean,
  ) {}

  pin(tag: string): void {
    this.#pins.set(tag, (this.#pins.get(tag) ?? 0) + 1);
  }

  unpin(tag: string): void {
    const n = (this.#pins.get(tag) ?? 1) - 1;
    if (n <= 0) this.#pins.delete(tag);
    else this.#pins.set(tag, n);
  }

  tagOf(image: Pick<ImageRef, 'id' | 'checksum'>): string {
    return cacheTag(image, this.host);
  }

  /** Creates the scratch directory and removes downloads a crash left half-done. */
  async init(): Promise<void> {
    await mkdir(this.scratch, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.scratch)) if (name.includes(PART)) await rm(join(this.scratch, name), { force: true });
  }

  /**
   * The daemon's id of `image`, loading it first when the daemon does not have it. Concurrent
   * callers share one load, which runs to its end whoever stops waiting: `signal` abandons this
   * caller's wait only (the load then serves the next boot).
   */
  async ensure(image: ImageRef, signal?: AbortSignal): Promise<string> {
    const tag = this.tagOf(image);
    let pending = this.#inflight.get(tag);
    if (!pending) {
      pending = this.#ensureOnce(image, tag).finally(() => {
        this.#inflight.delete(tag);
        // Every caller that wanted it gave up (aborted) while it loaded: nobody will use it.
        if (!this.#pins.has(tag)) void this.releaseIfUnused(tag);
      });
      this.#inflight.set(tag, pending);
    }
    if (!signal) return pending;
    if (signal.aborted) throw abortError(signal);
    pending.catch(() => undefined); // the waiter may leave before it settles
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([pending, aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort!);
    }
  }

  /** The daemon's id of an image tag, or null when it has none. */
  async idOf(ref: string): Promise<string | null> {
    try {
      return (await this.engine.getImage(ref).inspect()).Id;
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw engineError(err, `inspect image ${ref}`);
    }
  }

  /**
   * Removes the cached image `tag` when remove_unused_images is on, unless a container of this
   * host still uses it, a call has pinned it or a load of it is under way. The check is ours:
   * another host's tag on the same image (one daemon, two computes) would make the daemon's own
   * refusal (409 for an image a container uses) pass, removing only our name. Never throws: a
   * removal that fails leaves a cached image, no broken server.
   */
  async releaseIfUnused(tag: string | undefined): Promise<void> {
    if (!tag || !this.removeUnused || this.#inflight.has(tag) || this.#pins.has(tag)) return;
    try {
      const id = await this.idOf(tag);
      if (!id) return;
      const ours = await this.engine.listContainers({ all: true, filters: { label: [`${LABEL.host}=${this.host}`] } });
      if (ours.some((c) => c.ImageID === id)) return;
      await this.engine.getImage(tag).remove();
      this.log.info('docker: removed an image no container uses', { image: tag });
    } catch (err) {
      if (statusOf(err) !== 404 && statusOf(err) !== 409) this.log.warn('docker: cannot remove an unused image', { image: tag, err: messageOf(err) });
    }
  }

  async #ensureOnce(image: ImageRef, tag: string): Promise<string> {
    const have = await this.idOf(tag);
    if (have) return have;
    const part = join(this.scratch, `${image.id.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64)}${PART}${randomBytes(6).toString('hex')}`);
    try {
      const { md5, size } = await downloadImage(this.images, image.id, part, { mode: 0o600, what: 'the scratch file' });
      if (image.checksum && md5 !== image.checksum.toLowerCase()) {
        throw new ImageError(`image ${image.id}: checksum mismatch (downloaded ${md5}, the image service says ${image.checksum})`);
      }
      if (image.size > 0 && size !== image.size) {
        throw new ImageError(`image ${image.id}: size mismatch (downloaded ${size} bytes, the image service says ${image.size})`);
      }
      if (size === 0) throw new ImageError(`image ${image.id} has no data`);
      const id = await this.#load(image.id, part, tag);
      this.log.info('docker: image loaded', { image: image.id, tag, bytes: size });
      return id;
    } finally {
      await rm(part, { force: true });
    }
  }


  /** `docker load` of the checked tarball; exactly one image, tagged `tag`, its own names removed. */
  async #load(imageId: string, file: string, tag: string): Promise<string> {
    let body: Buffer;
    try {
      body = await readAll(await this.engine.loadImage(createReadStream(file), { quiet: true }));
    } catch (err) {
      const e = engineError(err, `load image ${imageId}`);
      throw isDriverError(e) ? e : new ImageError(`image ${imageId} is not a docker save tarball: ${messageOf(err)}`, { cause: err });
    }
    const { lines, error } = progressOf(body);
    const names = lines.flatMap((l) => {
      const m = /^Loaded image(?: ID)?: (\S+)$/.exec(l);
      return m ? [m[1]!] : [];
    });
    const ids = new Set<string>();
    for (const n of names) {
      const id = await this.idOf(n);
      if (id) ids.add(id);
    }
    const foreign = names.filter((n) => !n.startsWith('sha256:'));
    if (error !== null || ids.size !== 1) {
      for (const n of foreign) await this.#untag(n);
      for (const id of ids) await this.#removeId(id);
      throw new ImageError(error !== null
        ? `image ${imageId}: the daemon could not load it: ${error}`
        : `image ${imageId}: a docker image's data must be a docker save tarball of exactly one image (it held ${ids.size})`);
    }
    const id = [...ids][0]!;
    const [repo, t] = [tag.slice(0, tag.indexOf(':')), tag.slice(tag.indexOf(':') + 1)];
    try {
      await this.engine.getImage(id).tag({ repo, tag: t });
    } catch (err) {
      for (const n of foreign) await this.#untag(n);
      throw engineError(err, `tag image ${imageId}`);
    }
    for (const n of foreign) if (n !== tag) await this.#untag(n);
    return id;
  }

  /** Removes a name only (the image stays while another name or a container holds it). */
  async #untag(name: string): Promise<void> {
    try {
      await this.engine.getImage(name).remove({ noprune: true });
    } catch (err) {
      if (statusOf(err) !== 404 && statusOf(err) !== 409) this.log.warn('docker: cannot untag a loaded image', { name, err: messageOf(err) });
    }
  }

  async #removeId(id: string): Promise<void> {
    try {
      await this.engine.getImage(id).remove();
    } catch (err) {
      if (statusOf(err) !== 404 && statusOf(err) !== 409) this.log.warn('docker: cannot remove a half-loaded image', { id, err: messageOf(err) });
    }
  }
}
