import type { Db } from './connection.js';
import type { CachedVif } from './schema-network.js';

/**
 * The info cache of a server (instances.network_info, Nova's instance_info_caches): the ports
 * the compute service (or the compute API, when it changes them itself) last reported.
 */

/** The cache as stored; a missing or unreadable one is no cache (null). */
export function parseNetworkInfo(text: string | null | undefined): CachedVif[] | null {
  if (!text) return null;
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? (v as CachedVif[]) : null;
  } catch {
    return null;
  }
}

export async function getNetworkInfo(db: Db, uuid: string): Promise<CachedVif[] | null> {
  const row = await db.selectFrom('instances').select('network_info').where('uuid', '=', uuid).executeTakeFirst();
  return parseNetworkInfo(row?.network_info);
}

/** Replaces the cache of a live server; answers whether there was one to update. */
export async function setNetworkInfo(db: Db, uuid: string, vifs: CachedVif[]): Promise<boolean> {
  const r = await db.updateTable('instances').set({ network_info: JSON.stringify(vifs) }).where('uuid', '=', uuid).where('deleted', '=', 0).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** What the create asked for, kept for the compute service's reschedules and for the record (Nova's RequestSpec.requested_networks). */
export async function setRequestedNetworks(db: Db, uuids: string[], requested: unknown): Promise<void> {
  if (uuids.length === 0) return;
  await db.updateTable('instances').set({ requested_networks: JSON.stringify(requested) }).where('uuid', 'in', uuids).execute();
}
