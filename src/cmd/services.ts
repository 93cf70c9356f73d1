import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { loadDriver } from '@orrery/virt-api';
import type { Config } from '../common/config.js';
import type { Logger } from '../common/logging.js';
import { recordDriverCall } from '../common/metrics.js';
import { openConfiguredDatabase, migrate, pendingMigrations, type Db } from '../db/connection.js';
import { seedFlavors } from '../db/flavors.js';
import { computePin } from '../db/services.js';
import { ConductorRpcApi } from '../rpc/conductor-api.js';
import { ComputeRpcApi } from '../rpc/compute-api.js';
import type { Bus } from '../rpc/bus.js';
import { TokenService } from '../auth/tokens.js';
import { applyPolicyFile } from '../auth/policy/file.js';
import { defaultEnforcer } from './policies.js';
import { bootstrapIdentity } from '../identity/bootstrap.js';
import { createIdentityApp } from '../identity/app.js';
import { CatalogStore, catalogService, type CatalogService } from '../identity/catalog.js';
import { createImageApp } from '../image/app.js';
import { createBaremetalApp } from '../baremetal/app.js';
import { BaremetalRpcApi } from '../rpc/baremetal-api.js';
import { CredentialKeys } from '../identity/credential-keys.js';
import { seedImage } from '../image/seed.js';
import { createComputeApp } from '../api/compute-app.js';
import { createPlacementApp } from '../api/placement-app.js';
import { createNetworkApp } from '../network/app.js';
import { createMetadataApp } from '../api/metadata-app.js';
import { NovaNotifier } from '../network/nova-notifier.js';
import { IdentityClient } from '../clients/identity-client.js';
import { ImageClient } from '../clients/image-client.js';
import { NetworkClient } from '../clients/network-client.js';
import { SchedulerService } from '../scheduler/scheduler.js';
import { ConductorService } from '../conductor/conductor.js';
import { ComputeService } from '../compute/manager.js';
import { driverImageService } from '../compute/image-service.js';
import { startNetworkAgent } from './network-agent.js';
import { startConfiguredDashboard } from '../dashboard/index.js';
import { healthProbesFor, setHealthProbes } from '../httpkit/healthcheck.js';
import { listenFailure } from './startup.js';
import { startConsoleProxies, type ConsoleProxies } from '../consoles/proxy.js';
import { BaremetalWorker } from '../baremetal/worker.js';

/** The building blocks every entry point composes: one function per service. */

/** Drivers that ship with Orrery, by the short name `compute_driver` may use. */
export const BUNDLED_DRIVERS: Record<string, string> = { fake: '@orrery/driver-fake', libvirt: '@orrery/driver-libvirt', docker: '@orrery/driver-docker', ironic: '@orrery/driver-ironic' };

export interface CloudUrls {
  identity: string;
  image: string;
  compute: string;
  placement: string;
  network: string;
  /** The Bare Metal API (Ironic v1). */
  baremetal: string;
  /** Nova's metadata API (not in the catalog: guests reach it through the metadata proxy). */
  metadata: string;
}

/** Opens the configured database and applies every pending migration (the all-in-one). */
export async function openMigratedDatabase(config: Config): Promise<Db> {
  const db = openConfiguredDatabase(config);
  await migrate(db);
  return db;
}

/**
 * Opens the configured database for one service of a deployment, which never migrates it
 * (`orrery db sync` does): it refuses to start on a schema that lacks this release's expand steps.
 */
export async function openServiceDatabase(config: Config): Promise<Db> {
  const db = openConfiguredDatabase(config);
  const pending = await pendingMigrations(db, ['expand']);
  if (pending.length > 0) {
    await db.destroy();
    throw new Error(`the database schema is behind this release (${pending.join(', ')} not applied): run \`orrery db sync\` first`);
  }
  return db;
}

