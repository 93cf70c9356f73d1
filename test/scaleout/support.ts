import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fakeBackendPath, openFakeBackend } from '@orrery/driver-fake';
import { api, waitFor, type Session } from '../support/cloud.js';
import type { Deployment } from '../support/deployment.js';

const MV = { 'openstack-api-version': 'compute 2.37' };

/** Password login against a deployment's identity API. */
export async function loginTo(identity: string, user = 'admin', password = 'secret', project = 'admin'): Promise<Session> {
  const res = await api(null, 'POST', `${identity}/v3/auth/tokens`, {
    auth: {
      identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password } } },
      scope: { project: { name: project, domain: { id: 'default' } } },
    },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { token: res.headers.get('x-subject-token')!, projectId: res.body.token.project.id, userId: res.body.token.user.id };
}

export async function raiseQuota(d: Deployment, s: Session, instances: number): Promise<void> {
  const r = await api(s, 'PUT', `${d.urls.compute}/v2.1/os-quota-sets/${s.projectId}`, {
    quota_set: { instances, cores: instances * 4, ram: instances * 4096 },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

export async function seededImage(d: Deployment, s: Session): Promise<string> {
  return (await api(s, 'GET', `${d.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
}

/** Fires `count` creates at once; every one must be accepted. */
export async function bootMany(d: Deployment, s: Session, count: number, prefix: string, imageId: string, extra: Record<string, unknown> = {}): Promise<string[]> {
  const results = await Promise.all(Array.from({ length: count }, (_, i) => api(s, 'POST', `${d.urls.compute}/v2.1/servers`, {
    server: { name: `${prefix}${i}`, imageRef: imageId, flavorRef: '1', networks: 'none', ...extra },
  }, MV)));
  for (const r of results) assert.equal(r.status, 202, JSON.stringify(r.body));
  return results.map((r) => r.body.server.id as string);
}

export interface ServerView {
  id: string;
  name: string;
  status: string;
  'OS-EXT-SRV-ATTR:host': string | null;
  'OS-EXT-STS:task_state': string | null;
  fault?: { message: string };
}

export async function listServers(d: Deployment, s: Session): Promise<ServerView[]> {
  const out: ServerView[] = [];
  let url = `${d.urls.compute}/v2.1/servers/detail?limit=1000`;
  for (;;) {
    const r = await api(s, 'GET', url, undefined, MV);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    out.push(...r.body.servers);
    const next = (r.body.servers_links ?? []).find((l: { rel: string }) => l.rel === 'next');
    if (!next) return out;
    url = next.href;
  }
}

/** Waits until every listed server has left BUILD and has no task in progress. */
export async function waitSettled(d: Deployment, s: Session, ids: string[], timeoutMs = 120_000): Promise<ServerView[]> {
  const want = new Set(ids);
  return waitFor(`${ids.length} servers to settle`, async () => {
    const all = (await listServers(d, s)).filter((v) => want.has(v.id));
    return all.length === ids.length && all.every((v) => v.status !== 'BUILD' && !v['OS-EXT-STS:task_state']) ? all : undefined;
  }, timeoutMs);
}

export async function deleteAll(d: Deployment, s: Session): Promise<void> {
  const all = await listServers(d, s);
  await Promise.all(all.map((v) => api(s, 'DELETE', `${d.urls.compute}/v2.1/servers/${v.id}`)));
  await waitFor('every server to be gone', async () => ((await listServers(d, s)).length === 0 ? true : undefined), 120_000);
}

/** How many times the fake back-end of `host` spawned each instance (its own record). */
export function spawnCounts(d: Deployment, host: string): Map<string, number> {
  const b = openFakeBackend(fakeBackendPath(join(d.stateDir, 'compute', host), host));
  try {
    return b.spawnCounts();
  } finally {
    b.close();
  }
}

export function fakeBackendOf(d: Deployment, host: string) {
  return openFakeBackend(fakeBackendPath(join(d.stateDir, 'compute', host), host));
}

export { MV };
