import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../common/config.js';
import { isoMicros, isoSeconds } from '../common/time.js';
import type { Db } from '../db/connection.js';
import { computeServicesOf, latestFaults, type ComputeServiceRow, type FaultRow } from '../db/instance-list.js';
import { metadataFor, type InstanceRow } from '../db/instances.js';
import { serverGroupsOf } from '../db/server-group-membership.js';
import { serviceIsUp } from '../db/services.js';
import type { Flavor } from '../objects/compute.js';
import { statusFromState } from '../objects/states.js';
import { mvAtLeast } from './microversion.js';
import { resourceLinks } from './resource-kit.js';
import { diskConfigOf } from './server-schemas.js';
import { parseNetworkInfo } from '../db/instance-network.js';
import { addressesOf } from './server-ips.js';

/**
 * The JSON view of a server (Nova's views/servers.py ViewBuilder), for microversions up to 2.93.
 * 2.69's minimal view for servers of a down cell never applies: Orrery has one database and no
 * cells, so a listing either answers whole or fails (503 while the database is unreachable).
 */

/** Statuses that show `progress` and those that show `fault`. */
const PROGRESS_STATUSES = new Set(['ACTIVE', 'BUILD', 'REBUILD', 'RESIZE', 'VERIFY_RESIZE', 'MIGRATING']);
const FAULT_STATUSES = new Set(['ERROR', 'DELETED']);

/** What the views of a set of servers need besides their rows, loaded with one query per kind. */
export interface ViewExtras {
  metadata: Map<string, Record<string, string>>;
  faults: Map<string, FaultRow>;
  services: Map<string, ComputeServiceRow>;
}

export function serverStatus(row: Pick<InstanceRow, 'deleted' | 'vm_state' | 'task_state'>): string {
  return row.deleted !== 0 ? 'DELETED' : statusFromState(row.vm_state, row.task_state);
}

/** Loads metadata for every row, faults for those whose status shows one, compute services when asked. */
export async function loadViewExtras(db: Db, rows: ReadonlyArray<Pick<InstanceRow, 'uuid' | 'host' | 'deleted' | 'vm_state' | 'task_state'>>, opts: { services: boolean }): Promise<ViewExtras> {
  const faulted = rows.filter((r) => FAULT_STATUSES.has(serverStatus(r))).map((r) => r.uuid);
  const hosts = opts.services ? rows.map((r) => r.host).filter((h): h is string => h !== null) : [];
  const [metadata, faults, services] = await Promise.all([
    metadataFor(db, rows.map((r) => r.uuid)),
    latestFaults(db, faulted),
    computeServicesOf(db, hosts),
  ]);
  return { metadata, faults, services };
}

/** Nova's hostId: an opaque per-project name of the host. */
export function hostIdOf(projectId: string, host: string | null): string {
  return host ? createHash('sha224').update(projectId + host).digest('hex') : '';
}

export function instanceName(id: number): string {
  return `instance-${id.toString(16).padStart(8, '0')}`;
}

/** A row with the columns the views read (list queries select only these). */
export type ViewRow = Pick<InstanceRow, (typeof VIEW_COLUMNS)[number]>;

/** Columns of the detailed view; lists select only these, since each column of 1000 rows costs. */
export const VIEW_COLUMNS = [
  'id', 'uuid', 'display_name', 'display_description', 'deleted', 'vm_state', 'task_state', 'power_state', 'project_id', 'user_id',
  'host', 'node', 'image_ref', 'flavor_id', 'created_at', 'updated_at', 'access_ip_v4', 'access_ip_v6', 'progress',
  'availability_zone', 'config_drive', 'key_name', 'launched_at', 'terminated_at', 'reservation_id', 'launch_index', 'hostname',
  'user_data', 'locked', 'tags', 'flavor', 'auto_disk_config', 'locked_reason', 'network_info',
] as const;

/** Columns of the basic view. */
export const BASIC_COLUMNS = ['uuid', 'display_name'] as const;

/** ISO timestamps as we store them (toISOString) turn into Nova's formats by slicing, not parsing. */
const STORED_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const seconds = (ts: string | null): string | null => (ts !== null && STORED_ISO.test(ts) ? `${ts.slice(0, 19)}Z` : isoSeconds(ts));
const micros = (ts: string | null): string | null => (ts !== null && STORED_ISO.test(ts) ? `${ts.slice(0, 23)}000` : isoMicros(ts));

type Link = { rel: string; href: string };

