import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, NotFound, NotImplemented } from '../common/errors.js';
import type { Config } from '../common/config.js';
import type { Db } from '../db/connection.js';
import { serviceIsUp, type ServiceRow } from '../db/services.js';
import type { ComputeNodeTable } from '../db/schema.js';
import type { Selectable } from 'kysely';
import { integerId, mvAtLeast, nextLinks, pageOf, routeBoth } from './resource-kit.js';
import type { ComputeApiDeps } from './deps.js';

/**
 * The os-hypervisors API (admin only): one hypervisor per compute node, its resources read
 * from the node's inventories (VCPU, MEMORY_MB, DISK_GB) and its state from its host's
 * nova-compute service.
 */

type NodeRow = Selectable<ComputeNodeTable>;

interface Hypervisor {
  node: NodeRow;
  service: ServiceRow;
  vcpus: number;
  vcpusUsed: number;
  memoryMb: number;
  memoryMbUsed: number;
  localGb: number;
  localGbUsed: number;
  runningVms: number;
  currentWorkload: number;
}

/** Live nodes whose host has a live compute service, in id order, with their usage. */
async function loadHypervisors(db: Db, filter: { ids?: number[] } = {}): Promise<Hypervisor[]> {
  let q = db.selectFrom('compute_nodes').selectAll().where('deleted', '=', 0);
  if (filter.ids) q = q.where('id', 'in', filter.ids.length > 0 ? filter.ids : [-1]);
  const nodes = await q.orderBy('id').execute();
  if (nodes.length === 0) return [];
  const uuids = nodes.map((n) => n.uuid);
  const [services, inventories, load] = await Promise.all([
    db.selectFrom('services').selectAll().where('binary', '=', 'nova-compute').where('deleted', '=', 0)
      .where('host', 'in', [...new Set(nodes.map((n) => n.host))]).execute(),
    db.selectFrom('inventories').selectAll().where('node_uuid', 'in', uuids).execute(),
    // Instances per node, and how many of them are busy with a task (Nova's current_workload).
    db.selectFrom('instances')
      .select((eb) => ['node_uuid', eb.fn.countAll<number>().as('vms'), eb.fn.count<number>('task_state').as('busy')])
      .where('deleted', '=', 0).where('node_uuid', 'in', uuids).groupBy('node_uuid').execute(),
  ]);
  const serviceOf = new Map(services.map((s) => [s.host, s]));
  const inventoryOf = new Map(inventories.map((i) => [`${i.node_uuid} ${i.resource_class}`, i]));
  const loadOf = new Map(load.map((l) => [l.node_uuid, l]));
  const out: Hypervisor[] = [];
  for (const node of nodes) {
    const service = serviceOf.get(node.host);
    if (!service) continue;
    const inv = (rc: string): { total: number; used: number; reserved: number } =>
      inventoryOf.get(`${node.uuid} ${rc}`) ?? { total: 0, used: 0, reserved: 0 };
    const vcpu = inv('VCPU');
    const mem = inv('MEMORY_MB');
    const disk = inv('DISK_GB');
    const nodeLoad = loadOf.get(node.uuid);
    out.push({
      node,
      service,
      vcpus: vcpu.total,
      vcpusUsed: vcpu.used,
      // Nova's resource tracker counts the host's reserved memory and disk as used.
      memoryMb: mem.total,
      memoryMbUsed: mem.used + mem.reserved,
      localGb: disk.total,
      localGbUsed: disk.used + disk.reserved,
      runningVms: Number(nodeLoad?.vms ?? 0),
      currentWorkload: Number(nodeLoad?.busy ?? 0),
    });
  }
  return out;
}

function summaryView(h: Hypervisor, config: Config, at: number): Record<string, unknown> {
  return {
    id: h.node.id,
    hypervisor_hostname: h.node.hypervisor_hostname,
    state: serviceIsUp(h.service, config, at) ? 'up' : 'down',
    status: h.service.disabled === 1 ? 'disabled' : 'enabled',
  };
}

function detailView(req: FastifyRequest, h: Hypervisor, config: Config, at: number): Record<string, unknown> {
  const freeDisk = h.localGb - h.localGbUsed;
  let cpuInfo: unknown = h.node.cpu_info;
  if (mvAtLeast(req, '2.28')) {
    try {
      cpuInfo = h.node.cpu_info ? JSON.parse(h.node.cpu_info) : {};
    } catch {
      cpuInfo = {};
    }
  }
  return {
    ...summaryView(h, config, at),
    vcpus: h.vcpus,
    memory_mb: h.memoryMb,
    local_gb: h.localGb,
    vcpus_used: h.vcpusUsed,
    memory_mb_used: h.memoryMbUsed,
    local_gb_used: h.localGbUsed,
    hypervisor_type: h.node.hypervisor_type,
    hypervisor_version: h.node.hypervisor_version,
    free_ram_mb: h.memoryMb - h.memoryMbUsed,
    free_disk_gb: freeDisk,
    current_workload: h.currentWorkload,
    running_vms: h.runningVms,
    cpu_info: cpuInfo,
    disk_available_least: freeDisk,
    host_ip: h.node.host_ip,
    service: { id: h.service.id, host: h.node.host, disabled_reason: h.service.disabled_reason },
  };
}

