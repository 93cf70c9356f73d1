import { Conflict, NotFound } from '../common/errors.js';
import { now } from '../common/time.js';
import { removeHostFromAllAggregates } from './aggregates.js';
import type { Db } from './connection.js';
import type { ServiceRow } from './services.js';

/**
 * The service records as the admin APIs and the admin CLI read and change them (os-services,
 * os-hosts, os-instance_usage_audit_log, `orrery service list`, `orrery upgrade status`).
 * The services write their own heartbeats (service-heartbeat.ts).
 */

export type ServiceRef = Pick<ServiceRow, 'id' | 'host' | 'binary'>;

/** What an operator may change of a service. */
export interface ServiceChanges {
  disabled?: number;
  disabled_reason?: string | null;
  forced_down?: number;
}

/** Every live service; by binary, then host, when `sorted`. */
export async function listServiceRows(db: Db, opts: { sorted?: boolean } = {}): Promise<ServiceRow[]> {
  const q = db.selectFrom('services').selectAll().where('deleted', '=', 0);
  return (opts.sorted ? q.orderBy('binary').orderBy('host') : q).execute();
}

/** A live service by its uuid (lower case), or null. */
export async function getServiceByUuid(db: Db, uuid: string): Promise<ServiceRef | null> {
  return (await db.selectFrom('services').select(['id', 'host', 'binary']).where('uuid', '=', uuid).where('deleted', '=', 0).executeTakeFirst()) ?? null;
}

/** The hosts of the live compute services created before `before` (ISO-8601), by name (a name may repeat). */
export async function computeHostsCreatedBefore(db: Db, before: string): Promise<string[]> {
  const rows = await db.selectFrom('services').select('host').where('binary', '=', 'nova-compute').where('deleted', '=', 0)
    .where('created_at', '<', before).orderBy('host').execute();
  return rows.map((r) => r.host);
}

/** Enables or disables a service by its id, clearing the reason (os-hosts). */
export async function setServiceDisabled(db: Db, id: number, disabled: boolean): Promise<void> {
  await db.updateTable('services').set({ disabled: disabled ? 1 : 0, disabled_reason: null, updated_at: now().toISOString() })
    .where('id', '=', id).execute();
}

/** Changes the live service `binary` on `host`; false when there is none. */
export async function changeService(db: Db, host: string, binary: string, changes: ServiceChanges): Promise<boolean> {
  const res = await db.updateTable('services').set({ ...changes, updated_at: now().toISOString() })
    .where('host', '=', host).where('binary', '=', binary).where('deleted', '=', 0).executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/**
 * Deletes a service. A compute service goes with its nodes (their inventories and traits) and
 * its aggregate memberships; one still hosting instances is refused.
 */
export async function deleteService(db: Db, id: number): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const svc = await tx.selectFrom('services').select(['id', 'host', 'binary']).where('id', '=', id).where('deleted', '=', 0).executeTakeFirst();
    if (!svc) throw new NotFound(`Service ${id} not found.`);
    const ts = now().toISOString();
    if (svc.binary === 'nova-compute') {
      const n = await tx.selectFrom('instances').select((eb) => eb.fn.countAll<number>().as('n'))
        .where('host', '=', svc.host).where('deleted', '=', 0).executeTakeFirstOrThrow();
      if (Number(n.n) > 0) {
        throw new Conflict('Unable to delete compute service that is hosting instances. Migrate or delete the instances first.');
      }
      const nodes = await tx.selectFrom('compute_nodes').select(['id', 'uuid']).where('host', '=', svc.host).where('deleted', '=', 0).execute();
      for (const node of nodes) {
        await tx.updateTable('compute_nodes').set({ deleted: node.id, updated_at: ts }).where('id', '=', node.id).execute();
        await tx.deleteFrom('inventories').where('node_uuid', '=', node.uuid).execute();
        await tx.deleteFrom('node_traits').where('node_uuid', '=', node.uuid).execute();
      }
      await removeHostFromAllAggregates(tx, svc.host);
    }
    await tx.updateTable('services').set({ deleted: svc.id, updated_at: ts }).where('id', '=', svc.id).execute();
  });
}
