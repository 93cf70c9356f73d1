/**
 * What the black-box move tests (issue #12) share: a session and the service URLs of a running
 * cloud from its openrc, the placement checks (a server's claims are exactly its flavor on its
 * node; a migration holds nothing once its move ended), a watcher of the states a server shows
 * while a move runs, and the fake back-ends' view (which host has the guest, slow move steps).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fakeBackendPath, openFakeBackend, type FakeBackend } from '@orrery/driver-fake';
import { api, type Session } from './http.js';

export interface CloudSession extends Session {
  urls: { compute: string; placement: string; image: string; identity: string };
}

/** Password login with an openrc's variables; the service URLs come from the token's catalog. */
export async function sessionFromOpenrc(openrc: Record<string, string>): Promise<CloudSession> {
  const auth = openrc.OS_AUTH_URL!.replace(/\/+$/, '');
  const res = await api(null, 'POST', `${auth.endsWith('/v3') ? auth : `${auth}/v3`}/auth/tokens`, {
    auth: {
      identity: { methods: ['password'], password: { user: { name: openrc.OS_USERNAME, domain: { id: 'default' }, password: openrc.OS_PASSWORD } } },
      scope: { project: { name: openrc.OS_PROJECT_NAME, domain: { id: 'default' } } },
    },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const catalog = res.body.token.catalog as Array<{ type: string; endpoints: Array<{ interface: string; url: string }> }>;
  const url = (type: string): string => {
    const e = catalog.find((c) => c.type === type)?.endpoints.find((x) => x.interface === 'public');
    assert.ok(e, `no public ${type} endpoint in the catalog`);
    return e.url.replace(/\/+$/, '').replace(/\/v2\.1(\/.*)?$/, '');
  };
  return {
    token: res.headers.get('x-subject-token')!, projectId: res.body.token.project.id, userId: res.body.token.user.id,
    urls: { compute: url('compute'), placement: url('placement'), image: url('image'), identity: url('identity') },
  };
}

// ---- placement --------------------------------------------------------------------------------

const PLACEMENT = { 'openstack-api-version': 'placement 1.14' };

/** A consumer's allocations by provider name (GET /allocations/{consumer}). */
export async function allocationsByNode(placement: string, s: Pick<Session, 'token'>, consumer: string): Promise<Map<string, Record<string, number>>> {
  const r = await api(s, 'GET', `${placement}/allocations/${consumer}`, undefined, PLACEMENT);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const out = new Map<string, Record<string, number>>();
  for (const [rp, a] of Object.entries(r.body.allocations as Record<string, { resources: Record<string, number> }>)) {
    const p = await api(s, 'GET', `${placement}/resource_providers/${rp}`, undefined, PLACEMENT);
    assert.equal(p.status, 200, JSON.stringify(p.body));
    out.set(p.body.name as string, a.resources);
  }
  return out;
}

export interface FlavorShape { vcpus: number; ram: number; disk: number; ephemeral?: number; swap?: number }

/** The resources placement holds for a flavor (Nova's resources_from_flavor: swap counts as disk, in GiB rounded up). */
export function flavorResources(f: FlavorShape): Record<string, number> {
  const disk = f.disk + (f.ephemeral ?? 0) + Math.ceil((f.swap ?? 0) / 1024);
  const out: Record<string, number> = { VCPU: f.vcpus, MEMORY_MB: f.ram };
  if (disk > 0) out.DISK_GB = disk;
  return out;
}

/**
 * The server's claims are exactly `flavor` on `node`, and each of `migrations` (their uuids:
 * the move's consumer while it runs) holds nothing any more.
 */
export async function assertClaimsExactly(
  placement: string, s: Pick<Session, 'token'>, server: string, node: string, flavor: FlavorShape, migrations: string[] = [],
): Promise<void> {
  const mine = await allocationsByNode(placement, s, server);
  assert.deepEqual(Object.fromEntries(mine), { [node]: flavorResources(flavor) }, `claims of ${server}`);
  for (const m of migrations) {
    const held = await allocationsByNode(placement, s, m);
    assert.deepEqual(Object.fromEntries(held), {}, `migration ${m} still holds claims`);
  }
}

// ---- states while a move runs -----------------------------------------------------------------

/**
 * Polls a server (GET /servers/{id}, fast: the CLI takes a second or more per call on a busy
 * machine, longer than some states last) and records each distinct "STATUS/task_state" it
 * shows, in order, until stopped.
 */
export class StateWatch {
  readonly seen: string[] = [];
  #stop = false;
  readonly #done: Promise<void>;

  constructor(compute: string, s: Pick<Session, 'token'>, server: string, intervalMs = 100) {
    this.#done = (async () => {
      while (!this.#stop) {
        const r = await api(s, 'GET', `${compute}/v2.1/servers/${server}`, undefined, { 'openstack-api-version': 'compute 2.80' }).catch(() => null);
        if (r?.status === 200) {
          const v = r.body.server as Record<string, unknown>;
          const state = `${String(v.status)}/${String(v['OS-EXT-STS:task_state'] ?? '-')}`;
          if (this.seen[this.seen.length - 1] !== state) this.seen.push(state);
        }
        await new Promise((res) => setTimeout(res, intervalMs));
      }
    })();
  }

  /** Stops polling; answers the states seen. */
  async stop(): Promise<string[]> {
    this.#stop = true;
    await this.#done;
    return this.seen;
  }

  /** Statuses seen (without task states), deduplicated in order. */
  statuses(): string[] {
    return this.seen.map((x) => x.split('/')[0]!).filter((x, i, all) => i === 0 || all[i - 1] !== x);
  }

  /** Whether a task state was seen. */
  sawTask(task: string): boolean {
    return this.seen.some((x) => x.endsWith(`/${task}`));
  }
}

