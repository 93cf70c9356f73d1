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

/** Records that a service is alive: creates its row on first report, then bumps last_seen_up. */
export async function reportService(db: Db, who: ServiceIdentity): Promise<{ disabled: boolean; forcedDown: boolean }> {
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
  const row = await db.selectFrom('services').select(['disabled', 'forced_down'])
    .where('host', '=', who.host).where('binary', '=', who.binary).where('deleted', '=', 0).executeTakeFirstOrThrow();
  return { disabled: row.disabled === 1, forcedDown: row.forced_down === 1 };
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
