import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest } from '../common/errors.js';
import type { Db } from '../db/connection.js';
import { instanceRowId, instancesActiveIn, type UsageInstance } from '../db/usage.js';
import { MAX_LIMIT, mvAtLeast, nextLinks, pageOf, queryParam, requireAdminOrSelf, routeBoth, strictQuery } from './resource-kit.js';
import type { ComputeApiDeps } from './deps.js';

/**
 * os-simple-tenant-usage (`openstack usage list/show`): what each project's instances used over
 * a period, in hours of vCPU, MiB of RAM and GiB of disk (Nova's simple_tenant_usage). Deleted
 * instances count for the time they ran inside the period.
 */

/** Nova's accepted time formats, read as UTC (its parse_strtime). */
const TIME_RE = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d{1,6})?$/;

function parseTime(raw: string | undefined, fallback: Date): Date {
  if (raw === undefined || raw === '') return fallback;
  const m = TIME_RE.exec(raw.trim());
  const d = m ? new Date(`${m[1]}T${m[2]}${m[3] ?? ''}Z`) : new Date(Number.NaN);
  if (Number.isNaN(d.getTime())) throw new BadRequest('Datetime is in invalid format');
  return d;
}

/** Nova renders the period bounds as Python's isoformat of a naive UTC time. */
const pyIso = (d: Date): string => d.toISOString().replace('Z', '').replace(/\.000$/, '').replace(/(\.\d{3})$/, '$1000');

interface Period { start: Date; stop: Date; detailed: boolean }

function periodOf(req: FastifyRequest): Period {
  // Nova reads the clock once per missing bound, start first: with neither given the period is
  // the empty one at "now" (start a moment before stop), not a 400. openstacksdk's usages() sends neither.
  const at = new Date();
  const start = parseTime(queryParam(req, 'start'), new Date(at.getTime() - 1));
  const stop = parseTime(queryParam(req, 'end'), at);
  if (!(start.getTime() < stop.getTime())) throw new BadRequest('Invalid start time. The start time cannot occur after the end time.');
  return { start, stop, detailed: queryParam(req, 'detailed') === '1' };
}

/** Hours of the instance's life inside the period (Nova's _hours_for). */
function hoursIn(i: UsageInstance, p: Period): number {
  const launched = Date.parse(i.launchedAt);
  const terminated = i.terminatedAt === null ? null : Date.parse(i.terminatedAt);
  if (terminated !== null && terminated < p.start.getTime()) return 0;
  if (launched > p.stop.getTime()) return 0;
  const from = Math.max(launched, p.start.getTime());
  const to = terminated === null ? p.stop.getTime() : Math.min(p.stop.getTime(), terminated);
  return Math.max(0, to - from) / 3_600_000;
}

function flavorName(i: UsageInstance): string | null {
  try {
    const f = JSON.parse(i.flavor) as { name?: unknown };
    return typeof f.name === 'string' ? f.name : null;
  } catch {
    return null;
  }
}

function serverUsage(i: UsageInstance, p: Period, at: number): Record<string, unknown> {
  const ended = i.terminatedAt;
  const started = Date.parse(i.launchedAt);
  return {
    instance_id: i.uuid,
    name: i.name,
    hours: hoursIn(i, p),
    memory_mb: i.memoryMb,
    local_gb: i.localGb,
    vcpus: i.vcpus,
    tenant_id: i.projectId,
    flavor: flavorName(i),
    started_at: pyIso(new Date(started)),
    ended_at: ended === null ? null : pyIso(new Date(ended)),
    state: ended === null ? i.vmState : 'terminated',
    uptime: Math.floor(((ended === null ? at : Date.parse(ended)) - started) / 1000),
  };
}

/** Per-project sums over the instances, in the order projects first appear (Nova's _tenant_usages_for_period). */
function tenantUsages(instances: UsageInstance[], p: Period, detailed: boolean): Array<Record<string, unknown>> {
  const at = Date.now();
  const byProject = new Map<string, Record<string, unknown> & { server_usages: Array<Record<string, unknown>> }>();
  for (const i of instances) {
    let t = byProject.get(i.projectId);
    if (!t) {
      t = {
        tenant_id: i.projectId, server_usages: [], total_local_gb_usage: 0, total_vcpus_usage: 0, total_memory_mb_usage: 0,
        total_hours: 0, start: pyIso(p.start), stop: pyIso(p.stop),
      };
      byProject.set(i.projectId, t);
    }
    const u = serverUsage(i, p, at);
    const hours = u.hours as number;
    t.server_usages.push(u);
    t.total_local_gb_usage = (t.total_local_gb_usage as number) + i.localGb * hours;
    t.total_vcpus_usage = (t.total_vcpus_usage as number) + i.vcpus * hours;
    t.total_memory_mb_usage = (t.total_memory_mb_usage as number) + i.memoryMb * hours;
    t.total_hours = (t.total_hours as number) + hours;
  }
  return [...byProject.values()].map((t) => {
    if (detailed) return t;
    const { server_usages: _omitted, ...rest } = t;
    return rest;
  });
}

/**
 * The instances of one page: from 2.40 `limit` and `marker` (an instance uuid); before it Nova
 * silently stops at max_limit, which also bounds what one request may sum.
 */
async function pageOfInstances(db: Db, req: FastifyRequest, p: Period, projectId?: string): Promise<{ instances: UsageInstance[]; links: unknown[] }> {
  const paged = mvAtLeast(req, '2.40');
  const page = paged ? pageOf(req) : { limit: MAX_LIMIT };
  let afterId: number | undefined;
  if (paged && page.marker !== undefined) {
    const id = await instanceRowId(db, page.marker);
    if (id === null) throw new BadRequest(`marker [${page.marker}] not found`);
    afterId = id;
  }
  const instances = await instancesActiveIn(db, {
    start: p.start.toISOString(), stop: p.stop.toISOString(), limit: page.limit, ...(projectId !== undefined ? { projectId } : {}),
    ...(afterId !== undefined ? { afterId } : {}),
  });
  const collection = projectId === undefined ? 'os-simple-tenant-usage' : `os-simple-tenant-usage/${projectId}`;
  const links = paged ? nextLinks(req, collection, page, instances.length, instances.at(-1)?.uuid) : [];
  return { instances, links };
}

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db' | 'config'>): void {
  const { db } = deps;

  routeBoth(app, 'GET', '/os-simple-tenant-usage', { policy: 'os_compute_api:os-simple-tenant-usage:list' }, async (req) => {
    strictQuery(req, ['start', 'end', 'detailed', 'limit', 'marker']);
    const p = periodOf(req);
    const { instances, links } = await pageOfInstances(db, req, p);
    const out: Record<string, unknown> = { tenant_usages: tenantUsages(instances, p, p.detailed) };
    if (links.length > 0) out.tenant_usages_links = links;
    return out;
  });

  routeBoth<{ Params: { tenant_id: string } }>(
    app, 'GET', '/os-simple-tenant-usage/:tenant_id', { policy: 'os_compute_api:os-simple-tenant-usage:show' }, async (req) => {
      strictQuery(req, ['start', 'end', 'limit', 'marker']);
      // Another project's usage is the admin's to read (Nova's project_reader_or_admin on the tenant).
      requireAdminOrSelf(req, { projectId: req.params.tenant_id });
      const p = periodOf(req);
      const { instances, links } = await pageOfInstances(db, req, p, req.params.tenant_id);
      const out: Record<string, unknown> = { tenant_usage: tenantUsages(instances, p, true)[0] ?? {} };
      if (links.length > 0) out.tenant_usage_links = links;
      return out;
    },
  );
}