export interface ViewOptions {
  /**
   * The reduced view Nova answers to update and rebuild (up to 2.74): no availability zone,
   * config drive, key name, usage, extended attributes, states, volumes or host status.
   */
  reduced?: boolean;
  /** The view of one server (GET, PUT, rebuild), which from 2.71 names its server groups. */
  one?: boolean;
  /** The server's groups, loaded by showServer for `one` views from 2.71. */
  serverGroups?: string[];
}

/**
 * Renders servers for one request: what depends only on the request (links, microversion,
 * role) is worked out once, so a page of 1000 servers costs little more than its rows.
 */
export class ServerViewer {
  private readonly isAdmin: boolean;
  private readonly mv: {
    v23: boolean; v29: boolean; v216: boolean; v219: boolean; v226: boolean; v247: boolean; v263: boolean; v271: boolean; v273: boolean;
    v290: boolean;
  };
  private readonly selfPrefix: string;
  private readonly bookmarkPrefix: string;
  private readonly defaultZone: string;
  private readonly hostIds = new Map<string, string>();

  constructor(req: FastifyRequest, private readonly config: Config) {
    this.isAdmin = req.auth.isAdmin;
    this.mv = {
      v23: mvAtLeast(req, '2.3'), v29: mvAtLeast(req, '2.9'), v216: mvAtLeast(req, '2.16'), v219: mvAtLeast(req, '2.19'), v226: mvAtLeast(req, '2.26'),
      v247: mvAtLeast(req, '2.47'), v263: mvAtLeast(req, '2.63'), v271: mvAtLeast(req, '2.71'), v273: mvAtLeast(req, '2.73'), v290: mvAtLeast(req, '2.90'),
    };
    const [self, bookmark] = resourceLinks(req, 'servers', 'x');
    this.selfPrefix = self!.href.slice(0, -'servers/x'.length);
    this.bookmarkPrefix = bookmark!.href.slice(0, -'servers/x'.length);
    this.defaultZone = config.str('DEFAULT', 'default_availability_zone');
  }

  /** Whether detailed views need the compute services (host_status). */
  get needsServices(): boolean {
    return this.isAdmin && this.mv.v216;
  }

  links(uuid: string): Link[] {
    return [
      { rel: 'self', href: `${this.selfPrefix}servers/${uuid}` },
      { rel: 'bookmark', href: `${this.bookmarkPrefix}servers/${uuid}` },
    ];
  }

  private bookmark(collection: string, id: string): Link[] {
    return [{ rel: 'bookmark', href: `${this.bookmarkPrefix}${collection}/${id}` }];
  }

  private hostId(projectId: string, host: string | null): string {
    if (!host) return '';
    const key = `${projectId}\u0000${host}`;
    let id = this.hostIds.get(key);
    if (id === undefined) {
      id = hostIdOf(projectId, host);
      this.hostIds.set(key, id);
    }
    return id;
  }

  /** The minimal view of GET /servers. */
  basic(row: Pick<InstanceRow, 'uuid' | 'display_name'>): Record<string, unknown> {
    return { id: row.uuid, name: row.display_name, links: this.links(row.uuid) };
  }

