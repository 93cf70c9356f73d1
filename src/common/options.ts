/**
 * Every option of the service, with its section, default and meaning: the one place an option is
 * defined. Config takes its defaults from here, start-up checks values against the types here,
 * and `orrery config reference` / `orrery config sample` write docs/configuration.md and
 * etc/orrery.conf.sample from it (a test keeps those files equal to this table). The drivers'
 * own sections come from their packages' `driverOptions`.
 *
 * To add an option: one line in its section, `name: { default, help }` plus `type` when it is
 * read as a number, port, bool or list. `$state_path` in a default is replaced by
 * [DEFAULT] state_path.
 */
import type { OptionDef } from '@orrery/virt-api';

export type { OptionDef, OptionType } from '@orrery/virt-api';

/** Section → option name → definition. */
export type OptionTable = Readonly<Record<string, Readonly<Record<string, OptionDef>>>>;

/** What each section is for, shown above it in the reference and the sample file. */
export const SECTION_HELP: Readonly<Record<string, string>> = {
  DEFAULT: 'Options of every process: this host, the state directory, the bus, scheduling and the periodic tasks.',
  database: 'The database every service shares (SQLite for one process, PostgreSQL for several).',
  api: 'The ports the APIs listen on ([DEFAULT] bind_host) and request limits.',
  identity: 'The identity service: tokens, the bootstrap admin, password hashing and login rate limits.',
  security_compliance: "Keystone's account lockout.",
  credential: "Keystone's credential encryption keys.",
  service_user: 'The account the services use to call each other\'s APIs.',
  image: 'The image service: where image data is stored and its limits.',
  quota: "Nova's default quotas (per project; -1 is unlimited). Per-project overrides are set through the API.",
  quotas: "Neutron's default quotas (per project; -1 is unlimited).",
  compute: 'The compute service (one per host).',
  upgrade_levels: 'RPC version pins for rolling upgrades.',
  conductor: "The conductor's task flows (moves, shelve).",
  scheduler: 'What the scheduler filters on beyond room, zones and traits.',
  cinder: 'Volume attachment rules.',
  oslo_policy: 'Policy overrides.',
  metrics: 'The Prometheus listener (GET /metrics) every process starts.',
  neutron: 'How the compute API reaches the network service.',
  network: 'The network service.',
  network_agent: 'The network agent (one per host): data plane, DHCP, routers, metadata proxies.',
  metadata_agent: "The metadata agent: where the per-network metadata proxies forward guests' requests.",
  vnc: "Remote VNC consoles: the noVNC websocket proxy of the API process (Nova's nova-novncproxy).",
  serial_console: "Interactive serial consoles: the serial websocket proxy of the API process (Nova's nova-serialproxy).",
  consoleauth: 'Console URL tokens.',
  baremetal: "The Bare Metal conductor worker every conductor runs: node locks, power sync, IPMI calls, PXE deploys and their HTTP boot server.",
};

