import type { Selectable } from 'kysely';
import type { Config } from '../common/config.js';
import type { ServiceTable } from './schema.js';

export type ServiceRow = Selectable<ServiceTable>;

/**
 * Whether a service is up: it reported within `service_down_time` seconds and is not forced
 * down (Nova's DB servicegroup driver).
 */
export function serviceIsUp(row: Pick<ServiceRow, 'last_seen_up' | 'forced_down'>, config: Config, at = Date.now()): boolean {
  if (row.forced_down === 1 || !row.last_seen_up) return false;
  return at - Date.parse(row.last_seen_up) <= config.num('DEFAULT', 'service_down_time') * 1000;
}
