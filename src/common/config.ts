import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Configuration: an INI file with Nova's option names where the meaning is the same, plus
 * environment overrides. `ORRERY_<OPTION>` overrides [DEFAULT] <option>;
 * `ORRERY_<SECTION>__<OPTION>` overrides [<section>] <option> (case-insensitive).
 * Every option has a default here, so no file is needed.
 */
export type IniData = Record<string, Record<string, string>>;

export function parseIni(text: string): IniData {
  const out: IniData = { DEFAULT: {} };
  let section = 'DEFAULT';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = header[1]!.trim();
      out[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`config: cannot parse line "${line}"`);
    out[section]![line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/** The text parseIni reads back: each section's `key = value` lines under its header. */
export function formatIni(data: IniData): string {
  return Object.entries(data).map(([section, opts]) => `[${section}]\n${Object.entries(opts).map(([k, v]) => `${k} = ${v}\n`).join('')}`).join('\n');
}

const DEFAULTS: IniData = {
  DEFAULT: {
    host: 'localhost',
    state_path: './data',
    compute_driver: 'fake',
    transport_url: 'inprocess://',
    cpu_allocation_ratio: '16.0',
    ram_allocation_ratio: '1.5',
    disk_allocation_ratio: '1.0',
    reserved_host_memory_mb: '0',
    reserved_host_disk_mb: '0',
    default_availability_zone: 'nova',
    internal_service_availability_zone: 'internal',
    report_interval: '10',
    service_down_time: '60',
    sync_power_state_interval: '600',
    rpc_response_timeout: '60',
    scheduler_max_attempts: '3',
    /** Seconds a deleted server stays SOFT_DELETED (restorable) before the conductor reclaims it; 0: deletes are immediate. */
    reclaim_instance_interval: '0',
    region_name: 'RegionOne',
    bind_host: '127.0.0.1',
    /** Hosts of the compute services the all-in-one runs, comma separated. */
    compute_hosts: 'compute1,compute2',
    /** Seconds a resized server waits in VERIFY_RESIZE before the conductor confirms it itself (Nova's); 0: never. */
    resize_confirm_window: '0',
    /** Whether a resize may pick the server's own host (Nova's; false: the scheduler ignores it). */
    allow_resize_to_same_host: 'false',
    /** Seconds a shelved server keeps its guest before it is offloaded (Nova's); 0: at once; -1: never. */
    shelved_offload_time: '0',
    /** Seconds between the conductor's looks for shelved servers to offload (Nova's shelved_poll_interval). */
    shelved_poll_interval: '3600',
  },
  /** max_pool_size: PostgreSQL connections per process. */
  database: { connection: 'sqlite:///$state_path/orrery.sqlite', max_pool_size: '10' },
  /** max_servers_per_request: the most servers one POST /servers (min_count/max_count) may create; as many as a page lists. */
  api: {
    identity_port: '5000', image_port: '9292', compute_port: '8774', placement_port: '8778', network_port: '9696', max_limit: '1000',
    max_servers_per_request: '1000',
    /** Nova's metadata API (behind the metadata proxy); dhcp_domain: the domain of the hostnames it serves (Nova's). */
    metadata_port: '8775', dhcp_domain: 'novalocal',
  },
  identity: {
    token_expiration: '3600',
    admin_user: 'admin',
    admin_password: 'secret',
    admin_project: 'admin',
    /** pbkdf2_sha512 or scrypt, for new hashes; stored hashes of either kind keep verifying. */
    password_hash_algorithm: 'pbkdf2_sha512',
    /** PBKDF2 iterations: OWASP's figure for PBKDF2-HMAC-SHA512. */
    password_hash_rounds: '210000',
    /** scrypt's N. */
    password_hash_cost: '16384',
    /**
     * The per-source limit on failed password logins at POST /v3/auth/tokens (a token bucket per
     * client address, IPv6 per /64): this many failures at once, then this many per second; 0
     * turns the limit off. Only failures spend it, so a source logging in correctly is never
     * limited; an exhausted source gets 429 before any password is hashed. The address is the
     * connection's (no proxy header is trusted): behind a load balancer that does not keep
     * client addresses, every client shares one bucket — raise the burst, or set it to 0 there.
     * Each API process keeps its own buckets; the lockout below is shared through the database.
     */
    auth_failure_burst: '10',
    auth_failure_refill_per_second: '1',
    /** Sources whose buckets are remembered; the least recently seen are forgotten first. */
    auth_failure_sources: '10000',
  },
  /**
   * Keystone's lockout: after `lockout_failure_attempts` consecutive failed passwords (empty or 0:
   * never, Keystone's default) the user is refused even the right one for `lockout_duration`
   * seconds (empty or 0: until an admin sets the user enabled again).
   */
  security_compliance: { lockout_failure_attempts: '', lockout_duration: '1800' },
  service_user: { username: 'orrery', password: 'orrery-service', project_name: 'service', auth_url: '' },
  /**
   * image_size_cap: bytes one image's data may have (Glance's option and default, 1 TiB).
   * image_property_quota: additional properties one image may have (Glance's, 128).
   */
  image: { store_path: '$state_path/images', seed_image: 'true', image_size_cap: '1099511627776', image_property_quota: '128' },
  quota: { instances: '10', cores: '20', ram: '51200', key_pairs: '100', metadata_items: '128' },
  /**
   * stopped_event_delay: seconds a driver's Stopped event waits before it is acted on (a hard
   * reboot emits Stopped then Started). node_refresh_interval: seconds between reads of the
   * driver's nodes (nodes added, removed or resized at run time are reported within it).
   * long_call_timeout: seconds a spawn, snapshot or delete may take on the driver before it is
   * given up as Timeout and (contract 1.1 drivers) its signal aborted; 0: no deadline.
   */
  compute: { stopped_event_delay: '15', node_refresh_interval: '60', long_call_timeout: '0' },
  /**
   * compute: 'auto' (the oldest live compute's RPC version) or a version.
   * conductor: empty, or the version a compute speaks to conductors still on an older release
   * (conductors are upgraded first, so only an unusual order needs it).
   */
  upgrade_levels: { compute: 'auto', conductor: '' },
  /**
   * The conductor's task flows (moves, shelve): flow_lease, seconds a conductor's hold on a flow
   * lasts unrenewed — a conductor killed mid-flow loses its flows to another that long after;
   * flow_poll_interval, seconds between looks for flows nobody holds; move_step_timeout, seconds
   * one step on a compute (a disk copy, a live migration) may take before it is given up.
   */
  conductor: { flow_lease: '20', flow_poll_interval: '5', move_step_timeout: '1800' },
  cinder: { cross_az_attach: 'true' },
  /**
   * Remote VNC consoles (Nova's options). enabled: whether servers' VNC consoles may be asked
   * for. novncproxy_port: the noVNC websocket proxy's port in the API process, on bind_host
   * (0: an ephemeral port). novncproxy_base_url: the page the console URLs point at (empty:
   * http://<bind_host>:<the proxy's port>/vnc_lite.html); the URL adds ?path=%3Ftoken%3D<token>.
   */
  vnc: { enabled: 'true', novncproxy_port: '6080', novncproxy_base_url: '' },
  /**
   * Interactive serial consoles (Nova's options). enabled: whether they may be asked for.
   * serialproxy_port: the serial websocket proxy's port in the API process, on bind_host (0: an
   * ephemeral port). base_url: the websocket URL consoles are handed (empty: ws://<bind_host>:<port>/);
   * the URL adds ?token=<token>.
   */
  serial_console: { enabled: 'true', serialproxy_port: '6083', base_url: '' },
  /** token_ttl: seconds a console URL's token stays valid for a first connection (Nova's [consoleauth] token_ttl). */
  consoleauth: { token_ttl: '600' },
  /** policy_file: overrides of the policy defaults (YAML or JSON), relative to this file's folder; a missing file means none. */
  oslo_policy: { policy_file: 'policy.yaml' },
};

export class Config {
  private readonly data: IniData;

  /** @param path the file the options came from: relative paths in it (policy_file) are relative to its folder. */
  constructor(file?: IniData, private readonly env: NodeJS.ProcessEnv = process.env, readonly path?: string) {
    this.data = {};
    for (const src of [DEFAULTS, file ?? {}]) {
      for (const [section, opts] of Object.entries(src)) {
        this.data[section] = { ...(this.data[section] ?? {}), ...opts };
      }
    }
  }

  static load(path?: string, env: NodeJS.ProcessEnv = process.env): Config {
    const file = path ?? env.ORRERY_CONFIG;
    return new Config(file ? parseIni(readFileSync(file, 'utf8')) : undefined, env, file ? resolve(file) : undefined);
  }

  /** A copy with some options replaced (tests and the all-in-one use it). */
  with(overrides: IniData): Config {
    const merged: IniData = {};
    for (const [s, o] of Object.entries(this.data)) merged[s] = { ...o };
    for (const [s, o] of Object.entries(overrides)) merged[s] = { ...(merged[s] ?? {}), ...o };
    return new Config(merged, this.env, this.path);
  }

  /** Raw string value, env override first, `$state_path` expanded; undefined when unset. */
  opt(section: string, name: string): string | undefined {
    const envName =
      section === 'DEFAULT' ? `ORRERY_${name}` : `ORRERY_${section}__${name}`;
    const fromEnv = this.env[envName.toUpperCase()];
    const value = fromEnv ?? this.data[section]?.[name];
    if (value === undefined) return undefined;
    if (value.includes('$state_path') && name !== 'state_path') {
      return value.replaceAll('$state_path', this.str('DEFAULT', 'state_path'));
    }
    return value;
  }

  str(section: string, name: string): string {
    const v = this.opt(section, name);
    if (v === undefined) throw new Error(`config: [${section}] ${name} is not set`);
    return v;
  }

  num(section: string, name: string): number {
    const v = Number(this.str(section, name));
    if (!Number.isFinite(v)) throw new Error(`config: [${section}] ${name} must be a number`);
    return v;
  }

  bool(section: string, name: string): boolean {
    return /^(1|true|yes|on)$/i.test(this.str(section, name));
  }

  list(section: string, name: string): string[] {
    return (this.opt(section, name) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  }

  /** All options of one section (for a driver's own section), including those set only in the environment. */
  section(section: string): Record<string, string> {
    const names = new Set(Object.keys(this.data[section] ?? {}));
    const prefix = (section === 'DEFAULT' ? 'ORRERY_' : `ORRERY_${section}__`).toUpperCase();
    for (const key of Object.keys(this.env)) {
      if (key.toUpperCase().startsWith(prefix) && (section !== 'DEFAULT' || !key.includes('__'))) {
        names.add(key.slice(prefix.length).toLowerCase());
      }
    }
    const out: Record<string, string> = {};
    for (const k of names) out[k] = this.opt(section, k)!;
    return out;
  }

  /** A path option resolved as oslo.config does: relative to the configuration file's folder (else the working directory). */
  configRelative(p: string): string {
    return resolve(this.path ? dirname(this.path) : '.', p);
  }

  statePath(...parts: string[]): string {
    return resolve(this.str('DEFAULT', 'state_path'), ...parts);
  }
}
