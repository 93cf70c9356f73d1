import { HttpClient, HttpError, type HttpResponse } from './http.js';

/**
 * The public APIs the benchmark speaks, and nothing else: Identity v3 (a password-scoped
 * token and its catalog), Compute v2.1 (servers, flavors, quota sets) and Image v2 (to find
 * the image by name). Any OpenStack-compatible cloud answers them.
 */

export interface Credentials {
  authUrl: string;
  username: string;
  password: string;
  projectName: string;
  userDomain: string;
  projectDomain: string;
  region?: string;
  interface?: string;
}

/** Compute microversion the benchmark speaks: 2.37 is the first that allows networks "none". */
export const COMPUTE_MICROVERSION = '2.37';

export interface ServerView {
  id: string;
  name: string;
  status: string;
}

interface CatalogEntry {
  type: string;
  endpoints: Array<{ interface: string; region?: string; region_id?: string; url: string }>;
}

/** The v3 root of an auth URL given with or without its version. */
export function identityV3(authUrl: string): string {
  const base = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(base) ? base : `${base}/v3`;
}

export class OpenStackSession {
  private constructor(
    readonly http: HttpClient,
    readonly token: string,
    readonly projectId: string,
    readonly computeUrl: string,
    readonly imageUrl: string | null,
  ) {}

  /** Authenticates with a password, scoped to the project, and finds the endpoints in the catalog. */
  static async login(http: HttpClient, c: Credentials): Promise<OpenStackSession> {
    const res = await http.expect<{ token: { project: { id: string }; catalog?: CatalogEntry[] } }>([201], 'POST', `${identityV3(c.authUrl)}/auth/tokens`, {}, {
      auth: {
        identity: { methods: ['password'], password: { user: { name: c.username, domain: { name: c.userDomain }, password: c.password } } },
        scope: { project: { name: c.projectName, domain: { name: c.projectDomain } } },
      },
    });
    const token = String(res.headers['x-subject-token']);
    const catalog = res.body.token.catalog ?? [];
    const endpoint = (type: string): string | null => {
      const service = catalog.find((s) => s.type === type);
      const ep = service?.endpoints.find((e) => e.interface === (c.interface ?? 'public') && (!c.region || e.region === c.region || e.region_id === c.region));
      return ep ? ep.url.replace(/\/+$/, '') : null;
    };
    const compute = endpoint('compute');
    if (!compute) throw new Error('the catalog has no compute endpoint');
    return new OpenStackSession(http, token, res.body.token.project.id, compute, endpoint('image'));
  }

  private headers(): Record<string, string> {
    return {
      'x-auth-token': this.token,
      'openstack-api-version': `compute ${COMPUTE_MICROVERSION}`,
      'x-openstack-nova-api-version': COMPUTE_MICROVERSION,
    };
  }

  compute<T = any>(method: string, path: string, body?: unknown): Promise<HttpResponse<T>> {
    return this.http.request<T>(method, `${this.computeUrl}${path}`, this.headers(), body);
  }

  async computeOk<T = any>(ok: number[], method: string, path: string, body?: unknown): Promise<HttpResponse<T>> {
    const res = await this.compute<T>(method, path, body);
    if (!ok.includes(res.status)) throw new HttpError(method, `${this.computeUrl}${path}`, res.status, res.body);
    return res;
  }

  /** A flavor by id or name; when `wanted` is empty, the smallest by RAM. */
  async findFlavor(wanted: string): Promise<{ id: string; name: string; vcpus: number; ram: number; disk: number }> {
    const res = await this.computeOk<{ flavors: Array<{ id: string; name: string; vcpus: number; ram: number; disk: number }> }>([200], 'GET', '/flavors/detail');
    const all = res.body.flavors;
    const found = wanted ? all.find((f) => f.id === wanted || f.name === wanted) : [...all].sort((a, b) => a.ram - b.ram)[0];
    if (!found) throw new Error(`no flavor ${wanted || '(any)'} on this cloud`);
    return found;
  }

  /** An image id: given as an id, or found by name through the image API. */
  async findImage(wanted: string): Promise<string> {
    if (/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(wanted)) return wanted;
    if (!this.imageUrl) throw new Error('the catalog has no image endpoint; give --image as an id');
    const url = `${this.imageUrl}/v2/images?name=${encodeURIComponent(wanted)}`;
    const res = await this.http.expect<{ images: Array<{ id: string; status: string }> }>([200], 'GET', url, { 'x-auth-token': this.token });
    const image = res.body.images.find((i) => i.status === 'active');
    if (!image) throw new Error(`no active image named ${wanted}`);
    return image.id;
  }

  /** Every page of a server listing, following servers_links. Returns the servers and each page's latency. */
  async listAll(path: string): Promise<{ servers: ServerView[]; pageMs: number[] }> {
    const servers: ServerView[] = [];
    const pageMs: number[] = [];
    let url: string | null = `${this.computeUrl}${path}`;
    while (url) {
      const res: HttpResponse<{ servers: ServerView[]; servers_links?: Array<{ rel: string; href: string }> }> =
        await this.http.request('GET', url, this.headers());
      if (res.status !== 200) throw new HttpError('GET', url, res.status, res.body);
      pageMs.push(res.ms);
      servers.push(...res.body.servers);
      url = res.body.servers_links?.find((l) => l.rel === 'next')?.href ?? null;
      if (res.body.servers.length === 0) url = null;
    }
    return { servers, pageMs };
  }

  /** The project's compute quota limits and usage (os-quota-sets detail). */
  async quotaDetail(): Promise<Record<string, { limit: number; in_use: number }>> {
    const res = await this.computeOk<{ quota_set: Record<string, { limit: number; in_use: number }> }>([200], 'GET', `/os-quota-sets/${this.projectId}/detail`);
    return res.body.quota_set;
  }

  async setQuota(limits: Record<string, number>): Promise<void> {
    await this.computeOk([200], 'PUT', `/os-quota-sets/${this.projectId}`, { quota_set: limits });
  }
}
