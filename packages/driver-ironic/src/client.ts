/**
 * A thin client of the Bare Metal API v1: authentication (a Keystone token, or none), the
 * endpoint (catalog or endpoint_override), the negotiated microversion on every request
 * (X-OpenStack-Ironic-API-Version), and Ironic's error body read into a message.
 */
import { BackendUnavailable, Timeout } from '@orrery/virt-api';
import type { IronicConfig } from './config.js';
import { passwordToken, type KeystoneToken } from './keystone.js';

/**
 * The microversion the driver asks for when the service offers it: 1.46 has everything the
 * driver reads (resource_class 1.21, soft power 1.27, conductor_group 1.46). Below 1.21 nodes
 * have no resource_class, so the driver cannot choose its nodes: it refuses to start.
 */
export const WANTED_VERSION = '1.46';
export const MINIMUM_VERSION = '1.21';

/** An answer of the API that is not a success: its status and Ironic's faultstring. */
export class IronicHttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'IronicHttpError';
  }
}

function versionNumber(v: string): [number, number] {
  const m = /^(\d+)\.(\d+)$/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/** a < b: -1, a = b: 0, a > b: 1 ("1.9" < "1.21"). */
export function compareMicroversions(a: string, b: string): number {
  const [x, y] = [versionNumber(a), versionNumber(b)];
  return x[0] !== y[0] ? Math.sign(x[0] - y[0]) : Math.sign(x[1] - y[1]);
}

/** The version to use given the service's range, or null when the range does not reach MINIMUM_VERSION. */
export function negotiate(min: string, max: string): string | null {
  if (compareMicroversions(max, MINIMUM_VERSION) < 0) return null;
  const v = compareMicroversions(max, WANTED_VERSION) < 0 ? max : WANTED_VERSION;
  return compareMicroversions(v, min) < 0 ? null : v;
}

/**
 * Ironic's error text: the body is `{"error_message": "<JSON string with faultstring>"}` (the
 * inner document is itself JSON-encoded), or a plain string in older releases.
 */
export function faultOf(text: string): string {
  try {
    const body = JSON.parse(text) as { error_message?: unknown };
    const em = body.error_message;
    if (typeof em === 'string') {
      try {
        const inner = JSON.parse(em) as { faultstring?: unknown };
        if (typeof inner.faultstring === 'string') return inner.faultstring;
      } catch {
        return em;
      }
    } else if (em && typeof em === 'object' && typeof (em as { faultstring?: unknown }).faultstring === 'string') {
      return (em as { faultstring: string }).faultstring;
    }
  } catch {
    // not JSON: the text itself, shortened below
  }
  return text.slice(0, 300);
}

export class IronicClient {
  #token: KeystoneToken | null = null;
  #endpoint: string | null;
  #version: string | null = null;

  constructor(private readonly cfg: IronicConfig) {
    this.#endpoint = cfg.endpointOverride || null;
  }

  /** The negotiated microversion (after connect()). */
  get version(): string | null {
    return this.#version;
  }

  get endpoint(): string | null {
    return this.#endpoint;
  }

  async #auth(force = false): Promise<string | null> {
    if (this.cfg.authType === 'noauth') return null;
    // Renew a minute before expiry, so a long deploy's polls never carry a token that just lapsed.
    if (force || !this.#token || this.#token.expiresAt - Date.now() < 60_000) {
      this.#token = await passwordToken(this.cfg);
      if (!this.cfg.endpointOverride) this.#endpoint = this.#token.endpoint;
    }
    if (!this.#endpoint) throw new BackendUnavailable('ironic driver: the catalog has no baremetal endpoint (set [ironic] endpoint_override)');
    return this.#token.token;
  }

  /** Authenticates and negotiates the microversion from the root document's v1 range. */
  async connect(): Promise<void> {
    await this.#auth();
    const root = await this.#raw('GET', '/', undefined, false);
    const doc = JSON.parse(root.text || '{}') as { versions?: { id?: string; version?: string; min_version?: string }[]; default_version?: { version?: string; min_version?: string } };
    const v1 = doc.versions?.find((v) => v.id === 'v1') ?? doc.default_version;
    let min = v1?.min_version ?? '';
    let max = v1?.version ?? '';
    if (!max) {
      // An old root without versions: /v1's headers carry the range.
      const r = await this.#raw('GET', '/v1', undefined, false);
      min = r.headers.get('x-openstack-ironic-api-minimum-version') ?? '1.1';
      max = r.headers.get('x-openstack-ironic-api-maximum-version') ?? '1.1';
    }
    const v = negotiate(min || '1.1', max);
    if (!v) throw new BackendUnavailable(`ironic driver: the Bare Metal API offers ${min}–${max}; the driver needs at least ${MINIMUM_VERSION}`);
    this.#version = v;
  }

  async #raw(method: string, path: string, body: unknown, retryAuth = true): Promise<{ status: number; text: string; headers: Headers }> {
    const token = await this.#auth();
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers['x-auth-token'] = token;
    if (this.#version) headers['x-openstack-ironic-api-version'] = this.#version;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.#endpoint}${path}`, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(this.cfg.apiTimeoutMs),
      });
    } catch (err) {
      const e = err as Error;
      if (e.name === 'TimeoutError') throw new Timeout(`ironic driver: ${method} ${path} took more than ${this.cfg.apiTimeoutMs / 1000} s`, { cause: err });
      throw new BackendUnavailable(`ironic driver: the Bare Metal API at ${this.#endpoint} cannot be reached: ${e.message}`, { cause: err });
    }
    const text = await res.text();
    if (res.status === 401 && retryAuth && this.cfg.authType === 'password') {
      await this.#auth(true);
      return this.#raw(method, path, body, false);
    }
    return { status: res.status, text, headers: res.headers };
  }

  /**
   * One request; the parsed JSON body of a 2xx. IronicHttpError for a 4xx (the caller decides
   * what it means), BackendUnavailable for a 5xx.
   */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.#raw(method, path, body);
    if (r.status >= 500) throw new BackendUnavailable(`ironic driver: ${method} ${path}: HTTP ${r.status}: ${faultOf(r.text)}`);
    if (r.status >= 400) throw new IronicHttpError(r.status, faultOf(r.text));
    return (r.text ? JSON.parse(r.text) : null) as T;
  }
}
