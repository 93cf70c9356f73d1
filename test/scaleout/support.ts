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

// ---- fault storms ---------------------------------------------------------------------------

/** Servers a fault round creates: 60 at once, as issue #10's fault tests ask. */
export const FAULT_STORM = 60;

/** How many rounds of each fault a suite runs (issue #10: at least 3); ORRERY_FAULT_ROUNDS overrides. */
export const FAULT_ROUNDS = Math.max(1, Number(process.env.ORRERY_FAULT_ROUNDS ?? 3));

/** How long servers may take to leave BUILD after a fault (issue #10: none BUILD after 3 minutes). */
export const SETTLE_MS = 180_000;

/** Fake back-end capacity for a fault deployment: every round's servers fit, so ERROR comes only from faults. */
export const ROOMY_COMPUTE_ENV = { ORRERY_FAKE__MEMORY_MB: String(512 * 400), ORRERY_FAKE__VCPUS: '400', ORRERY_FAKE__DISK_GB: '4000' };

export interface StormOutcome {
  /** Ids of the servers accepted (202). */
  accepted: string[];
  /** Other answers by status (a fault may refuse creates, e.g. 503 while the database is unreachable). */
  refused: Map<number, number>;
}

/**
 * Fires `count` creates at once and runs `fault` while they are in flight. Every answer must be
 * 202 or one of `mayRefuse` (never a 5xx other than those, never a dropped connection).
 */
export async function stormWith(
  d: Deployment, s: Session, opts: { count?: number; prefix: string; imageId: string; fault: () => Promise<void>; mayRefuse?: number[] },
): Promise<StormOutcome> {
  const count = opts.count ?? FAULT_STORM;
  const answers = Promise.all(Array.from({ length: count }, (_, i) => api(s, 'POST', `${d.urls.compute}/v2.1/servers`, {
    server: { name: `${opts.prefix}${i}`, imageRef: opts.imageId, flavorRef: '1', networks: 'none' },
  }, MV).catch((err: unknown) => ({ status: 0, body: String(err), headers: new Headers() }))));
  await opts.fault();
  const accepted: string[] = [];
  const refused = new Map<number, number>();
  for (const r of await answers) {
    if (r.status === 202) {
      accepted.push(r.body.server.id as string);
      continue;
    }
    assert.ok(opts.mayRefuse?.includes(r.status), `create answered ${r.status}: ${JSON.stringify(r.body)}`);
    refused.set(r.status, (refused.get(r.status) ?? 0) + 1);
  }
  return { accepted, refused };
}

/** Waits until `check` holds, polling every 250 ms (a listing of 180 servers is not free), for at most `ms`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface FaultOutcome {
  active: ServerView[];
  error: ServerView[];
}

/**
 * Issue #10's invariants after a fault: every accepted server ends ACTIVE or ERROR with a fault
 * (none in BUILD or mid-task after SETTLE_MS), none is deleted by the system and no other
 * server appeared (nothing half-created), the claims in placement are exactly the ACTIVE
 * servers' (on their own nodes, and every provider's usage is the sum of its allocations),
 * every back-end spawned each server at most once (ACTIVE ones exactly once, and only they
 * still have a guest), and every process of the deployment still runs and reports up. `ids` are all the servers the
 * deployment's project should have (every round so far).
 */
