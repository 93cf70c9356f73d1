import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { Db } from '../../src/db/connection.js';
import { api, login, memberOfNewProject, startTestCloud, type Session, type TestCloud } from '../support/cloud.js';
import { apiRoutes, seedRouteFixtures, type ApiRoute, type RouteFixtures } from '../support/route-fixtures.js';
import {
  describeSlot, deterministicCases, example, hostileSegment, hostileValue, mutate, slotsOf, type Json,
} from './schema-cases.js';

/**
 * The adversarial sweep: every route of every API, with requests generated from its schemas
 * (see schema-cases.ts), against a cloud whose configuration and environment hold marker
 * secrets. After each request: no 5xx; no marker in the answer; a refused request changed
 * nothing in the database; the process answers within 1 s.
 */

export interface SweepOptions {
  /** `[database] connection` (SQLite when absent). */
  databaseUrl?: string;
  /** fast-check runs per route, beside the cases every route gets. */
  randomRuns: number;
}

/** Marker secrets planted where the probe found them leaking: configuration and environment. */
export interface Markers { adminPassword: string; servicePassword: string; env: string; option: string; database: string }

export interface Finding { route: string; request: string; problem: string }

type Route = ApiRoute;

/** Tables whose rows move by themselves (heartbeats, tokens of logins, lockout counters) are not compared. */
const VOLATILE_TABLES = new Set(['services', 'tokens', 'kysely_migration', 'kysely_migration_lock']);
/** GETs that make what they answer by design: Neutron's get-me-a-network (the topology is made on first GET). */
const WRITING_GETS = new Set(['/v2.0/auto-allocated-topology/:project_id']);
const VOLATILE_COLUMN = /(^|_)(updated_at|report_count|last_seen|failed_auth_count|failed_auth_at|last_active_at|heartbeat_at)$/;

export class Sweep {
  readonly findings: Finding[] = [];
  cases = 0;
  private tables: string[] = [];
  private baseline = '';
  admin!: Session;
  other!: Session;
  private fixtures!: RouteFixtures;

  private constructor(readonly cloud: TestCloud, readonly markers: Markers) {}

  static async start(opts: Pick<SweepOptions, 'databaseUrl'>): Promise<Sweep> {
    const tag = randomBytes(6).toString('hex');
    const markers: Markers = {
      adminPassword: `MkAdminPw${tag}`, servicePassword: `MkServicePw${tag}`, env: `MkEnv${tag}`, option: `MkOption${tag}`,
      database: opts.databaseUrl ? `MkDbPw${tag}` : `mkdb${tag}`,
    };
    process.env.ORRERY_ADVERSARIAL_MARKER = markers.env;
    let connection: string | undefined;
    if (opts.databaseUrl) {
      // Trust auth ignores the password: it is there only to be looked for.
      const u = new URL(opts.databaseUrl);
      u.password = markers.database;
      connection = u.toString();
    }
    const cloud = await startTestCloud({
      DEFAULT: { compute_hosts: 'compute1' },
      // The per-source login limit would answer the fuzzed logins 429 early: off, so they reach the checks.
      identity: { admin_password: markers.adminPassword, auth_failure_burst: '0' },
      service_user: { password: markers.servicePassword },
      marker: { secret: markers.option },
      // The in-process agents' reports write ports and agents on their own clock: off, so every
      // change the sweep sees is one a request made.
      network_agent: { in_process: 'false' },
      database: { connection: connection ?? `sqlite:///$state_path/${markers.database}/orrery.sqlite` },
    });
    const s = new Sweep(cloud, markers);
    await s.seed();
    s.tables = (await cloud.db.introspection.getTables({ withInternalKyselyTables: false })).map((t) => t.name).filter((t) => !VOLATILE_TABLES.has(t)).sort();
    s.baseline = await s.digest();
    return s;
  }

  get db(): Db {
    return this.cloud.db;
  }

  /** Resources of the admin's project for the routes' parameters, and a victim user, project and role for identity's. */
  private async seed(): Promise<void> {
    const c = this.cloud.urls;
    const admin = await login(this.cloud, 'admin', this.markers.adminPassword, 'admin');
    this.admin = admin;
    this.other = await memberOfNewProject(this.cloud, admin, 'victim', 'victim-u');
    const victimRole = await api(admin, 'POST', `${c.identity}/v3/roles`, { role: { name: 'victim-role' } });
    this.fixtures = await seedRouteFixtures(this.cloud, admin, {
      projectId: this.other.projectId, userId: this.other.userId, roleId: victimRole.body.role.id, memberId: this.other.projectId,
    });
  }

  /** Every route of every API, DELETEs last (a DELETE that works removes a fixture). */
  routes(): Route[] {
    return apiRoutes(this.cloud).sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'));
  }

  /** The value of a path parameter: the fixture's, or a stand-in. */
  private param(route: Route, p: string): string {
    return p === 'project_id' ? this.admin.projectId : this.fixtures.param(route.url, p);
  }

