import { createHash } from 'node:crypto';
import type { Db } from '../db/connection.js';
import { enabledCatalog, upsertRunningService } from '../db/catalog.js';

/** One endpoint of a service in Keystone's v3 catalog form. */
export interface CatalogEndpoint {
  id: string;
  /** 'public', 'internal' or 'admin'. */
  interface: string;
  region_id: string | null;
  region: string | null;
  url: string;
}

/** One service of the catalog; the all-in-one knows the URLs and supplies the list. */
export interface CatalogService {
  id: string;
  type: string;
  name: string;
  endpoints: CatalogEndpoint[];
}

/**
 * Supplies the current catalog (called per token issue/validation, so URLs may change at runtime).
 * `refresh`, when the provider has one, re-reads the catalog's rows: the catalog routes call it
 * after every change, so the next token of this process carries the change.
 */
export type CatalogProvider = (() => CatalogService[]) & { refresh?: () => Promise<void> };

const stableId = (...parts: string[]): string => createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 32);

/**
 * A catalog entry whose public, internal and admin endpoints share one URL — what a single
 * deployment without separate networks has. Ids are derived from the type, region and
 * interface, so they stay the same across restarts.
 */
export function catalogService(type: string, name: string, url: string, region: string): CatalogService {
  const interfaces = ['public', 'internal', 'admin'];
  return {
    id: stableId('service', type),
    type,
    name,
    endpoints: interfaces.map((iface) => ({
      id: stableId('endpoint', type, region, iface),
      interface: iface,
      region_id: region,
      region,
      url,
    })),
  };
}

/**
 * How long another API process's change may take to reach this one's tokens: the provider is
 * synchronous (a token is built without a query more), so it answers from a snapshot and
 * re-reads it in the background once the snapshot is older than this. Changes made through this
 * process's catalog routes are in its next token at once (they refresh before answering).
 */
const SNAPSHOT_MS = 5_000;

/** The catalog kept as rows (Keystone's SQL catalog), with the snapshot tokens are built from. */
export class CatalogStore {
  private snapshot: CatalogService[] = [];
  private loadedAt = 0;
  private loading: Promise<void> | null = null;
  readonly provider: CatalogProvider;

  constructor(private readonly db: Db, private readonly onError: (err: unknown) => void = () => undefined) {
    this.provider = Object.assign(() => this.current(), { refresh: () => this.refresh() });
  }

  /** The services this process runs, written as rows (created when missing, URLs kept current), then read back. */
  async seed(services: CatalogService[], region: string): Promise<void> {
    for (const s of services) {
      await upsertRunningService(this.db,
        { id: s.id, type: s.type, name: s.name, enabled: 1, extra: '{}' },
        s.endpoints.map((e) => ({ id: e.id, service_id: s.id, interface: e.interface, region_id: e.region_id, url: e.url, enabled: 1, extra: '{}' })),
        { id: region, description: '', parent_region_id: null, extra: '{}' });
    }
    await this.refresh();
  }

  async refresh(): Promise<void> {
    const { services, endpoints } = await enabledCatalog(this.db);
    const byService = new Map<string, CatalogEndpoint[]>();
    for (const e of endpoints) {
      byService.set(e.service_id, [...(byService.get(e.service_id) ?? []),
        { id: e.id, interface: e.interface, region_id: e.region_id, region: e.region_id, url: e.url }]);
    }
    this.snapshot = services.map((s) => ({ id: s.id, type: s.type, name: s.name, endpoints: byService.get(s.id) ?? [] }));
    this.loadedAt = Date.now();
  }

  private current(): CatalogService[] {
    if (Date.now() - this.loadedAt > SNAPSHOT_MS && this.loading === null) {
      this.loading = this.refresh().catch(this.onError).finally(() => { this.loading = null; });
    }
    return this.snapshot;
  }
}
