import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, NotFound, NotImplemented } from '../common/errors.js';
import type { Config } from '../common/config.js';
import type { Db } from '../db/connection.js';
import { instancesOnNodes, loadHypervisors, type Hypervisor } from '../db/hypervisors.js';
import { serviceIsUp } from '../db/services.js';
import { integerId, mvAtLeast, nextLinks, pageOf, parseBoolParam, queryParam, routeBoth, strictQuery } from './resource-kit.js';
import type { ComputeApiDeps } from './deps.js';

/**
 * The os-hypervisors API (admin only): one hypervisor per compute node with its resources and
 * the state of its host's nova-compute service, as src/db/hypervisors.ts loads them.
 */

function summaryView(req: FastifyRequest, h: Hypervisor, config: Config, at: number): Record<string, unknown> {
  return {
    // 2.53: hypervisors are known by their node's uuid.
    id: mvAtLeast(req, '2.53') ? h.node.uuid : h.node.id,
    hypervisor_hostname: h.node.hypervisor_hostname,
    // A node gone from its back-end with instances left is down whatever its service says.
    state: h.node.unavailable_reason === null && serviceIsUp(h.service, config, at) ? 'up' : 'down',
    status: h.service.disabled === 1 ? 'disabled' : 'enabled',
  };
}

/**
 * The host's uptime in the shape of uptime(1)'s first fields (" 08:32:11 up 93 days, 18:25"),
 * which is what Nova passes on from the driver; null when the driver does not report a start.
 * Users and load averages are left out: no driver here knows them.
 */
export function uptimeText(startedAt: string | null, at: number): string | null {
  if (startedAt === null) return null;
  const start = Date.parse(startedAt);
  if (!Number.isFinite(start)) return null;
  const up = Math.max(0, Math.floor((at - start) / 1000));
  const days = Math.floor(up / 86400);
  const hours = Math.floor((up % 86400) / 3600);
  const minutes = Math.floor((up % 3600) / 60);
  const clock = new Date(at).toISOString().slice(11, 19);
  const dayPart = days > 0 ? `${days} day${days === 1 ? '' : 's'}, ` : '';
  return ` ${clock} up ${dayPart}${hours}:${String(minutes).padStart(2, '0')}`;
}

function detailView(req: FastifyRequest, h: Hypervisor, config: Config, at: number): Record<string, unknown> {
  const service = { id: mvAtLeast(req, '2.53') ? h.service.uuid : h.service.id, host: h.node.host, disabled_reason: h.service.disabled_reason };
  // 2.88: the resource figures (placement's to tell) and cpu_info are gone; the uptime is in.
  if (mvAtLeast(req, '2.88')) {
    return {
      ...summaryView(req, h, config, at),
      hypervisor_type: h.node.hypervisor_type,
      hypervisor_version: h.node.hypervisor_version,
      host_ip: h.node.host_ip,
      service,
      uptime: uptimeText(h.node.started_at, at),
    };
  }
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
    ...summaryView(req, h, config, at),
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
    service,
    // Orrery's addition: why the node is down (shown only then), for the operator.
    ...(h.node.unavailable_reason !== null ? { unavailable_reason: h.node.unavailable_reason } : {}),
  };
}

/** Nova's instance name template: instance-%08x of the row id. */
const instanceName = (id: number): string => `instance-${id.toString(16).padStart(8, '0')}`;

/** The servers of each node, as the hypervisor views list them. */
async function serversOf(db: Db, nodes: Hypervisor[]): Promise<Map<string, Array<{ name: string; uuid: string }>>> {
  const out = new Map<string, Array<{ name: string; uuid: string }>>(nodes.map((h) => [h.node.uuid, []]));
  for (const i of await instancesOnNodes(db, nodes.map((h) => h.node.uuid))) out.get(i.node_uuid ?? '')?.push({ name: instanceName(i.id), uuid: i.uuid });
  return out;
}

