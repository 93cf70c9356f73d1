import type { Config } from '../common/config.js';
import { newUuid } from '../common/ids.js';
import { now } from '../common/time.js';
import type { Db } from './connection.js';

export interface ServiceIdentity {
  host: string;
  binary: string;
  topic: string;
  version: string;
}

/** What a compute reports of its driver's back-end (conductor RPC 1.3). */
export interface BackendHealth {
  reachable: boolean;
  latencyMs: number | null;
  message: string;
}

/**
 * The prefix of a disabled reason the service itself set (Nova's libvirt driver does the same
 * with "AUTO: Connection to libvirt lost"): only such a disable is lifted when the back-end
 * answers again; an operator's disable stays.
 */
export const AUTO_DISABLED = 'AUTO: ';

/** The disabled reason for an unreachable back-end, within the column's 255 characters. */
export function backendDownReason(message: string): string {
  return `${AUTO_DISABLED}driver back-end unreachable: ${message}`.slice(0, 255);
}

/**
 * Records that a service is alive: creates its row on first report, then bumps last_seen_up.
 * With `health`, a back-end reported unreachable disables the service (so the scheduler
 * passes it by and os-services shows why), and one reachable again lifts that disable.
 */
export async function reportService(db: Db, who: ServiceIdentity, health?: BackendHealth): Promise<{ disabled: boolean; forcedDown: boolean }> {
  const ts = now().toISOString();
  const res = await db.updateTable('services')
    .set((eb) => ({ last_seen_up: ts, updated_at: ts, version: who.version, topic: who.topic, report_count: eb('report_count', '+', 1) }))
    .where('host', '=', who.host).where('binary', '=', who.binary).where('deleted', '=', 0)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) === 0) {
    await db.insertInto('services').values({
      uuid: newUuid(), host: who.host, binary: who.binary, topic: who.topic, disabled: 0, disabled_reason: null,
      forced_down: 0, last_seen_up: ts, report_count: 1, version: who.version, created_at: ts, updated_at: ts, deleted: 0,
    }).onConflict((oc) => oc.doNothing()).execute();
  }
  if (health) await applyBackendHealth(db, who, health, ts);
  const row = await db.selectFrom('services').select(['disabled', 'forced_down'])
    .where('host', '=', who.host).where('binary', '=', who.binary).where('deleted', '=', 0).executeTakeFirstOrThrow();
  return { disabled: row.disabled === 1, forcedDown: row.forced_down === 1 };
}

/** One conditional update each way, so a report racing an operator's enable or disable never undoes it. */
async function applyBackendHealth(db: Db, who: ServiceIdentity, health: BackendHealth, ts: string): Promise<void> {
  const mine = db.updateTable('services').where('host', '=', who.host).where('binary', '=', who.binary).where('deleted', '=', 0);
  if (!health.reachable) {
    const reason = backendDownReason(health.message);
    // Disables an enabled service, or refreshes the reason of one this rule disabled.
    await mine.set({ disabled: 1, disabled_reason: reason, updated_at: ts })
      .where((eb) => eb.or([eb('disabled', '=', 0), eb('disabled_reason', 'like', `${AUTO_DISABLED}%`)]))
      .where((eb) => eb.or([eb('disabled_reason', 'is', null), eb('disabled_reason', '!=', reason)]))
      .execute();
  } else {
    await mine.set({ disabled: 0, disabled_reason: null, updated_at: ts })
      .where('disabled', '=', 1).where('disabled_reason', 'like', `${AUTO_DISABLED}%`)
      .execute();
  }
}

/** Periodic heartbeat for services that have the database (conductor, scheduler). */
export class ServiceHeartbeat {
  private timer?: NodeJS.Timeout;

  constructor(private readonly db: Db, private readonly config: Config, private readonly who: ServiceIdentity) {}

  async start(): Promise<void> {
    await reportService(this.db, this.who);
    this.timer = setInterval(() => {
      reportService(this.db, this.who).catch(() => undefined);
    }, this.config.num('DEFAULT', 'report_interval') * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
