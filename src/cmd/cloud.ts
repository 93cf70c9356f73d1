import type { FastifyInstance } from 'fastify';
import type { Config } from '../common/config.js';
import { createLogger, type Logger } from '../common/logging.js';
import type { Db } from '../db/connection.js';
import { InProcessBus } from '../rpc/inprocess-bus.js';
import type { Bus } from '../rpc/bus.js';
import type { ComputeService } from '../compute/manager.js';
import { openMigratedDatabase, startApi, startServiceGroup, type CloudUrls } from './services.js';

export { BUNDLED_DRIVERS, type CloudUrls } from './services.js';

export interface RunningCloud {
  urls: CloudUrls;
  openrcPath: string;
  /** The web dashboard's URL (null when `[api] dashboard_port` is empty). */
  dashboardUrl: string | null;
  db: Db;
  bus: Bus;
  computes: ComputeService[];
  /** The HTTP apps, by API (the route-table tests walk their routes). */
  apps: Record<keyof CloudUrls, FastifyInstance>;
  /** Re-reads policy.yaml (SIGHUP); a bad file keeps the rules in force and throws why. */
  reloadPolicy(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts the whole cloud in this process: the APIs, conductor, scheduler and one compute
 * service per `compute_hosts` entry, on the in-process bus and SQLite (`npm start`).
 */
export async function startAllInOne(config: Config, log: Logger = createLogger('orrery')): Promise<RunningCloud> {
  const db = await openMigratedDatabase(config);
  const bus = new InProcessBus(log);
  const api = await startApi(config, db, bus, log).catch(async (err: unknown) => {
    await db.destroy();
    throw err;
  });
  const services = await startServiceGroup(config, db, bus, log, `${api.urls.identity}/v3`).catch(async (err: unknown) => {
    await api.stop();
    await db.destroy();
    throw err;
  });
  return {
    urls: api.urls, openrcPath: api.openrcPath, dashboardUrl: api.dashboardUrl, db, bus, computes: services.computes, apps: api.apps, reloadPolicy: api.reloadPolicy,
    stop: async () => {
      await services.stop();
      await api.stop();
      await bus.close();
      await db.destroy();
    },
  };
}