  private paramNames(route: Route): string[] {
    return [...route.url.matchAll(/:(\w+)/g)].map((m) => m[1]!);
  }

  private url(route: Route, params: Record<string, string>, query: Array<[string, string]>): string {
    const path = route.url.replace(/:(\w+)/g, (_m, p: string) => encode(params[p]!));
    const qs = query.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&');
    return `${route.base}${path}${qs ? `?${qs}` : ''}`;
  }

  /** The bodies a route's schemas describe: its variants, its body schema, or none. */
  bodiesOf(route: Route): Json[] {
    const ctx = { uuidFor: (name: string) => (/image/i.test(name) ? this.fixtures.bootImageId : '9d2a4f3e-7b1c-4e5a-8f6d-0c1b2a3d4e5f') };
    const schemas = route.bodyVariants.length > 0 ? route.bodyVariants : route.schema.body !== undefined ? [route.schema.body] : [];
    // Each shape twice: with every optional field (the most positions) and with the required ones only
    // (the likeliest to pass every check and reach the database).
    const out: Json[] = [];
    for (const s of schemas) {
      for (const body of [example(s, ctx), example(s, ctx, '', true)]) {
        if (!out.some((b) => JSON.stringify(b) === JSON.stringify(body))) out.push(body);
      }
    }
    return out;
  }

  /** The query parameters a route's schema names, and a few every list understands. */
  private queryNames(route: Route): string[] {
    const props = ((route.schema.querystring ?? {}) as { properties?: Record<string, unknown> }).properties ?? {};
    return [...new Set([...Object.keys(props), 'limit', 'marker', 'name', 'sort_key', 'sort_dir', 'all_tenants', 'status', 'changes-since', 'visibility', 'detailed'])];
  }

  /** Sends one request and checks every invariant; returns the status. */
  async send(
    route: Route, what: string, params: Record<string, string>, query: Array<[string, string]>, body: Json | undefined,
    headers: Record<string, string> = {}, as: 'admin' | 'member' = 'admin',
  ): Promise<number> {
    this.cases++;
    const url = this.url(route, params, query);
    const label = `${route.api} ${route.method} ${route.url}`;
    const request = `${as === 'member' ? '(as a member) ' : ''}${what} ${url.length > 300 ? `${url.slice(0, 300)}…` : url} ${body === undefined ? '' : short(JSON.stringify(body))}`;
    let status: number;
    let text: string;
    let headerText: string;
    try {
      const res = await fetch(url, {
        method: route.method,
        headers: {
          'x-auth-token': as === 'admin' ? this.admin.token : this.other.token,
          ...(body !== undefined ? { 'content-type': route.api === 'image' && route.method === 'PATCH' ? 'application/openstack-images-v2.1-json-patch' : 'application/json' } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
      status = res.status;
      text = await res.text();
      headerText = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
    } catch (err) {
      this.findings.push({ route: label, request, problem: `no answer: ${String(err)}` });
      await this.recover();
      return 0;
    }
    // 501 is an honest answer (a feature Orrery does not have); any other 5xx is a defect.
    if (status >= 500 && status !== 501) this.findings.push({ route: label, request, problem: `${status} ${short(text)}` });
    for (const [name, marker] of Object.entries(this.markers)) {
      if (text.includes(marker) || headerText.includes(marker)) this.findings.push({ route: label, request, problem: `the answer reveals the ${name} marker: ${short(text)}` });
    }
    if (!(await this.answersWithin(1000))) this.findings.push({ route: label, request, problem: 'the process did not answer within 1 s afterwards' });
    if (route.method !== 'GET' || WRITING_GETS.has(route.url)) {
      if (status >= 400) {
        const now = await this.digest();
        if (now !== this.baseline) {
          this.findings.push({ route: label, request, problem: `refused with ${status} but the database changed` });
          this.baseline = await this.settled();
        }
      } else {
        this.baseline = await this.settled();
        await this.recover();
      }
    }
    return status;
  }

  /** Runs every case of one route. */
  async sweep(route: Route, randomRuns: number, seed: number): Promise<void> {
    const names = this.paramNames(route);
    const params = Object.fromEntries(names.map((p) => [p, this.param(route, p)]));
    const bodies = this.bodiesOf(route);
    const dangerous = route.method === 'DELETE';
    // Every parameter, with every inherited name and a NUL; a DELETE gets only these.
    for (const p of names) {
      for (const v of ['__proto__', 'constructor', 'toString', 'a\u0000b']) {
        await this.send(route, `path ${p}=${JSON.stringify(v)}`, { ...params, [p]: v }, [], dangerous ? undefined : bodies[0]);
      }
    }
    if (dangerous) return;
    // Every key and string position of every body shape.
    for (const body of bodies) {
      for (const { slot, replacement } of deterministicCases(body)) {
        await this.send(route, `body ${describeSlot(slot)}=${short(JSON.stringify(replacement))}`, params, [], mutate(body, slot, replacement));
      }
    }
    // Query parameters, known and inherited names.
    for (const name of [...this.queryNames(route), '__proto__', 'constructor']) {
      for (const v of ['__proto__', 'constructor', 'a\u0000b', '-1', '99999999999999999999']) {
        await this.send(route, `query ${name}=${JSON.stringify(v)}`, params, [[name, v]], bodies[0]);
      }
    }
    if (randomRuns <= 0) return;
    // Random combinations: a hostile value anywhere in the body, a hostile query, a hostile microversion.
    const bodyArb = bodies.length === 0 ? fc.constant<Json | undefined>(undefined) : fc.integer({ min: 0, max: bodies.length - 1 }).chain((i) => {
      const slots = slotsOf(bodies[i]!);
      return fc.tuple(fc.integer({ min: 0, max: slots.length - 1 }), hostileValue).map(([s, v]) => mutate(bodies[i]!, slots[s]!, v) as Json | undefined);
    });
    const queryArb = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...this.queryNames(route)), hostileSegment), hostileSegment), { maxLength: 3 });
    const paramArb = names.length === 0 ? fc.constant(params) : fc.tuple(fc.constantFrom(...names), hostileSegment, fc.boolean())
      .map(([p, v, use]) => (use ? { ...params, [p]: v } : params));
    const mvArb = fc.oneof(fc.constant(undefined), fc.constantFrom('compute 2.1', 'compute 2.37', 'compute latest', 'compute 2.99999999999', 'compute constructor', '__proto__ 1.0', 'placement 1.999'));
    // As the admin (every route is open to it) or as a member of another project (the probe's role).
    const whoArb = fc.constantFrom<'admin' | 'member'>('admin', 'member');
    await fc.assert(fc.asyncProperty(paramArb, queryArb, bodyArb, mvArb, whoArb, async (p, q, b, mv, who) => {
      const before = this.findings.length;
      await this.send(route, 'random', p, q, b, mv ? { 'openstack-api-version': mv } : {}, who);
      return this.findings.length === before;
    }), { numRuns: randomRuns, seed, endOnFailure: true }).catch(() => undefined); // the finding is recorded; report all routes
  }

