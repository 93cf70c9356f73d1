import type { Config } from '../common/config.js';
import { optionDef } from '../common/options.js';
import type { Db } from '../db/connection.js';
import { lockKey } from '../db/locks.js';
import { QUOTA_RESOURCES, quotaOverrides, quotaUsage, type QuotaResource } from '../db/network-quotas.js';
import { overQuota } from './common.js';

/** Neutron's defaults (the `[quotas] quota_<resource>` options of src/common/options.ts); -1 is unlimited. */
export const QUOTA_DEFAULTS = Object.fromEntries(
  QUOTA_RESOURCES.map((r) => [r, Number(optionDef('quotas', `quota_${r}`)?.default ?? -1)]),
) as Readonly<Record<QuotaResource, number>>;

/** The defaults in force: Neutron's, each replaceable by `[quotas] quota_<resource>`. */
export function quotaDefaults(config: Config): Record<QuotaResource, number> {
  const out = { ...QUOTA_DEFAULTS };
  for (const r of QUOTA_RESOURCES) {
    const v = config.opt('quotas', `quota_${r}`);
    if (v !== undefined && v !== '') out[r] = Number(v);
  }
  return out;
}

export async function quotaLimits(db: Db, config: Config, projectId: string): Promise<Record<QuotaResource, number>> {
  const limits = quotaDefaults(config);
  const own = await quotaOverrides(db, projectId);
  for (const r of QUOTA_RESOURCES) if (own.has(r)) limits[r] = own.get(r)!;
  return limits;
}

/**
 * Refuses with OverQuota (409) when `projectId` already has its limit of `resource` (or would
 * pass it by `adding`). Run it inside the transaction of the insert it guards: there it takes
 * the project's lock on the resource (PostgreSQL; SQLite's one connection already serializes),
 * so concurrent creates count each other and the limit holds exactly.
 */
export async function checkQuota(db: Db, config: Config, projectId: string, resource: QuotaResource, adding = 1): Promise<void> {
  if (db.isTransaction) await lockKey(db, `network-quota ${projectId} ${resource}`);
  const own = await quotaOverrides(db, projectId);
  const limit = own.get(resource) ?? quotaDefaults(config)[resource];
  if (limit < 0) return;
  if ((await quotaUsage(db, projectId, resource)) + adding > limit) throw overQuota(resource);
}
