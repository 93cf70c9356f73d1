import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { BadRequest, NotFound, NotImplemented } from '../common/errors.js';
import type { Db } from '../db/connection.js';
import { servicesWithZones } from '../db/aggregates.js';
import { hostInstanceUsage, hostInventories } from '../db/hypervisors.js';
import { setServiceDisabled } from '../db/service-admin.js';
import { computeServiceOf } from '../db/services.js';
import { mvAtLeast, queryParam, routeBoth } from './resource-kit.js';
import type { ComputeApiDeps } from './deps.js';

/**
 * os-hosts (admin only), Nova's older host API: gone from 2.43 (os-hypervisors and os-services
 * replace it), so every route answers 404 from that microversion on.
 */

/** Every os-hosts route is a 404 from 2.43. */
function upTo242(req: FastifyRequest): void {
  if (mvAtLeast(req, '2.43')) throw new NotFound('The resource could not be found.');
}

const UpdateBody = Type.Object({
  status: Type.Optional(Type.Union([Type.Literal('enable'), Type.Literal('disable')])),
  maintenance_mode: Type.Optional(Type.Union([Type.Literal('enable'), Type.Literal('disable')])),
}, { additionalProperties: false, minProperties: 1 });
type UpdateBody = Static<typeof UpdateBody>;

/** A host's compute service, or Nova's 404. */
async function computeHost(db: Db, host: string): Promise<{ id: number; host: string }> {
  const svc = await computeServiceOf(db, host);
  if (!svc) throw new NotFound(`Compute host ${host} could not be found.`);
  return svc;
}

type Resource = { host: string; project: string; cpu: number; memory_mb: number; disk_gb: number };

/** Nova's host show: the host's totals, what its nodes have claimed, what its instances use, and that per project. */
async function hostResources(db: Db, host: string): Promise<Array<{ resource: Resource }>> {
  const inv = await hostInventories(db, host);
  const sum = (rc: string, f: (i: { total: number; used: number; reserved: number }) => number): number =>
    inv.filter((i) => i.resource_class === rc).reduce((a, i) => a + f(i), 0);
  const instances = await hostInstanceUsage(db, host);
  const entry = (project: string, cpu: number, memory_mb: number, disk_gb: number) => ({ resource: { host, project, cpu, memory_mb, disk_gb } });
  const usedBy = (rows: typeof instances) => [
    rows.reduce((a, i) => a + i.vcpus, 0), rows.reduce((a, i) => a + i.memory_mb, 0), rows.reduce((a, i) => a + i.root_gb + i.ephemeral_gb, 0),
  ] as const;
  const out = [
    entry('(total)', sum('VCPU', (i) => i.total), sum('MEMORY_MB', (i) => i.total), sum('DISK_GB', (i) => i.total)),
    // Nova's resource tracker counts the host's reserved memory and disk as used.
    entry('(used_now)', sum('VCPU', (i) => i.used), sum('MEMORY_MB', (i) => i.used + i.reserved), sum('DISK_GB', (i) => i.used + i.reserved)),
    entry('(used_max)', ...usedBy(instances)),
  ];
  for (const project of [...new Set(instances.map((i) => i.project_id))].sort()) {
    out.push(entry(project, ...usedBy(instances.filter((i) => i.project_id === project))));
  }
  return out;
}

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db' | 'config'>): void {
  const { db, config } = deps;

  routeBoth(app, 'GET', '/os-hosts', { policy: 'os_compute_api:os-hosts:list' }, async (req) => {
    upTo242(req);
    const zone = queryParam(req, 'zone');
    const services = (await servicesWithZones(db, config)).filter((s) => zone === undefined || s.zone === zone);
    return { hosts: services.map((s) => ({ host_name: s.host, service: s.topic, zone: s.zone })) };
  });

  routeBoth<{ Params: { host: string } }>(app, 'GET', '/os-hosts/:host', { policy: 'os_compute_api:os-hosts:show' }, async (req) => {
    upTo242(req);
    await computeHost(db, req.params.host);
    return { host: await hostResources(db, req.params.host) };
  });

  routeBoth<{ Params: { host: string }; Body: UpdateBody }>(
    app, 'PUT', '/os-hosts/:host', { policy: 'os_compute_api:os-hosts:update', schema: { body: UpdateBody } }, async (req) => {
      upTo242(req);
      const svc = await computeHost(db, req.params.host);
      // Maintenance mode is a driver's host operation no Orrery driver has: Nova's 501.
      if (req.body.maintenance_mode !== undefined) {
        throw new NotImplemented('Virt driver does not implement host maintenance mode.');
      }
      if (req.body.status === undefined) throw new BadRequest('Invalid status or maintenance mode.');
      const disabled = req.body.status === 'disable';
      await setServiceDisabled(db, svc.id, disabled);
      return { host: svc.host, status: disabled ? 'disabled' : 'enabled' };
    },
  );

  // Power actions on the host itself: system operations no Orrery driver performs (Nova's 501).
  for (const action of ['startup', 'shutdown', 'reboot'] as const) {
    routeBoth<{ Params: { host: string } }>(app, 'GET', `/os-hosts/:host/${action}`, { policy: `os_compute_api:os-hosts:${action === 'startup' ? 'start' : action}` }, async (req) => {
      upTo242(req);
      await computeHost(db, req.params.host);
      throw new NotImplemented('Virt driver does not implement host power management.');
    });
  }
}