  /** A content hash of every table but the volatile ones. */
  async digest(): Promise<string> {
    const h = createHash('sha256');
    const rows = await Promise.all(this.tables.map((t) => this.db.selectFrom(t as 'instances').selectAll().execute()));
    this.tables.forEach((t, i) => {
      const list = rows[i]!.map((r) => JSON.stringify(Object.entries(r).filter(([k]) => !VOLATILE_COLUMN.test(k)).sort(([a], [b]) => (a < b ? -1 : 1))));
      list.sort();
      h.update(`${t}:${list.join('\n')}\n`);
    });
    return h.digest('hex');
  }

  /** Waits until the database stops changing (the work an accepted request set off has ended). */
  private async settled(): Promise<string> {
    let last = await this.digest();
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const now = await this.digest();
      // Still at work while an instance has a task under way: on a loaded machine a snapshot's
      // steps can lie more than 100 ms apart, and its last step then landed during the next
      // (refused) request, which read as that request changing the database.
      // (A task still set after 3 s is left be: a stuck one must not stall the sweep.)
      if (now === last && (i >= 30 || !(await this.taskUnderWay()))) return now;
      last = now;
    }
    return last;
  }

  private async taskUnderWay(): Promise<boolean> {
    const busy = await this.db.selectFrom('instances').select('uuid').where('deleted', '=', 0)
      .where((eb) => eb.or([eb('task_state', 'is not', null), eb('vm_state', '=', 'building')])).limit(1).execute();
    return busy.length > 0;
  }

  private async answersWithin(ms: number): Promise<boolean> {
    try {
      const res = await fetch(`${this.cloud.urls.identity}/`, { signal: AbortSignal.timeout(ms) });
      await res.arrayBuffer();
      return res.status < 500;
    } catch {
      return false;
    }
  }

  /** After an accepted change: the admin's token may have been revoked (a role removed, say); log in again. */
  private async recover(): Promise<void> {
    const r = await api(this.admin, 'GET', `${this.cloud.urls.compute}/v2.1/flavors`);
    if (r.status === 401) this.admin = await login(this.cloud, 'admin', this.markers.adminPassword, 'admin');
  }

  async close(): Promise<void> {
    delete process.env.ORRERY_ADVERSARIAL_MARKER;
    await this.cloud.close();
  }
}

function encode(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    // A lone surrogate: send the bytes a careless client would (CESU-8), which no decoder accepts.
    return [...s].map((ch) => {
      try { return encodeURIComponent(ch); } catch { return Buffer.from(ch, 'utf8').length ? '%ED%A0%80' : ''; }
    }).join('');
  }
}

const short = (s: string): string => (s.length > 200 ? `${s.slice(0, 200)}…` : s);
