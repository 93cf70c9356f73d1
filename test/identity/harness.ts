import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { TokenService } from '../../src/auth/tokens.js';
import { Config, type IniData } from '../../src/common/config.js';
import { createLogger } from '../../src/common/logging.js';
import { migrate, openDatabase, type Db } from '../../src/db/connection.js';
import { createIdentityApp } from '../../src/identity/app.js';
import { bootstrapIdentity } from '../../src/identity/bootstrap.js';
import { catalogService, type CatalogService } from '../../src/identity/catalog.js';
import { createImageApp } from '../../src/image/app.js';
import { api, type ApiResponse } from '../support/http.js';
import { defaultEnforcer } from '../../src/cmd/policies.js';

/** Identity and image APIs on free ports over a temporary SQLite database and image store. */
export interface Services {
  config: Config;
  db: Db;
  tokens: TokenService;
  stateDir: string;
  identityUrl: string;
  imageUrl: string;
  catalog: CatalogService[];
  close(): Promise<void>;
}

export interface ServiceOptions {
  /** The identity API's clock (lockouts, the login failure limit): tests move it instead of sleeping. */
  clock?: () => Date;
}

export async function startServices(overrides: IniData = {}, opts: ServiceOptions = {}): Promise<Services> {
  const stateDir = mkdtempSync(join(tmpdir(), 'orrery-idimg-'));
  const config = new Config({
    DEFAULT: { state_path: stateDir },
    // A cheap hash keeps tests quick; the default stays slow.
    identity: { password_hash_cost: '1024', password_hash_rounds: '1000' },
    image: { seed_image: 'false' },
  }, {}).with(overrides);
  const db = openDatabase(`sqlite:///${join(stateDir, 'orrery.sqlite')}`);
  await migrate(db);
  await bootstrapIdentity(db, config);
  const tokens = new TokenService(db, config);
  const log = createLogger('test', process.env.ORRERY_LOG_LEVEL ?? 'warn');
  let catalog: CatalogService[] = [];
  const apps: FastifyInstance[] = [
    createIdentityApp({ db, config, tokens, log, policy: defaultEnforcer(), catalog: () => catalog, clock: opts.clock }),
    createImageApp({ db, config, tokens, log, policy: defaultEnforcer() }),
  ];
  const [identityUrl, imageUrl] = await Promise.all(apps.map(async (app) => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  })) as [string, string];
  const region = config.str('DEFAULT', 'region_name');
  catalog = [
    catalogService('identity', 'keystone', `${identityUrl}/v3`, region),
    catalogService('image', 'glance', imageUrl, region),
  ];
  return {
    config, db, tokens, stateDir, identityUrl, imageUrl, catalog,
    close: async () => {
      // A streamed response may finish on the server just after the client has all its bytes,
      // leaving a keep-alive connection that close() alone would wait on for its whole timeout.
      await Promise.all(apps.map(async (a) => {
        const closing = a.close();
        a.server.closeAllConnections();
        await closing;
      }));
      await db.destroy();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** One JSON request; `raw` goes as it is (malformed JSON, an upload), with its own content-type. */
export function call<T = any>(method: string, url: string, o: {
  token?: string; body?: unknown; headers?: Record<string, string>; raw?: string | Uint8Array;
} = {}): Promise<ApiResponse<T>> {
  return api<T>(o.token === undefined ? null : { token: o.token }, method, url, o.body !== undefined ? o.body : o.raw, o.headers);
}

export interface Login {
  token: string;
  userId: string;
  projectId: string | null;
  body: any;
}

/** Password authentication by user and project name in the Default domain. */
export async function login(s: Services, user: string, password: string, project: string | null): Promise<Login> {
  const scope = project === null ? undefined : { project: { name: project, domain: { id: 'default' } } };
  const r = await call('POST', `${s.identityUrl}/v3/auth/tokens`, {
    body: { auth: { identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } }, scope } },
  });
  if (r.status !== 201) throw new Error(`login ${user} failed: ${r.status} ${JSON.stringify(r.body)}`);
  return { token: r.headers.get('x-subject-token')!, userId: r.body.token.user.id, projectId: r.body.token.project?.id ?? null, body: r.body };
}

export const adminLogin = (s: Services): Promise<Login> => login(s, 'admin', 'secret', 'admin');

/** Creates a project and a user with the member role on it; returns the user's login. */
export async function memberOf(s: Services, admin: Login, projectName: string, userName = `${projectName}-user`): Promise<Login> {
  const p = await call('POST', `${s.identityUrl}/v3/projects`, { token: admin.token, body: { project: { name: projectName } } });
  const u = await call('POST', `${s.identityUrl}/v3/users`, { token: admin.token, body: { user: { name: userName, password: 'pw' } } });
  const roles = await call('GET', `${s.identityUrl}/v3/roles?name=member`, { token: admin.token });
  const grant = await call('PUT', `${s.identityUrl}/v3/projects/${p.body.project.id}/users/${u.body.user.id}/roles/${roles.body.roles[0].id}`, { token: admin.token });
  if (grant.status !== 204) throw new Error(`grant failed: ${grant.status}`);
  return login(s, userName, 'pw', projectName);
}

/** A GET with a chosen Host header (fetch may not set Host): what a client behind a proxy sends. */
export function getWithHost(url: string, host: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A JSON POST from a chosen local address (127.0.0.0/8 is all loopback on Linux): what a
 * second client machine looks like to the server, without trusting any proxy header.
 */
export function postFrom(localAddress: string, url: string, body: unknown): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const u = new URL(url);
    const req = request({
      host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method: 'POST', localAddress, agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** The body of a password login by user name in the Default domain, optionally scoped to a project by name. */
export function passwordAuth(user: string, password: string, project?: string): unknown {
  const scope = project === undefined ? undefined : { project: { name: project, domain: { id: 'default' } } };
  return { auth: { identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password } } }, scope } };
}
