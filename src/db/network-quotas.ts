import type { Db } from './connection.js';

/**
 * Network quotas: per-project overrides of the defaults (Neutron's quotas table) and the
 * usage counts the limits are checked against. Usage is counted, not tracked: every network
 * resource is one row of its own table.
 */

/** The resources Neutron's quota engine knows, with the table each one counts. */
export const QUOTA_TABLES = {
  network: 'networks', subnet: 'subnets', port: 'ports', router: 'routers', floatingip: 'floating_ips',
  security_group: 'security_groups', security_group_rule: 'security_group_rules',
} as const;
export type QuotaResource = keyof typeof QUOTA_TABLES;
export const QUOTA_RESOURCES = Object.keys(QUOTA_TABLES) as QuotaResource[];

export async function quotaOverrides(db: Db, projectId: string): Promise<Map<string, number>> {
  const rows = await db.selectFrom('network_quotas').select(['resource', 'hard_limit']).where('project_id', '=', projectId).execute();
  return new Map(rows.map((r) => [r.resource, r.hard_limit]));
}

/** Projects that have overrides (GET /v2.0/quotas lists those). */
export async function projectsWithQuotas(db: Db): Promise<string[]> {
  return (await db.selectFrom('network_quotas').select('project_id').distinct().orderBy('project_id').execute()).map((r) => r.project_id);
}

export async function setQuota(db: Db, projectId: string, resource: string, limit: number): Promise<void> {
  await db.insertInto('network_quotas').values({ project_id: projectId, resource, hard_limit: limit })
    .onConflict((oc) => oc.columns(['project_id', 'resource']).doUpdateSet({ hard_limit: limit })).execute();
}

export async function deleteQuotas(db: Db, projectId: string): Promise<void> {
  await db.deleteFrom('network_quotas').where('project_id', '=', projectId).execute();
}

/** How many `resource` rows `projectId` has. */
export async function quotaUsage(db: Db, projectId: string, resource: QuotaResource): Promise<number> {
  const r = await db.selectFrom(QUOTA_TABLES[resource]).select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('project_id', '=', projectId).executeTakeFirstOrThrow();
  return Number(r.n);
}
