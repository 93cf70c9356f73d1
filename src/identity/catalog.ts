import { createHash } from 'node:crypto';

/** One endpoint of a service in Keystone's v3 catalog form. */
export interface CatalogEndpoint {
  id: string;
  /** 'public', 'internal' or 'admin'. */
  interface: string;
  region_id: string;
  region: string;
  url: string;
}

/** One service of the catalog; the all-in-one knows the URLs and supplies the list. */
export interface CatalogService {
  id: string;
  type: string;
  name: string;
  endpoints: CatalogEndpoint[];
}

/** Supplies the current catalog (called per token issue/validation, so URLs may change at runtime). */
export type CatalogProvider = () => CatalogService[];

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
