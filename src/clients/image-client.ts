import { Unauthorized } from '../common/errors.js';
import { errorFromResponse, IdentityClient } from './identity-client.js';

/** An image as the Image v2 API returns it; extra properties appear at top level. */
export interface GlanceImage {
  id: string;
  name: string | null;
  status: string;
  visibility: string;
  protected: boolean;
  os_hidden: boolean;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  size: number | null;
  virtual_size: number | null;
  min_disk: number;
  min_ram: number;
  owner: string;
  container_format: string | null;
  disk_format: string | null;
  created_at: string;
  updated_at: string;
  tags: string[];
  [property: string]: unknown;
}

/** Where the image API is: a URL, or a function that finds it (e.g. in a catalog). */
export type EndpointSource = string | (() => string | Promise<string>);

/**
 * How long getImageCached reuses an answer: 5 s, so a storm of boots with one token and image
 * asks the image API about once per 5 s, and an image deleted, deactivated or unshared is
 * refused by boots at most 5 s later.
 */
export const IMAGE_CACHE_TTL_MS = 5_000;
/** At most this many (image, token) answers are kept; the oldest goes first. */
export const IMAGE_CACHE_MAX_ENTRIES = 512;

interface CachedImage {
  at: number;
  image: Promise<GlanceImage>;
}

/**
 * A client of the Image v2 API over HTTP. Calls act with the token given, or else with the
 * service token of the IdentityClient (re-authenticating once on a 401). HTTP errors become
 * OrreryErrors with the same status.
 *
 *   new ImageClient(identity)                    endpoint and token from the identity client
 *   new ImageClient('http://host:9292', identity) fixed endpoint, service token
 *   new ImageClient(async () => url)             fixed endpoint, callers pass tokens
 */
export class ImageClient {
  private readonly endpoint: () => Promise<string>;
  private readonly identity: IdentityClient | undefined;
  private readonly cacheTtlMs: number;
  private readonly cacheMaxEntries: number;
  private readonly cache = new Map<string, CachedImage>();

  constructor(
    source: EndpointSource | IdentityClient, identity?: IdentityClient, opts: { cacheTtlMs?: number; cacheMaxEntries?: number } = {},
  ) {
    this.cacheTtlMs = opts.cacheTtlMs ?? IMAGE_CACHE_TTL_MS;
    this.cacheMaxEntries = opts.cacheMaxEntries ?? IMAGE_CACHE_MAX_ENTRIES;
    if (source instanceof IdentityClient) {
      this.identity = source;
      this.endpoint = () => source.endpoint('image');
    } else {
      this.identity = identity;
      this.endpoint = async () => (typeof source === 'string' ? source : await source());
    }
  }

  /** An image by id; with a user's token, as that user sees it (404 when not visible). */
  async getImage(id: string, token?: string): Promise<GlanceImage> {
    const res = await this.request('GET', `/v2/images/${encodeURIComponent(id)}`, { token, what: `get image ${id}` });
    return (await res.json()) as GlanceImage;
  }

  /**
   * getImage with a user's token, reused for `cacheTtlMs` per (image, token) — concurrent calls
   * share one request. Only active images are kept: an image that may still become bootable
   * (queued, importing) and every error are asked again each time. The image is shared between
   * callers: read it, do not change it.
   */
  getImageCached(id: string, token: string): Promise<GlanceImage> {
    const key = `${id} ${token}`;
    const t = Date.now();
    const hit = this.cache.get(key);
    if (hit && t - hit.at < this.cacheTtlMs) return hit.image;
    this.cache.delete(key); // re-inserted last: the Map's order is then oldest first
    if (this.cache.size >= this.cacheMaxEntries) this.cache.delete(this.cache.keys().next().value!);
    const entry: CachedImage = { at: t, image: this.getImage(id, token) };
    this.cache.set(key, entry);
    const forget = (): void => {
      if (this.cache.get(key) === entry) this.cache.delete(key);
    };
    entry.image.then((img) => {
      if (img.status !== 'active') forget();
    }, forget);
    return entry.image;
  }

  async createImage(body: Record<string, unknown>, token?: string): Promise<GlanceImage> {
    const res = await this.request('POST', '/v2/images', {
      token, what: 'create image', body: JSON.stringify(body), contentType: 'application/json',
    });
    return (await res.json()) as GlanceImage;
  }

  /** Images matching Glance list filters (`{ instance_uuid: id, image_type: 'backup' }`), first page, newest first. */
  async listImages(filters: Record<string, string>, token?: string): Promise<GlanceImage[]> {
    const query = new URLSearchParams({ ...filters, sort: 'created_at:desc', limit: '1000' });
    const res = await this.request('GET', `/v2/images?${query.toString()}`, { token, what: 'list images' });
    return ((await res.json()) as { images: GlanceImage[] }).images;
  }

  /** Uploads an image's data, streamed when given an iterable. */
  async uploadImage(id: string, data: AsyncIterable<Uint8Array> | Uint8Array, token?: string): Promise<void> {
    const res = await this.request('PUT', `/v2/images/${encodeURIComponent(id)}/file`, {
      token, what: `upload image ${id}`, body: data, contentType: 'application/octet-stream',
    });
    await res.body?.cancel();
  }

  /** Streams an image's data; errors (404, 403…) are thrown before the first chunk. */
  async *downloadImage(id: string, token?: string): AsyncGenerator<Uint8Array> {
    const res = await this.request('GET', `/v2/images/${encodeURIComponent(id)}/file`, { token, what: `download image ${id}` });
    if (res.status === 204 || !res.body) return;
    for await (const chunk of res.body) yield chunk;
  }

  async deleteImage(id: string, token?: string): Promise<void> {
    const res = await this.request('DELETE', `/v2/images/${encodeURIComponent(id)}`, { token, what: `delete image ${id}` });
    await res.body?.cancel();
  }

  private async baseUrl(): Promise<string> {
    // Catalogs list the unversioned endpoint; accept a versioned one too.
    return (await this.endpoint()).replace(/\/+$/, '').replace(/\/v2$/, '');
  }

  private async request(method: string, path: string, o: {
    token?: string; what: string; body?: string | Uint8Array | AsyncIterable<Uint8Array>; contentType?: string;
  }): Promise<Response> {
    const url = `${await this.baseUrl()}${path}`;
    const send = async (token: string): Promise<Response> => {
      const headers: Record<string, string> = { 'x-auth-token': token, accept: 'application/json' };
      if (o.contentType) headers['content-type'] = o.contentType;
      const streamed = o.body !== undefined && typeof o.body !== 'string' && !(o.body instanceof Uint8Array);
      return fetch(url, {
        method,
        headers,
        body: o.body as RequestInit['body'],
        ...(streamed ? { duplex: 'half' } : {}),
      } as RequestInit);
    };
    if (o.token !== undefined) return this.check(await send(o.token), o.what);
    if (!this.identity) throw new Unauthorized(`${o.what}: no token given and no service credentials configured`);
    let res = await send(await this.identity.token());
    // A service token revoked early: authenticate again, unless the body was a one-shot stream.
    const replayable = o.body === undefined || typeof o.body === 'string' || o.body instanceof Uint8Array;
    if (res.status === 401 && replayable) {
      await res.body?.cancel();
      this.identity.invalidate();
      res = await send(await this.identity.token());
    }
    return this.check(res, o.what);
  }

  private async check(res: Response, what: string): Promise<Response> {
    if (res.ok) return res;
    throw await errorFromResponse(res, what);
  }
}
