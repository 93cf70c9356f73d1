import type { FastifyInstance } from 'fastify';
import type { Config } from '../common/config.js';
import { createLogger, type Logger } from '../common/logging.js';
import type { Db } from '../db/connection.js';
import { InProcessBus } from '../rpc/inprocess-bus.js';
import type { Bus } from '../rpc/bus.js';
import type { ComputeService } from '../compute/manager.js';
import { openMigratedDatabase, startApi, startCompute, startConductor, startScheduler, type CloudUrls } from './services.js';

export { BUNDLED_DRIVERS, type CloudUrls } from './services.js';

export interface RunningCloud {
  urls: CloudUrls;
  openrcPath: string;
  db: Db;
  bus: Bus;
  computes: ComputeService[];
  /** The HTTP apps, by API (the route-table tests walk their routes). */
  apps: Record<keyof CloudUrls, FastifyInstance>;
  stop(): Promise<void>;
}

/**
 * Starts the whole cloud in this process: the APIs, conductor, scheduler and one compute
 * service per `compute_hosts` entry, on the in-process bus and SQLite (`npm start`).
 */
export async function startAllInOne(config: Config, log: Logger = createLogger('orrery')): Promise<RunningCloud> {
  const db = await openMigratedDatabase(config);
  const bus = new InProcessBus(log);
  const api = await startApi(config, db, bus, log);
  const host = config.str('DEFAULT', 'host');
  const scheduler = await startScheduler(config, db, bus, log, host);
  const conductor = await startConductor(config, db, bus, log, host);
  const computes: ComputeService[] = [];
  for (const computeHost of config.list('DEFAULT', 'compute_hosts')) {
    computes.push(await startCompute(config, bus, computeHost, `${api.urls.identity}/v3`, log));
  }
  return {
    urls: api.urls, openrcPath: api.openrcPath, db, bus, computes, apps: api.apps,
    stop: async () => {
      for (const c of computes) await c.stop();
      await conductor.stop();
      await scheduler.stop();
      await api.stop();
      await bus.close();
      await db.destroy();
    },
  };
}
