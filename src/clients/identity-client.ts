import type { Config } from '../common/config.js';
import { BadRequest, Conflict, Forbidden, NotFound, NotImplemented, OrreryError, Unauthorized } from '../common/errors.js';

/** Status → fault name for statuses without their own OrreryError class. */
const FAULTS: Record<number, string> = { 405: 'HTTPMethodNotAllowed', 410: 'gone', 413: 'overLimit', 415: 'unsupportedMediaType' };

/** The message of an OpenStack error body, whichever service's format it is in. */
function messageOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    if (typeof body.message === 'string') return body.message;
    for (const v of Object.values(body)) {
      if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') return (v as { message: string }).message;
    }
  } catch {
    // not JSON: use the text itself
  }
  return text.trim() === '' ? undefined : text.trim().slice(0, 500);
}

/** Turns a failed HTTP response of one of our APIs into the OrreryError with the same status. */
export async function errorFromResponse(res: Response, what: string): Promise<OrreryError> {
  const message = messageOf(await res.text().catch(() => '')) ?? `${what} failed with HTTP ${res.status}`;
  switch (res.status) {
    case 400: return new BadRequest(message);
    case 401: return new Unauthorized(message);
    case 403: return new Forbidden(message);
    case 404: return new NotFound(message);
    case 409: return new Conflict(message);
    case 501: return new NotImplemented(message);
    default: return new OrreryError(res.status, FAULTS[res.status] ?? 'computeFault', message);
  }
}

export interface IdentityClientOptions {
  /** Keystone URL, with or without the trailing /v3. */
  authUrl: string;
  username: string;
  password: string;
  projectName: string;
  userDomainName?: string;
  projectDomainName?: string;
  /** Region of the endpoints to use; any region when unset. */
  region?: string;
  /** Endpoint interface to use; 'public' unless set. */
  interface?: string;
}

interface CatalogEntry {
  type: string;
  endpoints: Array<{ interface: string; region_id?: string; region?: string; url: string }>;
}

interface Session {
  token: string;
  expiresAt: number;
  catalog: CatalogEntry[];
}

/** Re-authenticate this long before the token expires. */
const REFRESH_MARGIN_MS = 60_000;

/**
 * A service's client of the Identity API: authenticates with a password, keeps the token until
 * a minute before it expires, and finds other services' endpoints in the catalog.
 */
export class IdentityClient {
  private session: Session | null = null;
  private pending: Promise<Session> | null = null;

  constructor(private readonly opts: IdentityClientOptions) {}

  /** The service user of the configuration ([service_user] and [DEFAULT] region_name). */
  static fromConfig(config: Config, authUrl?: string): IdentityClient {
    const url = config.opt('service_user', 'auth_url') || authUrl;
    if (!url) throw new Error('config: [service_user] auth_url is not set');
    return new IdentityClient({
      authUrl: url,
      username: config.str('service_user', 'username'),
      password: config.str('service_user', 'password'),
      projectName: config.str('service_user', 'project_name'),
      region: config.str('DEFAULT', 'region_name'),
    });
  }

  /** A valid token, issuing a new one when none is cached or it expires within a minute. */
  async token(): Promise<string> {
    return (await this.current()).token;
  }

  /** The URL of a service's endpoint from the catalog: by type, interface and region. */
  async endpoint(serviceType: string, opts: { interface?: string; region?: string } = {}): Promise<string> {
    const session = await this.current();
    const iface = opts.interface ?? this.opts.interface ?? 'public';
    const region = opts.region ?? this.opts.region;
    const service = session.catalog.find((s) => s.type === serviceType);
    const ep = service?.endpoints.find((e) => e.interface === iface && (region === undefined || (e.region_id ?? e.region) === region));
    if (!ep) {
      throw new NotFound(`No ${iface} endpoint for service type ${serviceType}${region ? ` in region ${region}` : ''} in the catalog`);
    }
    return ep.url.replace(/\/+$/, '');
  }

  /** Forgets the cached token (after a 401 from a service, say). */
  invalidate(): void {
    this.session = null;
  }

  private async current(): Promise<Session> {
    if (this.session && this.session.expiresAt - REFRESH_MARGIN_MS > Date.now()) return this.session;
    // Concurrent callers share one authentication.
    this.pending ??= this.authenticate().finally(() => { this.pending = null; });
    this.session = await this.pending;
    return this.session;
  }

  private tokensUrl(): string {
    const base = this.opts.authUrl.replace(/\/+$/, '');
    return /\/v3$/.test(base) ? `${base}/auth/tokens` : `${base}/v3/auth/tokens`;
  }

  private async authenticate(): Promise<Session> {
    const body = {
      auth: {
        identity: {
          methods: ['password'],
          password: {
            user: { name: this.opts.username, password: this.opts.password, domain: { name: this.opts.userDomainName ?? 'Default' } },
          },
        },
        scope: { project: { name: this.opts.projectName, domain: { name: this.opts.projectDomainName ?? 'Default' } } },
      },
    };
    const res = await fetch(this.tokensUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw await errorFromResponse(res, 'authentication');
    const token = res.headers.get('x-subject-token');
    const data = (await res.json()) as { token?: { expires_at?: string; catalog?: CatalogEntry[] } };
    if (!token || !data.token?.expires_at) throw new OrreryError(502, 'computeFault', 'The identity service returned no token');
    return { token, expiresAt: Date.parse(data.token.expires_at), catalog: data.token.catalog ?? [] };
  }
}
