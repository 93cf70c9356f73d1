import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Config, type IniData } from '../../src/common/config.js';
import { createLogger } from '../../src/common/logging.js';
import { startAllInOne, type RunningCloud } from '../../src/cmd/cloud.js';
import { api, type Session } from './http.js';

// The request helper lives in http.ts; the cloud tests reach it through here.
export { api, type ApiResponse, type Session } from './http.js';

export interface TestCloud extends RunningCloud {
  config: Config;
  stateDir: string;
  /** Stops the cloud and removes its state. */
  close(): Promise<void>;
}

/** The all-in-one in this process, on free ports, with its state in a temporary directory. */
export async function startTestCloud(overrides: IniData = {}, log = createLogger('test', process.env.ORRERY_LOG_LEVEL ?? 'warn')): Promise<TestCloud> {
  const stateDir = mkdtempSync(join(tmpdir(), 'orrery-test-'));
  const base: IniData = {
    DEFAULT: { state_path: stateDir },
    api: { identity_port: '0', image_port: '0', compute_port: '0', placement_port: '0', network_port: '0', baremetal_port: '0', metadata_port: '0', dashboard_port: '0' },
    vnc: { novncproxy_port: '0' }, serial_console: { serialproxy_port: '0' },
    // A cheaper hash keeps tests quick; the default stays slow.
    identity: { password_hash_cost: '1024', password_hash_rounds: '1000' },
  };
  let config = new Config(base, {});
  config = config.with(overrides);
  const cloud = await startAllInOne(config, log);
  return {
    ...cloud, config, stateDir,
    close: async () => {
      await cloud.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** A password-authenticated, project-scoped session against the cloud's identity API. */
export async function login(cloud: RunningCloud, user: string, password: string, project: string): Promise<Session> {
  const res = await fetch(`${cloud.urls.identity}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password } } },
        scope: { project: { name: project, domain: { id: 'default' } } },
      },
    }),
  });
  if (res.status !== 201) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { token: { project: { id: string }; user: { id: string } } };
  return { token: res.headers.get('x-subject-token')!, projectId: body.token.project.id, userId: body.token.user.id };
}

/** A new project with a new user holding `member` on it, created through the identity API by `admin`, logged in. */
export async function memberOfNewProject(cloud: RunningCloud, admin: Session, project: string, user: string, password = 'pw'): Promise<Session> {
  const c = cloud.urls;
  const p = await api(admin, 'POST', `${c.identity}/v3/projects`, { project: { name: project, domain_id: 'default' } });
  const u = await api(admin, 'POST', `${c.identity}/v3/users`, { user: { name: user, password, domain_id: 'default' } });
  const role = await api(admin, 'GET', `${c.identity}/v3/roles?name=member`);
  const grant = await api(admin, 'PUT', `${c.identity}/v3/projects/${p.body.project.id}/users/${u.body.user.id}/roles/${role.body.roles[0].id}`);
  if (grant.status !== 204) throw new Error(`could not make ${user} a member of ${project}: ${grant.status}`);
  return login(cloud, user, password, project);
}

/** Polls until `check` returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
