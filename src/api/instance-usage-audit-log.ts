import type { FastifyInstance } from 'fastify';
import { BadRequest } from '../common/errors.js';
import type { Db } from '../db/connection.js';
import { computeHostsCreatedBefore } from '../db/service-admin.js';
import { routeBoth } from './resource-kit.js';
import type { ComputeApiDeps } from './deps.js';

/**
 * os-instance_usage_audit_log (admin only): how far the compute hosts got with the usage audit
 * of the last completed month (Nova's [DEFAULT] instance_usage_audit_period = month). Orrery's
 * computes run no audit task — Nova's instance_usage_audit is off by default too — so every
 * compute host is reported as not run and no task logs are listed.
 */

/** Nova's "YYYY-MM-DD HH:MM:SS" of a UTC time. */
const pyStr = (d: Date): string => d.toISOString().slice(0, 19).replace('T', ' ');

/** The last completed month before `at` (Nova's last_completed_audit_period). */
function lastMonth(at: Date): { begin: Date; end: Date } {
  const end = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
  const begin = new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth() - 1, 1));
  return { begin, end };
}

/** Nova's accepted before_timestamp formats, as UTC. */
function parseBefore(raw: string): Date {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d{1,6})?$/.exec(raw);
  const d = m ? new Date(`${m[1]}T${m[2]}${m[3] ?? ''}Z`) : new Date(Number.NaN);
  if (Number.isNaN(d.getTime())) throw new BadRequest(`Invalid timestamp for date ${raw}`);
  return d;
}

async function auditLog(db: Db, at: Date): Promise<Record<string, unknown>> {
  const { begin, end } = lastMonth(at);
  const names = [...new Set(await computeHostsCreatedBefore(db, end.toISOString()))];
  return {
    hosts_not_run: names,
    log: {},
    num_hosts: names.length,
    num_hosts_done: 0,
    num_hosts_not_run: names.length,
    num_hosts_running: 0,
    overall_status: `0 of ${names.length} hosts done. 0 errors.`,
    period_beginning: pyStr(begin),
    period_ending: pyStr(end),
    total_errors: 0,
    total_instances: 0,
  };
}

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db'>): void {
  const { db } = deps;
  const policy = 'os_compute_api:os-instance-usage-audit-log:list';

  routeBoth(app, 'GET', '/os-instance_usage_audit_log', { policy }, async () => ({
    instance_usage_audit_logs: await auditLog(db, new Date()),
  }));

  routeBoth<{ Params: { before: string } }>(
    app, 'GET', '/os-instance_usage_audit_log/:before', { policy: 'os_compute_api:os-instance-usage-audit-log:show' }, async (req) => ({
      instance_usage_audit_log: await auditLog(db, parseBefore(req.params.before)),
    }),
  );
}
