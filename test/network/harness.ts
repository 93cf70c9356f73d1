import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { TokenService } from '../../src/auth/tokens.js';
import { Config, type IniData } from '../../src/common/config.js';
import { createLogger } from '../../src/common/logging.js';
import { migrate, openDatabase, type Db } from '../../src/db/connection.js';
import { createIdentityApp } from '../../src/identity/app.js';
import { bootstrapIdentity } from '../../src/identity/bootstrap.js';
import { catalogService, type CatalogService } from '../../src/identity/catalog.js';
import { createNetworkApp } from '../../src/network/app.js';
import { NovaNotifier, type ServerExternalEvent } from '../../src/network/nova-notifier.js';
import { defaultEnforcer } from '../../src/cmd/policies.js';
import { api, type ApiResponse } from '../support/http.js';
import { createPgDatabase, type TestPgDatabase } from '../support/postgres.js';
import { login, type Login } from '../identity/harness.js';

/**
 * The identity and network APIs on free ports over a fresh database (SQLite in a temporary
 * folder, or a new PostgreSQL database): what the network API tests run against. The Nova
 * notifier's events are collected in `events` instead of being posted.
 */
export interface NetServices {
  config: Config;
  db: Db;
  identityUrl: string;
  netUrl: string;
  events: ServerExternalEvent[];
  notifier: NovaNotifier;
  close(): Promise<void>;
}

export async function startNet(engine: 'sqlite' | 'postgresql' = 'sqlite', overrides: IniData = {}): Promise<NetServices> {
  const stateDir = mkdtempSync(join(tmpdir(), 'orrery-net-'));
  const config = new Config({
    DEFAULT: { state_path: stateDir },
    identity: { password_hash_cost: '1024', password_hash_rounds: '1000' },
  }, {}).with(overrides);
  let pg: TestPgDatabase | undefined;
  if (engine === 'postgresql') pg = await createPgDatabase();
  const db = openDatabase(pg?.url ?? `sqlite:///${join(stateDir, 'orrery.sqlite')}`);
  await migrate(db);
  await bootstrapIdentity(db, config);
  const tokens = new TokenService(db, config);
  const log = createLogger('test', process.env.ORRERY_LOG_LEVEL ?? 'warn');
  const events: ServerExternalEvent[] = [];
  const notifier = new NovaNotifier(log, async (e) => {
    events.push(...e);
  });
  let catalog: CatalogService[] = [];
  const policy = defaultEnforcer();
  const apps: FastifyInstance[] = [
    createIdentityApp({ db, config, tokens, log, policy, catalog: () => catalog }),
    createNetworkApp({ db, config, tokens, log, policy, notifier }),
  ];
  const [identityUrl, netUrl] = await Promise.all(apps.map(async (app) => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  })) as [string, string];
  const region = config.str('DEFAULT', 'region_name');
  catalog = [catalogService('identity', 'keystone', `${identityUrl}/v3`, region), catalogService('network', 'neutron', netUrl, region)];
  return {
    config, db, identityUrl, netUrl, events, notifier,
    close: async () => {
      await Promise.all(apps.map(async (a) => {
        const closing = a.close();
        a.server.closeAllConnections();
        await closing;
      }));
      await db.destroy();
      await pg?.drop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

export const adminOf = (s: NetServices): Promise<Login> => login(s as never, 'admin', 'secret', 'admin');

/** A user with `role` (member or reader) on a project made for it (made once per name). */
export async function userWith(s: NetServices, admin: Login, project: string, user: string, role: 'member' | 'reader' | 'admin'): Promise<Login> {
  const idu = (p: string): string => `${s.identityUrl}/v3${p}`;
  let p = await api(admin, 'GET', idu(`/projects?name=${project}`));
  let projectId: string = p.body.projects[0]?.id;
  if (!projectId) {
    p = await api(admin, 'POST', idu('/projects'), { project: { name: project } });
    projectId = p.body.project.id;
  }
  const u = await api(admin, 'POST', idu('/users'), { user: { name: user, password: 'pw' } });
  const roles = await api(admin, 'GET', idu(`/roles?name=${role}`));
  const grant = await api(admin, 'PUT', idu(`/projects/${projectId}/users/${u.body.user.id}/roles/${roles.body.roles[0].id}`));
  if (grant.status !== 204) throw new Error(`grant failed: ${grant.status}`);
  return login(s as never, user, 'pw', project);
}

/** One call of the network API as `who`. */
export function net<T = any>(s: NetServices, who: Login | null, method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
  return api<T>(who, method, `${s.netUrl}${path}`, body);
}