export async function assertFaultInvariants(d: Deployment, s: Session, ids: string[], hosts: string[]): Promise<FaultOutcome> {
  const want = new Set(ids);
  let last: ServerView[] = [];
  try {
    await until(`${ids.length} servers to settle`, async () => {
      last = await listServers(d, s);
      const listed = new Set(last.map((v) => v.id));
      const missing = ids.filter((id) => !listed.has(id));
      assert.deepEqual(missing, [], 'servers deleted by the system');
      const extra = last.filter((v) => !want.has(v.id)).map((v) => `${v.name} ${v.status}`);
      assert.deepEqual(extra, [], 'servers nobody was told about');
      return last.every((v) => v.status !== 'BUILD' && !v['OS-EXT-STS:task_state']);
    }, SETTLE_MS);
  } catch (err) {
    const busy = last.filter((v) => v.status === 'BUILD' || v['OS-EXT-STS:task_state']);
    const states = [...new Set(busy.map((v) => `${v.status}/${v['OS-EXT-STS:task_state']}@${v['OS-EXT-SRV-ATTR:host']}`))];
    throw new Error(`${(err as Error).message}; ${busy.length} still busy: ${states.join(', ')}`);
  }
  const servers = last;
  const bad = servers.filter((v) => !(v.status === 'ACTIVE' || (v.status === 'ERROR' && v.fault?.message)));
  assert.deepEqual(bad.map((v) => `${v.name}: ${v.status}`), [], 'servers neither ACTIVE nor ERROR with a fault');
  const active = servers.filter((v) => v.status === 'ACTIVE');
  const error = servers.filter((v) => v.status === 'ERROR');

  // Claims: exactly the ACTIVE servers hold resources, each on its own node, and every counter agrees.
  const pl = { 'openstack-api-version': 'placement 1.11' };
  const providers = (await api(s, 'GET', `${d.urls.placement}/resource_providers`, undefined, pl)).body.resource_providers as Array<{ uuid: string; name: string }>;
  const holders = new Map<string, string>();
  for (const p of providers) {
    const allocs = (await api(s, 'GET', `${d.urls.placement}/resource_providers/${p.uuid}/allocations`, undefined, pl)).body.allocations as Record<string, { resources: Record<string, number> }>;
    const usages = (await api(s, 'GET', `${d.urls.placement}/resource_providers/${p.uuid}/usages`, undefined, pl)).body.usages as Record<string, number>;
    const summed = new Map<string, number>();
    for (const [consumer, a] of Object.entries(allocs)) {
      assert.ok(!holders.has(consumer), `${consumer} holds claims on two nodes`);
      holders.set(consumer, p.name);
      for (const [rc, n] of Object.entries(a.resources)) summed.set(rc, (summed.get(rc) ?? 0) + n);
    }
    for (const [rc, used] of Object.entries(usages)) assert.equal(used, summed.get(rc) ?? 0, `${p.name} ${rc}: usage ${used}, allocations ${summed.get(rc) ?? 0}`);
  }
  const leaked = [...holders.keys()].filter((c) => !active.some((v) => v.id === c));
  assert.deepEqual(leaked, [], 'claims held by servers that are not ACTIVE (leaked)');
  for (const v of active) {
    assert.equal(holders.get(v.id), (v as ServerView & { 'OS-EXT-SRV-ATTR:hypervisor_hostname': string })['OS-EXT-SRV-ATTR:hypervisor_hostname'], `${v.name}: claim not on its node`);
  }

  // Guests: every ACTIVE server has exactly one, on its host, spawned once; an ERROR one has none
  // left (its claim is gone, so a guest would hold resources nobody accounts for).
  const counts = new Map<string, number>();
  const guests = new Map<string, string[]>();
  for (const host of hosts) {
    const b = fakeBackendOf(d, host);
    try {
      for (const [uuid, n] of b.spawnCounts()) counts.set(uuid, (counts.get(uuid) ?? 0) + n);
      for (const g of b.listInstances()) guests.set(g.uuid, [...(guests.get(g.uuid) ?? []), host]);
    } finally {
      b.close();
    }
  }
  for (const v of servers) {
    const n = counts.get(v.id) ?? 0;
    const on = guests.get(v.id) ?? [];
    if (v.status === 'ACTIVE') {
      assert.equal(n, 1, `${v.name} (ACTIVE) spawned ${n} times`);
      assert.deepEqual(on, [v['OS-EXT-SRV-ATTR:host']], `${v.name} (ACTIVE): guests on ${on.join(', ') || 'no host'}`);
    } else {
      assert.ok(n <= 1, `${v.name} (${v.status}) spawned ${n} times`);
      assert.deepEqual(on, [], `${v.name} (${v.status}) left a guest on ${on.join(', ')}`);
    }
  }

  for (const [name, p] of d.services) {
    assert.ok(p.child && p.child.exitCode === null && p.child.signalCode === null, `${name} is not running:\n${p.output().slice(-3000)}`);
  }
  await until('every service to report up', async () => {
    const r = await api(s, 'GET', `${d.urls.compute}/v2.1/os-services`, undefined, MV);
    return r.status === 200 && (r.body.services as Array<{ state: string }>).every((x) => x.state === 'up');
  }, 30_000);
  return { active, error };
}

/** One line per round for the test's diagnostics: what was accepted, how servers ended, how long it took. */
export function roundSummary(round: number, storm: StormOutcome, outcome: FaultOutcome, ms: number, ids: Set<string>): string {
  const mine = (v: ServerView) => ids.has(v.id);
  const refused = [...storm.refused].map(([status, n]) => `${n}×${status}`).join(' ');
  const faults = [...new Set(outcome.error.filter(mine).map((v) => v.fault!.message.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<uuid>').slice(0, 100)))].join(' | ');
  return `round ${round}: ${storm.accepted.length} accepted${refused ? `, refused ${refused}` : ''} → ` +
    `${outcome.active.filter(mine).length} ACTIVE, ${outcome.error.filter(mine).length} ERROR, settled in ${(ms / 1000).toFixed(1)} s` +
    `${faults ? ` (faults: ${faults})` : ''}`;
}
