import type { Insertable } from 'kysely';
import type { Config } from '../common/config.js';
import { OverQuota } from '../common/errors.js';
import { DatabaseUnavailable, type Db } from './connection.js';
import { createActions } from './instance-actions.js';
import { getInstanceRow, insertInstances } from './instances.js';
import { lockKey } from './locks.js';
import { getInstanceUsage, getProjectLimits, getUserOverrides, UNLIMITED } from './quotas.js';
import type { InstanceTable } from './schema.js';

/**
 * Quota enforcement for new instances: the limits are read, the usage counted and the rows
 * inserted in one transaction under the project's quota lock, so concurrent creates of one
 * project — in this process or another — can never overshoot.
 */

export interface NewInstance<R extends Insertable<InstanceTable> = Insertable<InstanceTable>> {
  row: R;
  metadata: Record<string, string>;
}

export interface CreateRequest {
  projectId: string;
  userId: string;
  requestId: string;
  minCount: number;
  maxCount: number;
  vcpus: number;
  memoryMb: number;
  /** The project's limits when the caller has just read them (getProjectLimits); else they are read here. */
  limits?: Record<string, number>;
  /** More rows that belong with the instances (a server group's members), written in their transaction. */
  withInstances?: (tx: Db, instanceUuids: string[]) => Promise<void>;
}

type Resource = 'instances' | 'cores' | 'ram';

/** Nova's TooManyInstances (rendered 403 forbidden by the servers API). */
export class TooManyInstances extends OverQuota {
  constructor(overs: string, req: string, used: string, allowed: string) {
    super(`Quota exceeded for ${overs}: Requested ${req}, but already used ${used} of ${allowed} ${overs}`);
  }
}

/**
 * How many of `min..max` instances fit (Nova's _check_num_instances_quota): all of them, else
 * as many as fit if at least `min` do; otherwise throws TooManyInstances naming the resources
 * the full request exceeds.
 */
export function instancesAllowed(limits: Record<string, number>, usage: Record<Resource, number>, r: CreateRequest): number {
  const deltas: Record<Resource, number> = { instances: r.maxCount, cores: r.maxCount * r.vcpus, ram: r.maxCount * r.memoryMb };
  const resources: Resource[] = ['cores', 'instances', 'ram'];
  const limitOf = (res: Resource): number => limits[res] ?? UNLIMITED;
  const overs = resources.filter((res) => limitOf(res) >= 0 && usage[res] + deltas[res] > limitOf(res));
  if (overs.length === 0) return r.maxCount;
  const headroom = (res: Resource): number => (limitOf(res) < 0 ? Number.POSITIVE_INFINITY : limitOf(res) - usage[res]);
  let allowed = headroom('instances');
  if (r.vcpus > 0) allowed = Math.min(allowed, Math.floor(headroom('cores') / r.vcpus));
  if (r.memoryMb > 0) allowed = Math.min(allowed, Math.floor(headroom('ram') / r.memoryMb));
  if (allowed >= r.minCount && allowed > 0) return Math.min(allowed, r.maxCount);
  const requested: Record<Resource, string> = {
    instances: r.minCount === r.maxCount ? String(r.minCount) : `${r.minCount}-${r.maxCount}`,
    cores: String(deltas.cores),
    ram: String(deltas.ram),
  };
  throw new TooManyInstances(
    overs.join(', '),
    overs.map((res) => requested[res]).join(', '),
    overs.map((res) => String(usage[res])).join(', '),
    overs.map((res) => String(limitOf(res))).join(', '),
  );
}

/**
 * Inserts as many of the requested instances as the project's quota allows (at least
 * `minCount`), each with its metadata and its 'create' instance action, all or nothing.
 * `build(n)` makes the rows once the count is known. Returns what was inserted.
 * Limits given in `r` may have been read before the lock: the lock keeps concurrent creates from
 * overshooting by serialising the usage count, which is read here; a limit changed meanwhile
 * is a race with the admin either way.
 */
export async function createInstancesWithinQuota<R extends Insertable<InstanceTable>>(
  db: Db, config: Config, r: CreateRequest, build: (count: number) => Array<NewInstance<R>>,
): Promise<Array<NewInstance<R>>> {
  // A COMMIT whose answer was lost with the connection may have landed: the rows tell. Landed,
  // the create succeeded and is answered so; not landed, it rolled back and runs again. Either
  // way no instance is left that its requester was not told about — unless the database stays
  // out of reach for all the looks (each about 3 s of retries, connection-loss.ts) as well.
  for (let attempt = 1; ; attempt++) {
    let built: Array<NewInstance<R>> = [];
    try {
      return await insertWithinQuota(db, config, r, (count) => (built = build(count)));
    } catch (err) {
      if (!(err instanceof DatabaseUnavailable) || err.outcome !== 'unknown' || built.length === 0 || attempt >= 3) throw err;
      if (await landed(db, String(built[0]!.row.uuid))) return built;
    }
  }
}

/** Whether the instance row is there, looking up to three times while the database is unreachable. */
async function landed(db: Db, uuid: string): Promise<boolean> {
  for (let look = 1; ; look++) {
    try {
      return (await getInstanceRow(db, uuid)) !== null;
    } catch (err) {
      if (!(err instanceof DatabaseUnavailable) || look >= 3) throw err;
    }
  }
}

async function insertWithinQuota<R extends Insertable<InstanceTable>>(
  db: Db, config: Config, r: CreateRequest, build: (count: number) => Array<NewInstance<R>>,
): Promise<Array<NewInstance<R>>> {
  return db.transaction().execute(async (tx) => {
    await lockKey(tx, quotaLockName(r.projectId));
    const [limits, usage] = await Promise.all([r.limits ?? getProjectLimits(tx, config, r.projectId), getInstanceUsage(tx, r.projectId)]);
    const count = await withinUserQuota(tx, r, instancesAllowed(limits, usage, r), limits);
    const created = build(count);
    await insertInstances(tx, created);
    const uuids = created.map((inst) => String(inst.row.uuid));
    await createActions(tx, { instanceUuids: uuids, action: 'create', requestId: r.requestId, projectId: r.projectId, userId: r.userId });
    if (r.withInstances) await r.withInstances(tx, uuids);
    return created;
  });
}

/**
 * The part of `count` the user's own limits allow (os-quota-sets?user_id=), counted against the
 * user's usage under the same project lock; the project's limits stand for those it has none of.
 */
async function withinUserQuota(db: Db, r: CreateRequest, count: number, projectLimits: Record<string, number>): Promise<number> {
  const own = await getUserOverrides(db, r.projectId, r.userId);
  if (!['instances', 'cores', 'ram'].some((res) => Object.hasOwn(own, res))) return count;
  const usage = await getInstanceUsage(db, r.projectId, r.userId);
  return instancesAllowed({ ...projectLimits, ...own }, usage, { ...r, maxCount: count });
}

/** The lock a transaction holds while it counts a project's usage and adds to it. */
export function quotaLockName(projectId: string): string {
  return `quota:${projectId}`;
}

/** Nova's MetadataLimitExceeded (403): more metadata items than the project's quota. */
export async function checkMetadataQuota(db: Db, config: Config, projectId: string, count: number): Promise<void> {
  checkMetadataLimit(await getProjectLimits(db, config, projectId), count);
}

/** checkMetadataQuota against limits already read. */
export function checkMetadataLimit(limits: Record<string, number>, count: number): void {
  const limit = limits.metadata_items ?? UNLIMITED;
  if (limit >= 0 && count > limit) throw new OverQuota(`Maximum number of metadata items exceeds ${limit}`);
}
