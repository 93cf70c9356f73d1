/**
 * `GET /healthcheck` on every API, in oslo.middleware healthcheck's shape: 200 with the text
 * `OK` when this process can serve (its database answers and its bus is connected), else 503
 * with the reasons, one a line. Load balancers poll it without a token. With an admin token
 * and `Accept: application/json` it answers the detail: each check with its time, and every
 * service with its version and last heartbeat (a service that is down is reported, and does not
 * fail this process's check: the API still serves). No check takes longer than PROBE_TIMEOUT_MS.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../common/config.js';
import { errorMessage } from '../common/errors.js';
import type { TokenValidator } from '../auth/context.js';
import type { Db } from '../db/connection.js';
import { listServiceRows } from '../db/service-admin.js';
import { serviceIsUp } from '../db/services.js';
import type { Bus } from '../rpc/bus.js';

/** A health probe that has not answered in this long has failed (a dead PostgreSQL host can hang a query for minutes). */
export const PROBE_TIMEOUT_MS = 3000;

export interface ServiceHealth {
  binary: string;
  host: string;
  state: 'up' | 'down';
  status: 'enabled' | 'disabled';
  version: string;
  /** ISO time of its last heartbeat; null: never reported. */
  last_heartbeat: string | null;
}

/** What the healthcheck asks; an app without probes answers OK while its process runs. */
export interface HealthProbes {
  /** The services as the database knows them (the database check: throws when it does not answer). */
  services(): Promise<ServiceHealth[]>;
  /** Whether the bus can carry messages now. */
  busConnected(): boolean;
}

export interface CheckResult {
  /** DatabaseCheck, BusCheck: oslo's `class` of a reason. */
  class: string;
  ok: boolean;
  /** 'OK' or why not. */
  reason: string;
  ms: number;
}

export interface HealthReport {
  ok: boolean;
  checks: CheckResult[];
  services: ServiceHealth[];
}

declare module 'fastify' {
  interface FastifyInstance {
    healthProbes: HealthProbes | null;
  }
}

/** The probes of a process: its database (the services table) and its bus (none: nothing to check). */
export function healthProbesFor(db: Db, config: Config, bus?: Bus): HealthProbes {
  return {
    services: async () => {
      const now = Date.now();
      return (await listServiceRows(db, { sorted: true })).map((r) => ({
        binary: r.binary, host: r.host, state: serviceIsUp(r, config, now) ? 'up' : 'down', status: r.disabled ? 'disabled' : 'enabled',
        version: r.version, last_heartbeat: r.last_seen_up ?? null,
      }));
    },
    busConnected: () => bus?.connected?.() ?? true,
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Runs the probes once. */
export async function healthReport(probes: HealthProbes | null, timeoutMs = PROBE_TIMEOUT_MS): Promise<HealthReport> {
  if (!probes) return { ok: true, checks: [], services: [] };
  const checks: CheckResult[] = [];
  let services: ServiceHealth[] = [];
  const t0 = performance.now();
  try {
    services = await withTimeout(probes.services(), timeoutMs);
    checks.push({ class: 'DatabaseCheck', ok: true, reason: 'OK', ms: Math.round(performance.now() - t0) });
  } catch (err) {
    checks.push({ class: 'DatabaseCheck', ok: false, reason: `database unreachable: ${errorMessage(err)}`, ms: Math.round(performance.now() - t0) });
  }
  const bus = probes.busConnected();
  checks.push({ class: 'BusCheck', ok: bus, reason: bus ? 'OK' : 'message bus disconnected (reconnecting)', ms: 0 });
  return { ok: checks.every((c) => c.ok), checks, services };
}

async function isAdmin(tokens: TokenValidator, req: FastifyRequest): Promise<boolean> {
  const header = req.headers['x-auth-token'];
  const token = Array.isArray(header) ? header[0] : header;
  if (!token) return false;
  try {
    return (await tokens.validate(token)).isAdmin;
  } catch {
    return false; // a bad token gets the public answer, as no token does
  }
}

/** The route (public: no token needed); createApp installs it on every API. */
export function installHealthcheck(app: FastifyInstance, tokens: TokenValidator): void {
  app.decorate('healthProbes', null);
  app.get('/healthcheck', { config: { public: true } }, async (req: FastifyRequest, reply: FastifyReply) => {
    const report = await healthReport(app.healthProbes);
    const reasons = report.ok ? ['OK'] : report.checks.filter((c) => !c.ok).map((c) => c.reason);
    reply.code(report.ok ? 200 : 503);
    if (!/application\/json/.test(req.headers.accept ?? '')) return reply.type('text/plain; charset=utf-8').send(reasons.join('\n'));
    if (!(await isAdmin(tokens, req))) return { detailed: false, reasons };
    return {
      detailed: true,
      reasons: report.checks.map((c) => ({ class: c.class, reason: c.reason, details: `${c.ms} ms` })),
      services: report.services,
    };
  });
}

/** Gives an API app its process's probes (the services wire them once the database and bus are open). */
export function setHealthProbes(app: FastifyInstance, probes: HealthProbes): void {
  app.healthProbes = probes;
}
