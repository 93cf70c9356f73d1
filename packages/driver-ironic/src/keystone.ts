/**
 * The driver's own Keystone v3 password authentication and catalog lookup: a token scoped to
 * the configured project and the baremetal endpoint from its catalog. Small on purpose — the
 * package imports nothing of Orrery's but the contract, so it cannot use the service's clients.
 */
import { BackendUnavailable } from '@orrery/virt-api';
import type { IronicConfig } from './config.js';
import { rootUrl } from './config.js';

export interface KeystoneToken {
  token: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** The Bare Metal API's root URL from the catalog, or null when the catalog has none. */
  endpoint: string | null;
}

interface CatalogEntry {
  type?: string;
  endpoints?: { interface?: string; region?: string; region_id?: string; url?: string }[];
}

/** The baremetal endpoint of a v3 catalog for the configured interface and region. */
export function baremetalEndpoint(catalog: unknown, cfg: Pick<IronicConfig, 'interface' | 'regionName'>): string | null {
  if (!Array.isArray(catalog)) return null;
  for (const entry of catalog as CatalogEntry[]) {
    if (entry?.type !== 'baremetal' || !Array.isArray(entry.endpoints)) continue;
    const ep = entry.endpoints.find((e) => e.interface === cfg.interface
      && (cfg.regionName === '' || e.region_id === cfg.regionName || e.region === cfg.regionName));
    if (ep?.url) return rootUrl(ep.url);
  }
  return null;
}

/** Authenticates with the configured password; BackendUnavailable when Keystone cannot be reached or refuses. */
export async function passwordToken(cfg: IronicConfig): Promise<KeystoneToken> {
  const body = {
    auth: {
      identity: { methods: ['password'], password: { user: { name: cfg.username, password: cfg.password, domain: { name: cfg.userDomainName } } } },
      scope: { project: { name: cfg.projectName, domain: { name: cfg.projectDomainName } } },
    },
  };
  const url = `${cfg.authUrl.replace(/\/v3$/, '')}/v3/auth/tokens`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body), signal: AbortSignal.timeout(cfg.apiTimeoutMs),
    });
  } catch (err) {
    throw new BackendUnavailable(`ironic driver: Keystone at ${cfg.authUrl} cannot be reached: ${(err as Error).message}`, { cause: err });
  }
  const text = await res.text();
  const token = res.headers.get('x-subject-token');
  if (res.status !== 201 || !token) {
    // The body names the failure ("The request you have made requires authentication."), never the password.
    throw new BackendUnavailable(`ironic driver: Keystone refused the service user ${JSON.stringify(cfg.username)}: HTTP ${res.status}`);
  }
  let parsed: { token?: { expires_at?: string; catalog?: unknown } } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    // A token without a readable body still authenticates; the catalog is then unknown.
  }
  const expiresAt = Date.parse(parsed.token?.expires_at ?? '') || Date.now() + 3_600_000;
  return { token, expiresAt, endpoint: baremetalEndpoint(parsed.token?.catalog, cfg) };
}