/** Adds a node's servers to its view: from 2.75 always, before only when it has some (Nova's rule). */
function withServers(req: FastifyRequest, view: Record<string, unknown>, servers: Array<{ name: string; uuid: string }>): Record<string, unknown> {
  if (servers.length > 0 || mvAtLeast(req, '2.75')) view.servers = servers;
  return view;
}

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** `with_servers` (2.53), strictly boolean. */
function withServersParam(req: FastifyRequest): boolean {
  const raw = queryParam(req, 'with_servers');
  if (raw === undefined) return false;
  const b = parseBoolParam(raw);
  if (b === undefined) throw new BadRequest(`Invalid input for query parameters with_servers. Value: ${raw}. '${raw}' is not a boolean`);
  return b;
}

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db' | 'config'>): void {
  const { db, config } = deps;

  /** A page of hypervisors (limit/marker from 2.33; uuid markers, name pattern and servers from 2.53). */
  const listing = async (req: FastifyRequest, detail: boolean): Promise<Record<string, unknown>> => {
    const v253 = mvAtLeast(req, '2.53');
    if (v253) strictQuery(req, ['hypervisor_hostname_pattern', 'with_servers', 'limit', 'marker'], '2.53');
    let all = await loadHypervisors(db);
    const page = mvAtLeast(req, '2.33') ? pageOf(req) : undefined;
    const pattern = v253 ? queryParam(req, 'hypervisor_hostname_pattern') : undefined;
    let links: unknown[] = [];
    if (pattern !== undefined) {
      if (queryParam(req, 'limit') !== undefined || queryParam(req, 'marker') !== undefined) {
        throw new BadRequest('Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.');
      }
      all = all.filter((h) => h.node.hypervisor_hostname.includes(pattern));
      if (all.length === 0) throw new NotFound(`No hypervisor matching '${pattern}' could be found.`);
    } else if (page) {
      const key = (h: Hypervisor): string => String(v253 ? h.node.uuid : h.node.id);
      if (page.marker !== undefined) {
        const at = all.findIndex((h) => key(h) === page.marker);
        if (at < 0) throw new BadRequest(`marker [${page.marker}] not found`);
        all = all.slice(at + 1);
      }
      all = all.slice(0, page.limit);
      const last = all.at(-1);
      links = nextLinks(req, detail ? 'os-hypervisors/detail' : 'os-hypervisors', page, all.length, last === undefined ? undefined : key(last));
    }
    const servers = v253 && withServersParam(req) ? await serversOf(db, all) : undefined;
    const at = Date.now();
    const out: Record<string, unknown> = {
      hypervisors: all.map((h) => {
        const view = detail ? detailView(req, h, config, at) : summaryView(req, h, config, at);
        return servers ? withServers(req, view, servers.get(h.node.uuid) ?? []) : view;
      }),
    };
    if (links.length > 0) out.hypervisors_links = links;
    return out;
  };

  /** One hypervisor by its id: an integer before 2.53 (anything else is not found, as Nova), a uuid from it. */
  const one = async (req: FastifyRequest, raw: string): Promise<Hypervisor> => {
    let found: Hypervisor[];
    if (mvAtLeast(req, '2.53')) {
      if (!UUID_RE.test(raw)) throw new BadRequest(`Invalid uuid ${raw}`);
      found = (await loadHypervisors(db)).filter((h) => h.node.uuid.replace(/-/g, '') === raw.toLowerCase().replace(/-/g, ''));
    } else {
      const id = integerId(raw);
      found = id === null ? [] : await loadHypervisors(db, { ids: [id] });
    }
    if (found.length === 0) throw new NotFound(`Hypervisor with ID '${raw}' could not be found.`);
    return found[0]!;
  };

  const matching = async (req: FastifyRequest, pattern: string): Promise<Hypervisor[]> => {
    // 2.53 replaced /search and /servers with query parameters of the list.
    if (mvAtLeast(req, '2.53')) throw new NotFound('The resource could not be found.');
    const found = (await loadHypervisors(db)).filter((h) => h.node.hypervisor_hostname.includes(pattern));
    if (found.length === 0) throw new NotFound(`No hypervisor matching '${pattern}' could be found.`);
    return found;
  };

  /** What 2.88 removed answers 404, as a route Nova no longer has. */
  const before288 = (req: FastifyRequest): void => {
    if (mvAtLeast(req, '2.88')) throw new NotFound('The resource could not be found.');
  };

  routeBoth(app, 'GET', '/os-hypervisors', { policy: 'os_compute_api:os-hypervisors:list' }, async (req) => listing(req, false));
  routeBoth(app, 'GET', '/os-hypervisors/detail', { policy: 'os_compute_api:os-hypervisors:list-detail' }, async (req) => listing(req, true));

  routeBoth(app, 'GET', '/os-hypervisors/statistics', { policy: 'os_compute_api:os-hypervisors:statistics' }, async (req) => {
    before288(req);
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
    if (mvAtLeast(req, '2.53')) strictQuery(req, ['with_servers'], '2.53');
    const h = await one(req, req.params.id);
    const view = detailView(req, h, config, Date.now());
    if (mvAtLeast(req, '2.53') && withServersParam(req)) withServers(req, view, (await serversOf(db, [h])).get(h.node.uuid) ?? []);
    return { hypervisor: view };
  });

  // The uptime the node's driver reported a start for; 501 as Nova when it did not. Gone at 2.88 (it is in the detail).
  routeBoth<{ Params: { id: string } }>(app, 'GET', '/os-hypervisors/:id/uptime', { policy: 'os_compute_api:os-hypervisors:uptime' }, async (req) => {
    before288(req);
    const h = await one(req, req.params.id);
    const uptime = uptimeText(h.node.started_at, Date.now());
    if (uptime === null) throw new NotImplemented('Virt driver does not implement host uptime function.');
    return { hypervisor: { ...summaryView(req, h, config, Date.now()), uptime } };
  });

  routeBoth<{ Params: { id: string } }>(app, 'GET', '/os-hypervisors/:id/search', { policy: 'os_compute_api:os-hypervisors:search' }, async (req) => {
    const at = Date.now();
    return { hypervisors: (await matching(req, req.params.id)).map((h) => summaryView(req, h, config, at)) };
  });

  routeBoth<{ Params: { id: string } }>(app, 'GET', '/os-hypervisors/:id/servers', { policy: 'os_compute_api:os-hypervisors:servers' }, async (req) => {
    const found = await matching(req, req.params.id);
    const servers = await serversOf(db, found);
    const at = Date.now();
    return { hypervisors: found.map((h) => withServers(req, summaryView(req, h, config, at), servers.get(h.node.uuid) ?? [])) };
  });
}