/** Nova's instance name template: instance-%08x of the row id. */
const instanceName = (id: number): string => `instance-${id.toString(16).padStart(8, '0')}`;

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db' | 'config'>): void {
  const { db, config } = deps;

  /** A page of hypervisors (limit/marker from 2.33). */
  const listing = async (req: FastifyRequest, detail: boolean): Promise<Record<string, unknown>> => {
    let all = await loadHypervisors(db);
    const page = mvAtLeast(req, '2.33') ? pageOf(req) : undefined;
    let links: unknown[] = [];
    if (page) {
      if (page.marker !== undefined) {
        const at = all.findIndex((h) => String(h.node.id) === page.marker);
        if (at < 0) throw new BadRequest(`marker [${page.marker}] not found`);
        all = all.slice(at + 1);
      }
      all = all.slice(0, page.limit);
      links = nextLinks(req, detail ? 'os-hypervisors/detail' : 'os-hypervisors', page, all.length, all.at(-1)?.node.id);
    }
    const at = Date.now();
    const out: Record<string, unknown> = {
      hypervisors: all.map((h) => (detail ? detailView(req, h, config, at) : summaryView(h, config, at))),
    };
    if (links.length > 0) out.hypervisors_links = links;
    return out;
  };

  const one = async (raw: string): Promise<Hypervisor> => {
    const id = integerId(raw);
    const found = id === null ? [] : await loadHypervisors(db, { ids: [id] });
    if (found.length === 0) throw new NotFound(`Hypervisor with ID '${raw}' could not be found.`);
    return found[0]!;
  };

  const matching = async (pattern: string): Promise<Hypervisor[]> => {
    const found = (await loadHypervisors(db)).filter((h) => h.node.hypervisor_hostname.includes(pattern));
    if (found.length === 0) throw new NotFound(`No hypervisor matching '${pattern}' could be found.`);
    return found;
  };

  routeBoth(app, 'GET', '/os-hypervisors', { policy: 'os_compute_api:os-hypervisors:list' }, async (req) => listing(req, false));
  routeBoth(app, 'GET', '/os-hypervisors/detail', { policy: 'os_compute_api:os-hypervisors:list-detail' }, async (req) => listing(req, true));

  routeBoth(app, 'GET', '/os-hypervisors/statistics', { policy: 'os_compute_api:os-hypervisors:statistics' }, async () => {
    // Nova counts the nodes of enabled services only.
    const hs = (await loadHypervisors(db)).filter((h) => h.service.disabled === 0);
    const sum = (f: (h: Hypervisor) => number): number => hs.reduce((acc, h) => acc + f(h), 0);
    return {
      hypervisor_statistics: {
        count: hs.length,
        vcpus: sum((h) => h.vcpus),
        memory_mb: sum((h) => h.memoryMb),
        local_gb: sum((h) => h.localGb),
        vcpus_used: sum((h) => h.vcpusUsed),
        memory_mb_used: sum((h) => h.memoryMbUsed),
        local_gb_used: sum((h) => h.localGbUsed),
        free_ram_mb: sum((h) => h.memoryMb - h.memoryMbUsed),
        free_disk_gb: sum((h) => h.localGb - h.localGbUsed),
        current_workload: sum((h) => h.currentWorkload),
        running_vms: sum((h) => h.runningVms),
        disk_available_least: sum((h) => h.localGb - h.localGbUsed),
      },
    };
  });

  routeBoth<{ Params: { id: string } }>(app, 'GET', '/os-hypervisors/:id', { policy: 'os_compute_api:os-hypervisors:show' }, async (req) => {
    return { hypervisor: detailView(req, await one(req.params.id), config, Date.now()) };
  });

  // Host uptime needs driver support no driver here declares: Nova's answer is 501.
  routeBoth<{ Params: { id: string } }>(app, 'GET', '/os-hypervisors/:id/uptime', { policy: 'os_compute_api:os-hypervisors:uptime' }, async (req) => {
    await one(req.params.id);
    throw new NotImplemented('Virt driver does not implement host uptime function.');
  });

  routeBoth<{ Params: { id: string } }>(app, 'GET', '/os-hypervisors/:id/search', { policy: 'os_compute_api:os-hypervisors:search' }, async (req) => {
    const at = Date.now();
    return { hypervisors: (await matching(req.params.id)).map((h) => summaryView(h, config, at)) };
  });

  routeBoth<{ Params: { id: string } }>(app, 'GET', '/os-hypervisors/:id/servers', { policy: 'os_compute_api:os-hypervisors:servers' }, async (req) => {
    const found = await matching(req.params.id);
    const instances = await db.selectFrom('instances').select(['id', 'uuid', 'node_uuid']).where('deleted', '=', 0)
      .where('node_uuid', 'in', found.map((h) => h.node.uuid)).orderBy('id').execute();
    const at = Date.now();
    return {
      hypervisors: found.map((h) => {
        const view = summaryView(h, config, at);
        const servers = instances.filter((i) => i.node_uuid === h.node.uuid).map((i) => ({ name: instanceName(i.id), uuid: i.uuid }));
        // Nova adds the key only when the node has servers.
        if (servers.length > 0) view.servers = servers;
        return view;
      }),
    };
  });
}
