import type { Config } from '../common/config.js';
import { OPTIONS } from '../common/options.js';
import type { Db } from './connection.js';

/** Nova's quota resources with Nova's defaults (the [quota] options of src/common/options.ts); `[quota] <resource>` overrides a default. */
const NOVA_DEFAULTS: Record<string, number> = Object.fromEntries(Object.entries(OPTIONS.quota).map(([r, def]) => [r, Number(def.default)]));

export const QUOTA_RESOURCES: readonly string[] = Object.keys(NOVA_DEFAULTS);

/** -1 means unlimited. */
export const UNLIMITED = -1;

/** The default limit of every resource. */
export function defaultLimits(config: Config): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [resource, fallback] of Object.entries(NOVA_DEFAULTS)) {
    const v = Number(config.opt('quota', resource) ?? fallback);
    out[resource] = Number.isInteger(v) ? v : fallback;
  }
  return out;
}

/** Nova's only quota class: its rows override the configured defaults for every project. */
export const DEFAULT_QUOTA_CLASS = 'default';

/**
 * The limits of a quota class: the configured defaults, overridden by the class's rows (Nova's
 * DbQuotaDriver). The `default` class's are every project's defaults.
 */
export async function getClassLimits(db: Db, config: Config, className: string = DEFAULT_QUOTA_CLASS): Promise<Record<string, number>> {
  const limits = defaultLimits(config);
  const rows = await db.selectFrom('quota_classes').select(['resource', 'hard_limit']).where('class_name', '=', className).execute();
  for (const r of rows) if (Object.hasOwn(limits, r.resource)) limits[r.resource] = r.hard_limit;
  return limits;
}

/** Sets some limits of a quota class, all or none. */
export async function setClassLimits(db: Db, className: string, limits: Record<string, number>): Promise<void> {
  await db.transaction().execute(async (tx) => {
    for (const [resource, hard_limit] of Object.entries(limits)) {
      await tx.insertInto('quota_classes').values({ class_name: className, resource, hard_limit })
        .onConflict((oc) => oc.columns(['class_name', 'resource']).doUpdateSet({ hard_limit })).execute();
    }
  });
}

/** A project's limits: its own rows in `quotas` override the defaults. */
export async function getProjectLimits(db: Db, config: Config, projectId: string): Promise<Record<string, number>> {
  const limits = await getClassLimits(db, config);
  const rows = await db.selectFrom('quotas').select(['resource', 'hard_limit']).where('project_id', '=', projectId).execute();
  for (const r of rows) if (Object.hasOwn(limits, r.resource)) limits[r.resource] = r.hard_limit;
  return limits;
}

/** Sets some of a project's limits, all or none. */
export async function setProjectLimits(db: Db, projectId: string, limits: Record<string, number>): Promise<void> {
  await db.transaction().execute(async (tx) => {
    for (const [resource, hard_limit] of Object.entries(limits)) {
      await tx.insertInto('quotas').values({ project_id: projectId, resource, hard_limit })
        .onConflict((oc) => oc.columns(['project_id', 'resource']).doUpdateSet({ hard_limit })).execute();
    }
  });
}

/** Reverts a project, and every user in it, to the default limits (Nova's destroy_all_by_project). */
export async function deleteProjectLimits(db: Db, projectId: string): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await tx.deleteFrom('quotas').where('project_id', '=', projectId).execute();
    await tx.deleteFrom('project_user_quotas').where('project_id', '=', projectId).execute();
  });
}

/** What a project's (or one of its users') live instances use; Nova counts every instance not deleted. */
export async function getInstanceUsage(db: Db, projectId: string, userId?: string): Promise<{ instances: number; cores: number; ram: number }> {
  let q = db.selectFrom('instances')
    .select((eb) => [
      eb.fn.countAll<number>().as('instances'),
      eb.fn.coalesce(eb.fn.sum<number>('vcpus'), eb.lit(0)).as('cores'),
      eb.fn.coalesce(eb.fn.sum<number>('memory_mb'), eb.lit(0)).as('ram'),
    ])
    .where('project_id', '=', projectId).where('deleted', '=', 0);
  if (userId !== undefined) q = q.where('user_id', '=', userId);
  const r = await q.executeTakeFirstOrThrow();
  return { instances: Number(r.instances), cores: Number(r.cores), ram: Number(r.ram) };
}

/** The limits a user has of its own inside a project (os-quota-sets?user_id=); the rest are the project's. */
export async function getUserOverrides(db: Db, projectId: string, userId: string): Promise<Record<string, number>> {
  const rows = await db.selectFrom('project_user_quotas').select(['resource', 'hard_limit'])
    .where('project_id', '=', projectId).where('user_id', '=', userId).execute();
  return Object.fromEntries(rows.map((r) => [r.resource, r.hard_limit]));
}

/** A user's limits: the project's, with the user's own rows over them. */
export async function getUserLimits(db: Db, config: Config, projectId: string, userId: string): Promise<Record<string, number>> {
  const [project, own] = await Promise.all([getProjectLimits(db, config, projectId), getUserOverrides(db, projectId, userId)]);
  for (const [resource, limit] of Object.entries(own)) if (Object.hasOwn(project, resource)) project[resource] = limit;
  return project;
}

/** Sets some of a user's limits within a project, all or none. */
export async function setUserLimits(db: Db, projectId: string, userId: string, limits: Record<string, number>): Promise<void> {
  await db.transaction().execute(async (tx) => {
    for (const [resource, hard_limit] of Object.entries(limits)) {
      await tx.insertInto('project_user_quotas').values({ project_id: projectId, user_id: userId, resource, hard_limit })
        .onConflict((oc) => oc.columns(['project_id', 'user_id', 'resource']).doUpdateSet({ hard_limit })).execute();
    }
  });
}

/** Reverts a user to its project's limits. */
export async function deleteUserLimits(db: Db, projectId: string, userId: string): Promise<void> {
  await db.deleteFrom('project_user_quotas').where('project_id', '=', projectId).where('user_id', '=', userId).execute();
}