async function listen(app: FastifyInstance, host: string, port: number, option: string): Promise<string> {
  await app.listen({ host, port }).catch((err: unknown) => {
    throw listenFailure(err, host, port, option);
  });
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
    catalogService('network', 'neutron', urls.network, region),
    catalogService('baremetal', 'ironic', urls.baremetal, region),
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

export interface ApiService {
  urls: CloudUrls;
  apps: Record<keyof CloudUrls, FastifyInstance>;
  openrcPath: string;
  /** The web dashboard's URL (null when `[api] dashboard_port` is empty). */
  dashboardUrl: string | null;
  /** Recomputes the compute RPC pin from the live services (SIGHUP). */
  refreshPins(): Promise<string>;
  /** Re-reads policy.yaml (SIGHUP); a bad file keeps the rules in force and throws why. */
  reloadPolicy(): Promise<string>;
  /** The console proxies ([vnc], [serial_console]) of this process. */
  consoles: ConsoleProxies;
  stop(): Promise<void>;
}

/**
 * The API service: identity, image, compute, placement and network REST APIs on their ports. Creates
 * the bootstrap admin, default flavors and the seed image on first start, and writes openrc.
 */
export async function startApi(config: Config, db: Db, bus: Bus, log: Logger): Promise<ApiService> {
  await bootstrapIdentity(db, config);
  await seedFlavors(db);
  const timeout = config.num('DEFAULT', 'rpc_response_timeout') * 1000;
  const tokens = new TokenService(db, config);
  // One rule set for the four APIs, as one policy file; a bad file at start refuses to start.
  const policy = defaultEnforcer();
  const policyPath = config.configRelative(config.str('oslo_policy', 'policy_file'));
  const reloadPolicy = async (): Promise<string> => `${await applyPolicyFile(policy, policyPath)} policy overrides from ${policyPath}`;
  log.info({ policy: await reloadPolicy() }, 'policy loaded');
  const bindHost = config.str('DEFAULT', 'bind_host');
  const urls: CloudUrls = { identity: '', image: '', compute: '', placement: '', network: '', baremetal: '', metadata: '' };
  // The catalog is rows (issue #22): the services this process runs are written there once it listens.
  const catalog = new CatalogStore(db, (err) => log.warn({ err }, 'catalog refresh failed'));
  const compute = new ComputeRpcApi(bus, timeout, () => computePin(db, config));
  const deps = {
    db, config, log, tokens, policy, compute,
    images: new ImageClient(async () => urls.image),
    conductor: new ConductorRpcApi(bus, timeout),
    // Set once the APIs listen (the service user authenticates at the identity URL): the user's
    // token for what a request asks, the service user's for the API's own work (a local delete's ports).
    network: undefined as NetworkClient | undefined,
    consoleProxies: { novnc: null as number | null, serial: null as number | null },
  };
  const apps = {
    identity: createIdentityApp({ db, config, tokens, policy, log, catalog: catalog.provider }),
    image: createImageApp({ db, config, tokens, policy, log }),
    compute: createComputeApp(deps),
    placement: createPlacementApp(deps),
    // Port changes of servers are told to the compute API (Neutron's [nova] notifier), as the service user.
    network: createNetworkApp({ db, config, tokens, policy, log, notifier: NovaNotifier.forCloud(() => IdentityClient.fromConfig(config, `${urls.identity}/v3`), log) }),
    baremetal: createBaremetalApp({ db, config, tokens, policy, log, keys: CredentialKeys.fromConfig(config), conductor: new BaremetalRpcApi(bus, timeout) }),
    // The service user's client of the Network API, made once the APIs listen (below).
    metadata: createMetadataApp({ db, config, tokens, policy, log, network: () => deps.network ?? null }),
  };
  for (const name of Object.keys(apps) as Array<keyof CloudUrls>) {
    setHealthProbes(apps[name], healthProbesFor(db, config, bus));
    urls[name] = await listen(apps[name], bindHost, config.num('api', `${name}_port`), `[api] ${name}_port`).catch(async (err: unknown) => {
      await Promise.all(Object.values(apps).map((a) => a.close()));
      throw err;
    });
  }
  const dashboard = await startConfiguredDashboard(config, urls, log).catch(async (err: unknown) => {
    await Promise.all(Object.values(apps).map((a) => a.close()));
    throw err;
  });
  const region = config.str('DEFAULT', 'region_name');
  await catalog.seed([...catalogFor(urls, region), ...(dashboard ? [catalogService('dashboard', 'horizon', dashboard.url, region)] : [])], region);
  deps.network = new NetworkClient(config.opt('neutron', 'endpoint_override') || urls.network, IdentityClient.fromConfig(config, urls.identity));
  await seedImage(db, config);
  const consoles = await startConsoleProxies({ config, db, compute, log }).catch(async (err: unknown) => {
    await dashboard?.stop();
    await Promise.all(Object.values(apps).map((a) => a.close()));
    throw err;
  });
  deps.consoleProxies = { novnc: consoles.novnc?.port ?? null, serial: consoles.serial?.port ?? null };
  const openrcPath = config.statePath('openrc');
  mkdirSync(dirname(openrcPath), { recursive: true });
  writeFileSync(openrcPath, openrcText(config, urls), { mode: 0o600 });
  return {
    urls, apps, openrcPath, dashboardUrl: dashboard?.url ?? null, refreshPins: () => compute.refreshPin(), reloadPolicy, consoles,
    stop: async () => {
      await consoles.stop();
      await dashboard?.stop();
      await Promise.all(Object.values(apps).map((a) => a.close()));
    },
  };
}

export async function startScheduler(config: Config, db: Db, bus: Bus, log: Logger, host: string): Promise<SchedulerService> {
  const scheduler = new SchedulerService(db, config, log.child({ service: 'scheduler', host }), host);
  await scheduler.start(bus);
  return scheduler;
}

export async function startConductor(config: Config, db: Db, bus: Bus, log: Logger, host: string, authUrl?: string): Promise<ConductorService> {
  // The flows' transfer and shelve images are made with the service user's credentials.
  const url = config.opt('service_user', 'auth_url') || authUrl;
  const images = url ? new ImageClient(IdentityClient.fromConfig(config, url)) : null;
  const conductor = new ConductorService(db, config, log.child({ service: 'conductor', host }), host, images);
  await conductor.start(bus);
  // Every conductor is also a Bare Metal conductor (topic baremetal), stopped before it.
  const baremetal = new BaremetalWorker({ db, config, log: log.child({ service: 'baremetal-conductor', host }), host, keys: CredentialKeys.fromConfig(config), images });
  await baremetal.start(bus).catch(async (err: unknown) => { await conductor.stop(); throw err; });
  const stopConductor = conductor.stop.bind(conductor);
  conductor.stop = async () => { await baremetal.stop(); await stopConductor(); };
  return conductor;
}

/**
 * One compute service: its driver loaded by name, images reached over the image API with the
 * service user's credentials. It needs no database.
 */
export async function startCompute(config: Config, bus: Bus, host: string, authUrl: string | undefined, log: Logger): Promise<ComputeService> {
  const longMs = config.num('compute', 'long_call_timeout') * 1000;
  const driver = await loadDriver(config.str('DEFAULT', 'compute_driver'), {
    bundled: BUNDLED_DRIVERS, baseDir: process.cwd(),
    // A deadline on the long calls; the guard aborts a 1.1 driver's signal when it passes.
    guard: { ...(longMs > 0 ? { timeoutMs: { spawn: longMs, snapshot: longMs, destroy: longMs } } : {}), onCallSettled: recordDriverCall },
  });
  const compute = new ComputeService(bus, {
    config, host, log: log.child({ service: 'compute', host }), driver,
    images: driverImageService(IdentityClient.fromConfig(config, authUrl)),
    network: networkClientFor(config, authUrl),
  });
  await compute.start();
  return compute;
}

/** The compute service's Network API client: `[neutron] endpoint_override` or the catalog's `network`, with the service user's credentials. */
function networkClientFor(config: Config, authUrl: string | undefined): NetworkClient {
  const identity = IdentityClient.fromConfig(config, authUrl);
  const override = config.opt('neutron', 'endpoint_override');
  return override ? new NetworkClient(override, identity) : new NetworkClient(identity);
}

export interface ServiceGroup {
  computes: ComputeService[];
  stop(): Promise<void>;
}

/**
 * The services behind the APIs in the all-in-one: scheduler, conductor, and one compute service
 * per `compute_hosts` entry.
 */
export async function startServiceGroup(config: Config, db: Db, bus: Bus, log: Logger, authUrl: string): Promise<ServiceGroup> {
  const host = config.str('DEFAULT', 'host');
  const started: Array<{ stop(): Promise<void> }> = [];
  const computes: ComputeService[] = [];
  // Stops in reverse order of start: computes first, so nothing they send finds its service gone.
  const stop = async (): Promise<void> => {
    for (const s of started.reverse()) await s.stop();
  };
  try {
    started.push(await startScheduler(config, db, bus, log, host));
    started.push(await startConductor(config, db, bus, log, host, authUrl));
    for (const computeHost of config.list('DEFAULT', 'compute_hosts')) {
      const compute = await startCompute(config, bus, computeHost, authUrl, log);
      computes.push(compute);
      started.push(compute);
      // #13: the host's network agent (noop data plane unless [network_agent] dataplane = linux).
      if (config.opt('network_agent', 'in_process') !== 'false') started.push(await startNetworkAgent(config, computeHost, authUrl, log));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { computes, stop };
}
