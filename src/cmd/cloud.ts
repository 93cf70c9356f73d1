import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { loadDriver } from '@orrery/virt-api';
import type { Config } from '../common/config.js';
import { createLogger, type Logger } from '../common/logging.js';
import { openDatabase, migrate, type Db } from '../db/connection.js';
import { seedFlavors } from '../db/flavors.js';
import { InProcessBus } from '../rpc/inprocess-bus.js';
import { ConductorRpcApi } from '../rpc/conductor-api.js';
import { ComputeRpcApi } from '../rpc/compute-api.js';
import type { Bus } from '../rpc/bus.js';
import { TokenService } from '../auth/tokens.js';
import { bootstrapIdentity } from '../identity/bootstrap.js';
import { createIdentityApp } from '../identity/app.js';
import { catalogService, type CatalogService } from '../identity/catalog.js';
import { createImageApp } from '../image/app.js';
import { seedImage } from '../image/seed.js';
import { createComputeApp } from '../api/compute-app.js';
import { createPlacementApp } from '../api/placement-app.js';
import { IdentityClient } from '../clients/identity-client.js';
import { ImageClient } from '../clients/image-client.js';
import { SchedulerService } from '../scheduler/scheduler.js';
import { ConductorService } from '../conductor/conductor.js';
import { ComputeService } from '../compute/manager.js';
import { driverImageService } from '../compute/image-service.js';

/** Drivers that ship with Orrery, by the short name `compute_driver` may use. */
export const BUNDLED_DRIVERS: Record<string, string> = { fake: '@orrery/driver-fake' };

export interface CloudUrls {
  identity: string;
  image: string;
  compute: string;
  placement: string;
}

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

async function listen(app: FastifyInstance, host: string, port: number): Promise<string> {
  await app.listen({ host, port });
  const addr = app.server.address() as AddressInfo;
  return `http://${host}:${addr.port}`;
}

/** The catalog every token carries: identity, compute (without project id), image, placement. */
function catalogFor(urls: CloudUrls, region: string): CatalogService[] {
  return [
    catalogService('identity', 'keystone', `${urls.identity}/v3`, region),
    catalogService('compute', 'nova', `${urls.compute}/v2.1`, region),
    catalogService('image', 'glance', urls.image, region),
    catalogService('placement', 'placement', urls.placement, region),
  ];
}

export function openrcText(config: Config, urls: CloudUrls): string {
  const vars: Record<string, string> = {
    OS_AUTH_URL: `${urls.identity}/v3`,
    OS_USERNAME: config.str('identity', 'admin_user'),
    OS_PASSWORD: config.str('identity', 'admin_password'),
    OS_PROJECT_NAME: config.str('identity', 'admin_project'),
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_NAME: 'Default',
    OS_REGION_NAME: config.str('DEFAULT', 'region_name'),
    OS_INTERFACE: 'public',
    OS_IDENTITY_API_VERSION: '3',
    OS_COMPUTE_API_VERSION: '2.37',
  };
  return Object.entries(vars).map(([k, v]) => `export ${k}=${v}`).join('\n') + '\n';
}

/**
 * Starts the whole cloud in this process: the APIs, conductor, scheduler and one compute
 * service per `compute_hosts` entry, on the in-process bus and SQLite (`npm start`).
 */
export async function startAllInOne(config: Config, log: Logger = createLogger('orrery')): Promise<RunningCloud> {
  const db = openDatabase(config.str('database', 'connection'));
  await migrate(db);
  await bootstrapIdentity(db, config);
  await seedFlavors(db);
  const bus = new InProcessBus(log);
  const timeout = config.num('DEFAULT', 'rpc_response_timeout') * 1000;
  const tokens = new TokenService(db, config);
  const region = config.str('DEFAULT', 'region_name');
  const bindHost = config.str('DEFAULT', 'bind_host');
  const urls: CloudUrls = { identity: '', image: '', compute: '', placement: '' };
  let catalog: CatalogService[] = [];

  const images = new ImageClient(async () => urls.image);
  const computeDeps = {
    db, config, log, images,
    conductor: new ConductorRpcApi(bus, timeout),
    compute: new ComputeRpcApi(bus, timeout),
    tokens,
  };
  const apps: FastifyInstance[] = [
    createIdentityApp({ db, config, tokens, log, catalog: () => catalog }),
    createImageApp({ db, config, tokens, log }),
    createComputeApp(computeDeps),
    createPlacementApp(computeDeps),
  ];
  const ports = ['identity_port', 'image_port', 'compute_port', 'placement_port'].map((p) => config.num('api', p));
  [urls.identity, urls.image, urls.compute, urls.placement] = await Promise.all(apps.map((a, i) => listen(a, bindHost, ports[i]!)));
  catalog = catalogFor(urls, region);
  await seedImage(db, config);

  const host = config.str('DEFAULT', 'host');
  const scheduler = new SchedulerService(db, config, log.child({ service: 'scheduler' }), host);
  const conductor = new ConductorService(db, config, log.child({ service: 'conductor' }), host);
  await scheduler.start(bus);
  await conductor.start(bus);

  const computes: ComputeService[] = [];
  for (const computeHost of config.list('DEFAULT', 'compute_hosts')) {
    computes.push(await startCompute(config, bus, computeHost, `${urls.identity}/v3`, log));
  }

  const openrcPath = config.statePath('openrc');
  mkdirSync(dirname(openrcPath), { recursive: true });
  writeFileSync(openrcPath, openrcText(config, urls), { mode: 0o600 });

  const [identityApp, imageApp, computeApp, placementApp] = apps as [FastifyInstance, FastifyInstance, FastifyInstance, FastifyInstance];
  return {
    urls, openrcPath, db, bus, computes,
    apps: { identity: identityApp, image: imageApp, compute: computeApp, placement: placementApp },
    stop: async () => {
      for (const c of computes) await c.stop();
      await conductor.stop();
      await scheduler.stop();
      await Promise.all(apps.map((a) => a.close()));
      await bus.close();
      await db.destroy();
    },
  };
}

/** Starts one compute service: its driver loaded by name, images reached over the image API. */
export async function startCompute(config: Config, bus: Bus, host: string, authUrl: string, log: Logger): Promise<ComputeService> {
  const driver = await loadDriver(config.str('DEFAULT', 'compute_driver'), { bundled: BUNDLED_DRIVERS, baseDir: process.cwd() });
  const identity = IdentityClient.fromConfig(config, authUrl);
  const compute = new ComputeService(bus, {
    config, host, log: log.child({ service: 'compute', host }), driver,
    images: driverImageService(identity),
  });
  await compute.start();
  return compute;
}