  /** The detailed view of GET /servers/{id} and /servers/detail. */
  detail(row: ViewRow, extras: ViewExtras, opts: ViewOptions = {}): Record<string, unknown> {
    const status = serverStatus(row);
    const s: Record<string, unknown> = {
      id: row.uuid,
      name: row.display_name,
      status,
      tenant_id: row.project_id,
      user_id: row.user_id,
      metadata: extras.metadata.get(row.uuid) ?? {},
      hostId: this.hostId(row.project_id, row.host),
      image: row.image_ref ? { id: row.image_ref, links: this.bookmark('images', row.image_ref) } : '',
      flavor: this.mv.v247 ? embeddedFlavor(row.flavor) : { id: row.flavor_id, links: this.bookmark('flavors', row.flavor_id) },
      created: seconds(row.created_at),
      updated: seconds(row.updated_at),
      addresses: addressesOf(parseNetworkInfo(row.network_info)),
      accessIPv4: row.access_ip_v4 ?? '',
      accessIPv6: row.access_ip_v6 ?? '',
      links: this.links(row.uuid),
      'OS-DCF:diskConfig': diskConfigOf(row.auto_disk_config),
    };
    if (FAULT_STATUSES.has(status)) {
      const f = extras.faults.get(row.uuid);
      if (f) {
        const fault: Record<string, unknown> = { code: f.code, created: seconds(f.created_at), message: f.message };
        if (f.details && (this.isAdmin || f.code !== 500)) fault.details = f.details;
        s.fault = fault;
      }
    }
    if (PROGRESS_STATUSES.has(status)) s.progress = row.progress;
    if (!opts.reduced) {
      s['OS-EXT-AZ:availability_zone'] = row.availability_zone ?? (row.host ? this.defaultZone : '');
      s.config_drive = row.config_drive;
      s.key_name = row.key_name;
      s['OS-SRV-USG:launched_at'] = micros(row.launched_at);
      s['OS-SRV-USG:terminated_at'] = micros(row.terminated_at);
      if (this.isAdmin) {
        s['OS-EXT-SRV-ATTR:host'] = row.host;
        s['OS-EXT-SRV-ATTR:instance_name'] = instanceName(row.id);
        s['OS-EXT-SRV-ATTR:hypervisor_hostname'] = row.node;
        if (this.mv.v23) {
          s['OS-EXT-SRV-ATTR:reservation_id'] = row.reservation_id;
          s['OS-EXT-SRV-ATTR:launch_index'] = row.launch_index;
          s['OS-EXT-SRV-ATTR:hostname'] = row.hostname;
          s['OS-EXT-SRV-ATTR:kernel_id'] = '';
          s['OS-EXT-SRV-ATTR:ramdisk_id'] = '';
          s['OS-EXT-SRV-ATTR:root_device_name'] = null;
          s['OS-EXT-SRV-ATTR:user_data'] = row.user_data;
        }
      } else if (this.mv.v290) {
        s['OS-EXT-SRV-ATTR:hostname'] = row.hostname; // 2.90: the guest's hostname is the user's to see
      }
      s['OS-EXT-STS:task_state'] = row.task_state;
      s['OS-EXT-STS:vm_state'] = row.vm_state;
      s['OS-EXT-STS:power_state'] = row.power_state;
      s['os-extended-volumes:volumes_attached'] = [];
      if (this.isAdmin && this.mv.v216) s.host_status = hostStatus(row, extras.services, this.config);
    }
    if (this.mv.v29) s.locked = row.locked === 1;
    if (this.mv.v219) s.description = row.display_description;
    if (this.mv.v226) s.tags = JSON.parse(row.tags) as string[];
    // No driver verifies image signatures, so no server has trusted certificates (server-create-checks.ts).
    if (this.mv.v263) s.trusted_image_certificates = null;
    if (this.mv.v271 && opts.one) s.server_groups = opts.serverGroups ?? [];
    if (this.mv.v273) s.locked_reason = row.locked === 1 ? row.locked_reason : null;
    return s;
  }
}

/**
 * 2.47: the flavor as the server was built with it (Nova's embedded flavor): no id or links,
 * its extra specs (Nova's default policy lets the project's readers index them). 2.55's
 * description stays out of server views.
 */
function embeddedFlavor(json: string): Record<string, unknown> {
  const f = JSON.parse(json) as Flavor;
  return {
    vcpus: f.vcpus, ram: f.memoryMb, disk: f.rootGb, ephemeral: f.ephemeralGb, swap: f.swap, original_name: f.name,
    extra_specs: { ...(f.extraSpecs ?? {}) },
  };
}

function hostStatus(row: ViewRow, services: Map<string, ComputeServiceRow>, config: Config): string {
  if (!row.host) return '';
  const svc = services.get(row.host);
  if (!svc) return '';
  if (svc.forced_down === 1) return 'DOWN';
  if (svc.disabled === 1) return 'MAINTENANCE';
  return serviceIsUp(svc, config) ? 'UP' : 'UNKNOWN';
}

/** The links of one server (the Location of create and rebuild). */
export function serverLinks(req: FastifyRequest, uuid: string): Link[] {
  return resourceLinks(req, 'servers', uuid);
}

/** The detailed view of one server, with what it needs loaded. */
export async function showServer(db: Db, req: FastifyRequest, config: Config, row: InstanceRow, opts: ViewOptions = {}): Promise<Record<string, unknown>> {
  const viewer = new ServerViewer(req, config);
  const [extras, serverGroups] = await Promise.all([
    loadViewExtras(db, [row], { services: viewer.needsServices && !opts.reduced }),
    opts.one && mvAtLeast(req, '2.71') ? serverGroupsOf(db, row.uuid) : Promise.resolve(undefined),
  ]);
  return viewer.detail(row, extras, { ...opts, serverGroups });
}
