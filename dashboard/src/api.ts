/**
 * The browser's client of the cloud's public APIs. Every request goes to the dashboard's own
 * origin under /api/<service>/, which the dashboard server passes through unchanged to that
 * service's public URL; the only credential is the user's token, sent as X-Auth-Token.
 */

export type Service = 'identity' | 'compute' | 'image' | 'placement' | 'network';

/** The compute microversion the pages speak: 2.47 embeds the flavor in a server; hypervisor capacity asks for less (see admin). */
export const COMPUTE_MICROVERSION = '2.47';

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface RequestOptions {
  body?: unknown;
  /** Sent as is (an image's data): not JSON-encoded. */
  raw?: Blob;
  token?: string | null;
  microversion?: string;
  headers?: Record<string, string>;
}

export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

/** The message of an OpenStack error body, in any of the shapes the APIs answer with. */
function errorMessage(status: number, body: unknown): string {
  if (body && typeof body === 'object') {
    for (const v of Object.values(body as Record<string, unknown>)) {
      if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') return (v as { message: string }).message;
    }
    const nm = (body as { NeutronError?: { message?: string } }).NeutronError?.message;
    if (nm) return nm;
  }
  if (typeof body === 'string' && body.length > 0) return body.slice(0, 300);
  return `HTTP ${status}`;
}

export function url(service: Service, path: string): string {
  return `/api/${service}${path}`;
}

export async function request<T = any>(service: Service, method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (opts.token) headers['x-auth-token'] = opts.token;
  if (service === 'compute') headers['openstack-api-version'] = `compute ${opts.microversion ?? COMPUTE_MICROVERSION}`;
  let body: BodyInit | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(url(service, path), { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (res.status >= 400) throw new ApiError(res.status, errorMessage(res.status, parsed));
  return { status: res.status, headers: res.headers, body: parsed as T };
}
