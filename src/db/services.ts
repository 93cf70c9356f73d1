import type { Selectable } from 'kysely';
import type { Config } from '../common/config.js';
import type { ServiceTable } from './schema.js';
import type { Db } from './connection.js';
import { lowestVersion } from '../common/versions.js';

export type ServiceRow = Selectable<ServiceTable>;

/**
 * Whether a service is up: it reported within `service_down_time` seconds and is not forced
 * down (Nova's DB servicegroup driver).
 */
export function serviceIsUp(row: Pick<ServiceRow, 'last_seen_up' | 'forced_down'>, config: Config, at = Date.now()): boolean {
  if (row.forced_down === 1 || !row.last_seen_up) return false;
  return at - Date.parse(row.last_seen_up) <= config.num('DEFAULT', 'service_down_time') * 1000;
}

/**
 * The compute RPC version senders may use: `[upgrade_levels] compute` when it names a version,
 * else (`auto`) the lowest version any live compute service reported; null when none is live
 * (senders then use their own version).
 */
export async function computePin(db: Db, config: Config): Promise<string | null> {
  const level = config.str('upgrade_levels', 'compute');
  if (level !== 'auto') return level;
  const rows = await db.selectFrom('services').select(['version', 'last_seen_up', 'forced_down'])
    .where('binary', '=', 'nova-compute').where('deleted', '=', 0).execute();
  return lowestVersion(rows.filter((r) => serviceIsUp(r, config)).map((r) => r.version));
}

/** The nova-compute service of `host` (not deleted), or undefined when the host runs none. */
export async function computeServiceOf(db: Db, host: string): Promise<ServiceRow | undefined> {
  return db.selectFrom('services').selectAll().where('host', '=', host).where('binary', '=', 'nova-compute').where('deleted', '=', 0).executeTakeFirst();
}