export const OPTIONS = {
  DEFAULT: {
    host: { default: 'localhost', help: 'The name this host is known by in service records and as the compute host of its guests.' },
    state_path: { default: './data', help: 'Directory of everything the cloud stores on disk (database, images, instances); relative to the working directory.' },
    compute_driver: { default: 'fake', help: 'Virt driver of the compute service: a bundled name (fake, libvirt, docker), an npm package name or a path starting with . or /.' },
    transport_url: { default: 'inprocess://', help: 'The RPC bus: inprocess:// (every service in this process) or rabbit://user:pass@host:port/vhost (RabbitMQ).', secret: true },
    cpu_allocation_ratio: { default: '16.0', type: 'float', min: 0, help: 'Virtual CPUs placement may allocate per physical CPU.' },
    ram_allocation_ratio: { default: '1.5', type: 'float', min: 0, help: 'MiB of guest memory placement may allocate per MiB of host memory.' },
    disk_allocation_ratio: { default: '1.0', type: 'float', min: 0, help: 'GiB of guest disk placement may allocate per GiB of host disk.' },
    reserved_host_memory_mb: { default: '0', type: 'int', min: 0, help: 'MiB of each node\'s memory kept for the host (not offered to guests).' },
    reserved_host_disk_mb: { default: '0', type: 'int', min: 0, help: 'MiB of each node\'s disk kept for the host (not offered to guests).' },
    default_availability_zone: { default: 'nova', help: 'Availability zone of a compute host in no aggregate with a zone.' },
    internal_service_availability_zone: { default: 'internal', help: 'Availability zone reported for the non-compute services.' },
    report_interval: { default: '10', type: 'float', min: 0.1, help: 'Seconds between a service\'s heartbeats.' },
    service_down_time: { default: '60', type: 'float', min: 1, help: 'Seconds since its last heartbeat after which a service counts as down.' },
    sync_power_state_interval: { default: '600', type: 'float', min: 0, help: 'Seconds between a compute\'s comparisons of guest power states with the database; 0: never.' },
    broker_connect_timeout: { default: '30', type: 'float', min: 0.1, help: 'Seconds a service keeps trying to reach the message broker when it starts before it exits with an error.' },
    rpc_response_timeout: { default: '60', type: 'float', min: 0.1, help: 'Seconds an RPC call waits for its answer before it fails with a timeout.' },
    scheduler_max_attempts: { default: '3', type: 'int', min: 1, help: 'Hosts a build is tried on (the first and its reschedules) before the server goes to ERROR.' },
    reclaim_instance_interval: { default: '0', type: 'float', min: 0, help: 'Seconds a deleted server stays SOFT_DELETED (restorable) before the conductor reclaims it; 0: deletes are immediate.' },
    region_name: { default: 'RegionOne', help: 'Region of every endpoint in the service catalog.' },
    bind_host: { default: '127.0.0.1', help: 'Address every API listens on.' },
    compute_hosts: { default: 'compute1,compute2', type: 'list', help: 'Hosts of the compute services the all-in-one runs, comma separated.' },
    resize_confirm_window: { default: '0', type: 'float', min: 0, help: 'Seconds a resized server waits in VERIFY_RESIZE before the conductor confirms it itself; 0: never.' },
    allow_resize_to_same_host: { default: 'false', type: 'bool', help: 'Whether a resize may pick the server\'s own host (false: the scheduler leaves it out).' },
    shelved_offload_time: { default: '0', type: 'float', min: -1, help: 'Seconds a shelved server keeps its guest before it is offloaded; 0: at once; -1: never.' },
    shelved_poll_interval: { default: '3600', type: 'float', min: 1, help: 'Seconds between the conductor\'s looks for shelved servers to offload.' },
    log_level: { default: 'info', choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], help: 'The least severe log line written (ORRERY_LOG_LEVEL).' },
    log_format: { default: 'json', choices: ['json', 'pretty'], help: 'json (one object a line) or pretty (pino-pretty\'s readable lines, for a terminal).' },
    log_file: { default: '', help: 'The file every log line is appended to (reopened on SIGHUP, for logrotate); empty: standard output.' },
  },
  database: {
    connection: { default: 'sqlite:///$state_path/orrery.sqlite', help: 'sqlite:///PATH (one process) or postgresql://user:pass@host:port/db (several processes).', secret: true },
    max_pool_size: { default: '10', type: 'int', min: 1, help: 'PostgreSQL connections per process.' },
  },
  api: {
    identity_port: { default: '5000', type: 'port', help: 'Port of the identity API (Keystone v3); 0: any free port.' },
    image_port: { default: '9292', type: 'port', help: 'Port of the image API (Glance v2); 0: any free port.' },
    compute_port: { default: '8774', type: 'port', help: 'Port of the compute API (Nova v2.1); 0: any free port.' },
    placement_port: { default: '8778', type: 'port', help: 'Port of the placement API; 0: any free port.' },
    network_port: { default: '9696', type: 'port', help: 'Port of the network API (Neutron v2.0); 0: any free port.' },
    baremetal_port: { default: '6385', type: 'port', help: 'Port of the Bare Metal API (Ironic v1, docs/baremetal.md); 0: any free port.' },
    metadata_port: { default: '8775', type: 'port', help: "Port of Nova's metadata API (guests reach it through the metadata proxy)." },
    dashboard_port: { default: '8000', type: 'port', help: 'Port of the web dashboard (docs/dashboard.md); 0: any free port; empty: no dashboard.' },
    dhcp_domain: { default: 'novalocal', help: 'Domain of the hostnames the metadata API serves.' },
    max_limit: { default: '1000', type: 'int', min: 1, help: 'The most items one page of a list may have.' },
    max_servers_per_request: { default: '1000', type: 'int', min: 1, help: 'The most servers one POST /servers (min_count/max_count) may create.' },
  },
  identity: {
    token_expiration: { default: '3600', type: 'int', min: 1, help: 'Seconds a token is valid.' },
    admin_user: { default: 'admin', help: 'Name of the admin user created when the database is new.' },
    admin_password: { default: 'secret', help: 'Password of that admin user (change it before exposing the cloud).', secret: true },
    admin_project: { default: 'admin', help: 'Project the admin user has the admin role on.' },
    password_hash_algorithm: { default: 'pbkdf2_sha512', choices: ['pbkdf2_sha512', 'scrypt'], help: 'Hash for new passwords; stored hashes of either kind keep verifying.' },
    password_hash_rounds: { default: '210000', type: 'int', min: 1000, help: "PBKDF2 iterations (OWASP's figure for PBKDF2-HMAC-SHA512)." },
    password_hash_cost: { default: '16384', type: 'int', min: 1024, help: "scrypt's N (a power of two)." },
    auth_failure_burst: {
      default: '10', type: 'int', min: 0,
      help: 'Failed password logins one client address (IPv6: its /64) may make at once at POST /v3/auth/tokens before it gets 429; only failures count; 0: no limit. '
        + 'The address is the connection\'s (no proxy header is trusted): behind a load balancer that hides client addresses, raise it or set it to 0.',
    },
    auth_failure_refill_per_second: { default: '1', type: 'float', min: 0, help: 'Failed logins per second an address earns back, up to auth_failure_burst.' },
    auth_failure_sources: { default: '10000', type: 'int', min: 1, help: 'Client addresses whose failure counts an API process remembers; the least recently seen are forgotten first.' },
  },
  security_compliance: {
    lockout_failure_attempts: { default: '', type: 'int', min: 0, help: 'Consecutive failed passwords after which a user is refused even the right one; empty or 0: never.' },
    lockout_duration: { default: '1800', type: 'int', min: 0, help: 'Seconds a locked-out user stays locked; empty or 0: until an admin enables the user again.' },
  },
  credential: {
    key_repository: { default: '$state_path/credential-keys', help: 'Directory of the Fernet keys that encrypt stored credentials.' },
  },
  service_user: {
    username: { default: 'orrery', help: 'User the services authenticate as when they call each other.' },
    password: { default: 'orrery-service', help: 'That user\'s password.', secret: true },
    project_name: { default: 'service', help: 'That user\'s project.' },
    auth_url: { default: '', help: 'Identity API the services authenticate against; empty: this deployment\'s own.' },
  },
  image: {
    store_path: { default: '$state_path/images', help: 'Directory of image data.' },
    seed_image: { default: 'true', type: 'bool', help: 'Whether a new, empty cloud gets one small public image (a placeholder: it boots on the fake driver only).' },
    image_size_cap: { default: '1099511627776', type: 'int', min: 1, help: 'Bytes one image\'s data may have (1 TiB).' },
    image_property_quota: { default: '128', type: 'int', min: 0, help: 'Additional properties one image may have.' },
  },
  quota: {
    instances: { default: '10', type: 'int', min: -1, help: 'Servers per project.' },
    cores: { default: '20', type: 'int', min: -1, help: 'Virtual CPUs per project.' },
    ram: { default: '51200', type: 'int', min: -1, help: 'MiB of server memory per project.' },
    floating_ips: { default: '10', type: 'int', min: -1, help: 'Floating IPs per project (the legacy quota; Neutron\'s [quotas] quota_floatingip applies).' },
    fixed_ips: { default: '-1', type: 'int', min: -1, help: 'Fixed IPs per project (legacy).' },
    metadata_items: { default: '128', type: 'int', min: -1, help: 'Metadata items per server.' },
    injected_files: { default: '5', type: 'int', min: -1, help: 'Personality files per server.' },
    injected_file_content_bytes: { default: '10240', type: 'int', min: -1, help: 'Bytes of one personality file.' },
    injected_file_path_bytes: { default: '255', type: 'int', min: -1, help: 'Bytes of one personality file\'s path.' },
    key_pairs: { default: '100', type: 'int', min: -1, help: 'Key pairs per user.' },
    security_groups: { default: '10', type: 'int', min: -1, help: 'Security groups per project (legacy).' },
    security_group_rules: { default: '20', type: 'int', min: -1, help: 'Rules per security group (legacy).' },
    server_groups: { default: '10', type: 'int', min: -1, help: 'Server groups per project.' },
    server_group_members: { default: '10', type: 'int', min: -1, help: 'Servers per server group.' },
  },
  quotas: {
    quota_network: { default: '100', type: 'int', min: -1, help: 'Networks per project.' },
    quota_subnet: { default: '100', type: 'int', min: -1, help: 'Subnets per project.' },
    quota_port: { default: '500', type: 'int', min: -1, help: 'Ports per project.' },
    quota_router: { default: '10', type: 'int', min: -1, help: 'Routers per project.' },
    quota_floatingip: { default: '50', type: 'int', min: -1, help: 'Floating IPs per project.' },
    quota_security_group: { default: '10', type: 'int', min: -1, help: 'Security groups per project.' },
    quota_security_group_rule: { default: '100', type: 'int', min: -1, help: 'Security group rules per project.' },
  },
  compute: {
    stopped_event_delay: { default: '15', type: 'float', min: 0, help: 'Seconds a driver\'s Stopped event waits before it is acted on (a hard reboot emits Stopped then Started).' },
    node_refresh_interval: { default: '60', type: 'float', min: 1, help: 'Seconds between reads of the driver\'s nodes (nodes added, removed or resized at run time show within it).' },
    long_call_timeout: { default: '0', type: 'float', min: 0, help: 'Seconds a spawn, snapshot or delete may take on the driver before it fails as Timeout (and a 1.1+ driver\'s call is aborted); 0: no deadline.' },
  },
  upgrade_levels: {
    compute: { default: 'auto', help: 'RPC version the services speak to computes: auto (the oldest live compute\'s) or a version.' },
    conductor: { default: '', help: 'Version a compute speaks to conductors still on an older release; empty: the newest (conductors are upgraded first).' },
  },
  conductor: {
    flow_lease: { default: '20', type: 'float', min: 1, help: 'Seconds a conductor\'s hold on a flow lasts unrenewed: a conductor killed mid-flow loses its flows to another this long after.' },
    flow_poll_interval: { default: '5', type: 'float', min: 0.1, help: 'Seconds between looks for flows nobody holds.' },
    move_step_timeout: { default: '1800', type: 'float', min: 1, help: 'Seconds one step of a move on a compute (a disk copy, a live migration) may take before it is given up.' },
  },
  scheduler: {
    query_placement_for_image_type_support: { default: 'true', type: 'bool', help: "Whether a request needs a node with its image's type trait (COMPUTE_IMAGE_TYPE_DOCKER for a container image, else its disk format's). Nova's option, on by default: one cloud mixes hypervisors that boot disjoint image types." },
  },
  cinder: {
    cross_az_attach: { default: 'true', type: 'bool', help: 'Whether a volume may be attached to a server in another availability zone.' },
  },
  oslo_policy: {
    policy_file: { default: 'policy.yaml', help: 'Overrides of the policy defaults (YAML or JSON), relative to the configuration file\'s folder; a missing file means none.' },
  },
  metrics: {
    port: { default: '0', type: 'port', help: 'Port of this process\'s /metrics; 0: an ephemeral port (printed and logged at start, so processes on one machine never collide); empty: no listener.' },
    bind_host: { default: '', help: 'Address of the /metrics listener; empty: [DEFAULT] bind_host.' },
  },
  neutron: {
    endpoint_override: { default: '', help: 'URL of the network API the other services use; empty: this deployment\'s own.' },
    default_floating_pool: { default: 'public', help: 'External network a floating IP comes from when the request names none.' },
    metadata_proxy_shared_secret: { default: '', help: 'Secret the metadata proxy signs instance ids with; empty: one generated and kept under state_path.', secret: true },
  },
  network: {
    vni_ranges: { default: '1:16000', help: 'VXLAN segment ids project networks get, as first:last[,first:last…].' },
    agent_down_time: { default: '75', type: 'float', min: 1, help: 'Seconds after its last report a network agent counts as dead.' },
    dhcp_lease_duration: { default: '86400', type: 'int', min: 120, help: 'Seconds of a DHCP lease.' },
    metadata_enabled: { default: 'true', type: 'bool', help: 'Whether agents serve 169.254.169.254 (the metadata proxy) on their DHCP interfaces.' },
    auto_allocate_subnet_pool: { default: '10.128.0.0/12', help: 'Address range the subnets of auto-allocated topologies are cut from.' },
  },
  network_agent: {
    in_process: { default: 'true', type: 'bool', help: 'Whether the all-in-one runs a network agent per compute host in its own process.' },
    dataplane: { default: 'noop', choices: ['noop', 'linux'], help: 'noop (records state only) or linux (bridges, VXLAN, namespaces, nftables, dnsmasq).' },
    netns: { default: '', help: 'Path of the network namespace the agent works in (/run/netns/NAME); empty: its own.' },
    tunneling_ip: { default: '', help: 'This host\'s VXLAN endpoint address; empty: no tunnels.' },
    interface_mappings: { default: '', type: 'list', help: 'Physical networks on host interfaces, as physnet:iface,…' },
    poll_interval: { default: '2', type: 'float', min: 0.1, max: 3600, help: 'Seconds between the agent\'s looks for changed ports.' },
    resync_interval: { default: '60', type: 'float', min: 1, max: 86400, help: 'Seconds between full resyncs of the data plane with the network service.' },
    state_path: { default: '', help: 'The agent\'s state directory; empty: $state_path/network-agent/HOST.' },
    namespace_prefix: { default: '', help: 'Prefix of the agent\'s namespaces and devices (several simulated hosts on one machine).' },
    dhcp_lease_duration: { default: '86400', type: 'int', min: 120, help: 'Seconds of the leases the agent\'s dnsmasq gives.' },
    availability_zone: { default: '', help: 'Zone the agent reports; empty: [DEFAULT] default_availability_zone.' },
    dhcp: { default: 'true', type: 'bool', help: 'Whether the agent serves DHCP.' },
    l3: { default: 'true', type: 'bool', help: 'Whether the agent runs routers.' },
    metadata: { default: 'true', type: 'bool', help: 'Whether the agent runs metadata proxies.' },
  },
  metadata_agent: {
    nova_metadata_host: { default: '127.0.0.1', help: 'Host of the metadata API.' },
    nova_metadata_port: { default: '8775', type: 'port', help: 'Port of the metadata API.' },
    nova_metadata_protocol: { default: 'http', choices: ['http', 'https'], help: 'Scheme of the metadata API.' },
    metadata_proxy_socket: { default: '$state_path/metadata_proxy', help: 'Unix socket the per-network proxies reach the agent on.' },
    cache_ttl: { default: '5', type: 'float', min: 0, help: 'Seconds a (network, address) → port lookup is reused.' },
  },
  vnc: {
    enabled: { default: 'true', type: 'bool', help: 'Whether servers\' VNC consoles may be asked for (and the noVNC proxy runs).' },
    novncproxy_port: { default: '6080', type: 'port', help: 'Port of the noVNC websocket proxy and its console page, on [DEFAULT] bind_host; 0: a free port.' },
    novncproxy_base_url: {
      default: '', help: 'The console page the URLs point at (the token follows as ?path=%3Ftoken%3D…); empty: http://<the API\'s host>:<novncproxy_port>/vnc_lite.html.',
    },
  },
  serial_console: {
    enabled: { default: 'true', type: 'bool', help: 'Whether servers\' serial consoles may be asked for (and the serial proxy runs).' },
    serialproxy_port: { default: '6083', type: 'port', help: 'Port of the serial websocket proxy, on [DEFAULT] bind_host; 0: a free port.' },
    base_url: { default: '', help: 'The websocket URL serial consoles are handed (the token follows as ?token=…); empty: ws://<the API\'s host>:<serialproxy_port>/.' },
  },
  consoleauth: {
    token_ttl: { default: '600', type: 'int', min: 1, max: 86400, help: 'Seconds a console URL\'s token opens the console for (Nova\'s).' },
  },
  baremetal: {
    http_port: { default: '0', type: 'port', help: 'Port of the HTTP boot server (iPXE scripts, kernels, ramdisks) each conductor serves on [DEFAULT] bind_host; 0: a free port (logged at start); empty: none, and PXE deploys of ipmi nodes fail.' },
    http_url: { default: '', help: 'The boot server as the machines reach it (e.g. http://10.0.2.2:8089); empty: the iPXE scripts name their files by path only, which iPXE resolves against the URL it chained from.' },
    http_root: { default: '$state_path/baremetal/http', help: 'Directory of the nodes\' boot files (one folder per node, removed at cleaning).' },
    sync_power_state_interval: { default: '60', type: 'float', min: 0, help: 'Seconds between reads of every node\'s power state from its BMC (Ironic\'s); a change made behind the service\'s back is recorded. 0: no sync.' },
    reservation_ttl: { default: '60', type: 'float', min: 2, help: 'Seconds a conductor\'s lock on a node lasts unrenewed (renewed while it works): a node left locked by a killed conductor is taken over this long after.' },
    deploy_callback_timeout: { default: '600', type: 'float', min: 1, help: 'Seconds a PXE deploy waits for the machine to fetch its kernel and ramdisk before it fails (deploy failed).' },
    kernel_append_params: { default: 'console=ttyS0', help: 'Kernel command line of a netbooted instance (Ironic\'s [pxe] kernel_append_params); the image\'s os_command_line property, or an instance_info kernel_append_params, replaces it.' },
    power_state_change_timeout: { default: '60', type: 'float', min: 1, help: 'Seconds a soft power off (an ACPI shutdown the OS carries out) may take before the power change fails (Ironic\'s [conductor] option).' },
    ipmi_timeout: { default: '15', type: 'float', min: 1, help: 'Seconds one ipmitool call may take before it is killed.' },
    ipmi_attempts: { default: '3', type: 'int', min: 1, max: 10, help: 'Runs of an ipmitool call whose BMC did not answer before the step fails (a wrong password or a refused command is not retried).' },
  },
} as const satisfies OptionTable;

/** The definition of [section] name, or undefined when the table has none (own-property lookups only). */
export function optionDef(section: string, name: string): OptionDef | undefined {
  const table: OptionTable = OPTIONS;
  if (!Object.hasOwn(table, section)) return undefined;
  const opts = table[section]!;
  return Object.hasOwn(opts, name) ? opts[name] : undefined;
}

/** The defaults as Config reads them: section → name → default. */
export function optionDefaults(table: OptionTable = OPTIONS): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [section, opts] of Object.entries(table)) {
    out[section] = {};
    for (const [name, def] of Object.entries(opts)) out[section]![name] = def.default;
  }
  return out;
}