/** Asserts `want` appear in `seen` in this order (other states may come between). */
export function assertSequence(seen: string[], want: string[], what: string): void {
  let at = 0;
  for (const x of seen) if (x === want[at]) at++;
  assert.equal(at, want.length, `${what}: wanted ${want.join(' → ')} in order, saw ${seen.join(' → ')}`);
}

// ---- fake back-ends ----------------------------------------------------------------------------

/** A compute host's fake back-end in a cloud's state directory (all-in-one or multi-process layout). */
export function fakeBackendIn(stateDir: string, host: string): FakeBackend {
  return openFakeBackend(fakeBackendPath(join(stateDir, 'compute', host), host));
}

/** The guests (uuids) a compute host's fake back-end holds. */
export function fakeGuests(stateDir: string, host: string): string[] {
  const b = fakeBackendIn(stateDir, host);
  try {
    return b.listInstances().map((i) => i.uuid);
  } finally {
    b.close();
  }
}

/** The hosts whose fake back-end has a guest of `uuid`. */
export function guestHosts(stateDir: string, hosts: string[], uuid: string): string[] {
  const out: string[] = [];
  for (const host of hosts) {
    const b = fakeBackendIn(stateDir, host);
    try {
      if (b.getInstance(uuid)) out.push(host);
    } finally {
      b.close();
    }
  }
  return out;
}

/** The fake driver's move calls (contract 1.2) and the 1.0 calls shelve/unshelve/evacuate use. */
export const MOVE_OPS = [
  'migrateDiskAndPowerOff', 'finishMigration', 'confirmMigration', 'revertMigration', 'finishRevertMigration',
  'preLiveMigration', 'postLiveMigrationAtDestination', 'postLiveMigrationAtSource', 'rollbackLiveMigrationAtDestination',
] as const;

/** Makes each of `ops` take `delayMs` on every host (until cleared), so a move's states last long enough to be seen. */
export function slowCalls(stateDir: string, hosts: string[], ops: readonly string[], delayMs: number): void {
  for (const host of hosts) {
    const b = fakeBackendIn(stateDir, host);
    try {
      for (const op of ops) b.injectFault({ op: op as never, kind: 'delay', delayMs, times: null });
    } finally {
      b.close();
    }
  }
}

/** Removes every armed fault (delays included) on the hosts. */
export function clearFaults(stateDir: string, hosts: string[]): void {
  for (const host of hosts) {
    const b = fakeBackendIn(stateDir, host);
    try {
      b.clearFaults();
    } finally {
      b.close();
    }
  }
}
