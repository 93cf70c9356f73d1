import { sql } from 'kysely';
import { isPostgres, type Db } from './connection.js';
import type { ResourceRequest } from '../common/resource-classes.js';
import { lockKey } from './locks.js';

/**
 * A condition beyond room that a claim must meet (a server group's policy), checked inside the
 * claim's transaction once its allocations are written: `lock` is taken first, so every claim
 * the condition depends on is either committed before the check or waits for this one.
 */
export interface ClaimGuard {
  lock: string;
  holds(tx: Db, nodeUuid: string): Promise<boolean>;
}

/**
 * Claims resources on a node atomically: one conditional UPDATE of all the node's resource
 * classes and one INSERT of the allocations, in a transaction, so concurrent claims never
 * overcommit and a claim costs the same however many allocations the node already has.
 * Returns false, and changes nothing, when any class lacks room or when the consumer already
 * holds resources (a repeated request: `claimedNode` says where).
 */
export async function claimResources(db: Db, consumerUuid: string, nodeUuid: string, request: ResourceRequest, guard?: ClaimGuard): Promise<boolean> {
  // Classes in one global order (as in releases and node reports): PostgreSQL locks the rows in
  // it, so concurrent transactions queue behind each other instead of deadlocking.
  const entries = Object.entries(request).filter(([, amount]) => amount > 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0 && !guard) return true;
  try {
    await db.transaction().execute(async (tx) => {
      // One claim per consumer at a time: a repeated selection (the conductor asking again after
      // a lost reply, or a redelivered build running in two conductors during a broker cut) may
      // run beside the first, and the NOT EXISTS of the claim sees only what was committed when
      // its statement began — two concurrent claims on two nodes would both pass it.
      await lockKey(tx, `claim:${consumerUuid}`);
      if (guard) await lockKey(tx, guard.lock);
      if (entries.length > 0) {
        const res = await claimStatement(isPostgres(tx), consumerUuid, nodeUuid, entries).execute(tx);
        // Each row updated is a class that fits; any fewer and the transaction rolls back.
        if (Number(res.numAffectedRows) !== entries.length) throw new ClaimRefused();
        await sql`INSERT INTO allocations (consumer_uuid, node_uuid, resource_class, used)
          VALUES ${sql.join(entries.map(([rc, used]) => sql`(${consumerUuid}, ${nodeUuid}, ${rc}, ${used})`))}`.execute(tx);
      }
      // After the writes: on SQLite the UPDATE took the database's write lock, so no other
      // process's claim can land between this check and the COMMIT; on PostgreSQL the guard's lock does that.
      if (guard && !(await guard.holds(tx, nodeUuid))) throw new ClaimRefused();
    });
    return true;
  } catch (err) {
    if (err instanceof ClaimRefused) return false;
    throw err;
  }
}

/**
 * The claim's UPDATE: every requested class of the node that has room for its amount (within
 * max_unit and (total - reserved) * allocation_ratio) gains it, unless the consumer already holds
 * allocations. Raw SQL: Kysely's nested binary expressions are not parenthesised, and this runs
 * for every decision.
 */
function claimStatement(postgres: boolean, consumerUuid: string, nodeUuid: string, entries: Array<[string, number]>) {
  // CAST: on PostgreSQL a CASE of untyped parameters would be text.
  const amount = sql.join(entries.map(([rc, n]) => sql`WHEN ${rc} THEN CAST(${n} AS integer)`), sql` `);
  const fits = sql.join(entries.map(([rc, n]) => sql`(resource_class = ${rc} AND max_unit >= ${n}
    AND used + ${n} <= (total - reserved) * allocation_ratio)`), sql` OR `);
  // PostgreSQL: every row the UPDATE touches is first locked by `locked`, whose scan goes in class
  // order. (SQLite has one writer at a time; and no IN list there: it builds one anew at every
  // run, which doubled the statement's cost.)
  const [locked, lockedOnly] = postgres
    ? [sql`WITH locked AS MATERIALIZED (SELECT resource_class FROM inventories WHERE node_uuid = ${nodeUuid}
        AND resource_class IN (${sql.join(entries.map(([rc]) => rc))}) ORDER BY resource_class FOR UPDATE) `,
      sql`AND resource_class IN (SELECT resource_class FROM locked)`]
    : [sql``, sql``];
  return sql`${locked}UPDATE inventories SET used = used + CASE resource_class ${amount} END
    WHERE node_uuid = ${nodeUuid} ${lockedOnly} AND (${fits})
    AND NOT EXISTS (SELECT 1 FROM allocations a WHERE a.consumer_uuid = ${consumerUuid})`;
}

class ClaimRefused extends Error {}

/**
 * Releases everything a consumer holds (idempotent: a second release finds nothing). The
 * allocations are deleted first and the counters lowered by what was deleted, so of two
 * concurrent releases only one (the one whose DELETE got the rows) gives the resources back.
 * Given a transaction, it releases within it (with the state change that gives the claim up).
 */
export async function releaseResources(db: Db, consumerUuid: string): Promise<void> {
  const release = async (tx: Db): Promise<void> => {
    const rows = await tx.deleteFrom('allocations').where('consumer_uuid', '=', consumerUuid).returningAll().execute();
    rows.sort((a, b) => (a.node_uuid + a.resource_class < b.node_uuid + b.resource_class ? -1 : 1));
    for (const r of rows) {
      await tx.updateTable('inventories')
        .set((eb) => ({ used: eb('used', '-', r.used) }))
        .where('node_uuid', '=', r.node_uuid)
        .where('resource_class', '=', r.resource_class)
        .execute();
    }
  };
  await (db.isTransaction ? release(db) : db.transaction().execute(release));
}

/** The node a consumer already holds resources on, if any (makes a repeated selection idempotent). */
export async function claimedNode(db: Db, consumerUuid: string): Promise<{ uuid: string; host: string; node: string } | null> {
  const row = await db.selectFrom('allocations as a')
    .innerJoin('compute_nodes as cn', 'cn.uuid', 'a.node_uuid')
    .select(['cn.uuid as uuid', 'cn.host as host', 'cn.hypervisor_hostname as node'])
    .where('a.consumer_uuid', '=', consumerUuid)
    .executeTakeFirst();
  return row ?? null;
}

/** Whether a consumer holds any allocation (a move's migration uuid holding the source claim, say). */
export async function holdsAllocations(db: Db, consumerUuid: string): Promise<boolean> {
  const row = await db.selectFrom('allocations').select('consumer_uuid').where('consumer_uuid', '=', consumerUuid).limit(1).executeTakeFirst();
  return row !== undefined;
}
