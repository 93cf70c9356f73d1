/** The fake driver's configuration: its [fake] section, as strings. */
import { CAPABILITY_TRAITS, optionDefaults, type BooleanCapability, type DriverOptions } from '@orrery/virt-api';

export interface FakeConfig {
  /** Names of the nodes this host manages. */
  nodeNames: string[];
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  /** Added to every back-end call. */
  latencyMs: number;
  /** How often to look for out-of-band changes to the database (0: never). */
  watchIntervalMs: number;
  imageFormats: string[];
  /** Capabilities switched off (the driver then refuses their operations). */
  unsupported: Set<BooleanCapability>;
  /** Extra traits of every node. */
  traits: string[];
  /** Custom resource classes of every node, e.g. CUSTOM_GPU → 2. */
  resources: Record<`CUSTOM_${string}`, number>;
  /**
   * Set: every node is a whole machine, as a bare-metal node is — it reports this class with
   * total 1 and no VCPU, MEMORY_MB or DISK_GB (`resources` still adds its classes).
   */
  nodeResourceClass: `CUSTOM_${string}` | null;
  hostIp: string;
  /**
   * Cluster mode: the id of a shared back-end ([fake] cluster). Every compute configured with the
   * same id and state file serves the same nodes (Capabilities.sharedNodes); null: this host's own.
   */
  cluster: string | null;
  /** The shared back-end's file ([fake] cluster_state_file); null: the default beside the hosts' state. */
  clusterStateFile: string | null;
  /** How long a live migration takes, in milliseconds; progress is reported ten times over it. */
  liveMigrationMs: number;
  /** False: a live migration never converges (the last tenth of memory stays dirty) until forced to complete or aborted. */
  liveMigrationConverges: boolean;
}

export const DEFAULT_IMAGE_FORMATS = ['raw', 'qcow2', 'ami', 'iso', 'vhd', 'vhdx', 'vmdk', 'vdi'];

/** The [fake] options ([fake@HOST] overrides them for one host); parseConfig falls back on these defaults. */
export const FAKE_OPTIONS = {
  nodes: { default: '1', type: 'int', min: 1, help: 'Nodes this host manages.' },
  node_names: { default: '', type: 'list', help: 'Names of those nodes, comma separated; empty: the host name (one node) or PREFIX-n1, PREFIX-n2, …' },
  node_name_prefix: { default: '', help: 'Prefix of generated node names; empty: the host name.' },
  vcpus: { default: '8', type: 'int', min: 1, help: 'Virtual CPUs of every node.' },
  memory_mb: { default: '16384', type: 'int', min: 1, help: 'MiB of memory of every node.' },
  disk_gb: { default: '200', type: 'int', min: 1, help: 'GiB of disk of every node.' },
  latency_ms: { default: '0', type: 'int', min: 0, help: 'Milliseconds added to every back-end call.' },
  watch_interval_ms: { default: '1000', type: 'int', min: 0, help: "Milliseconds between looks for out-of-band changes to the back-end's database; 0: never." },
  image_formats: { default: DEFAULT_IMAGE_FORMATS.join(','), type: 'list', help: 'Disk formats the nodes accept (their COMPUTE_IMAGE_TYPE_* traits).' },
  unsupported: { default: '', type: 'list', help: 'Capabilities switched off (the driver then refuses their operations), e.g. pause,snapshot.' },
  traits: { default: '', type: 'list', help: 'Extra traits of every node.' },
  resources: { default: '', type: 'list', help: 'Custom resource classes of every node, as CUSTOM_NAME=COUNT,…' },
  node_resource_class: { default: '', help: 'Set (CUSTOM_NAME): every node is a whole machine, as a bare-metal node is — total 1 of this class and no VCPU, MEMORY_MB or DISK_GB.' },
  host_ip: { default: '127.0.0.1', help: "The host's IP as its nodes report it." },
  cluster: { default: '', help: 'Id of a shared back-end: every compute with the same id and state file serves the same nodes; empty: this host\'s own.' },
  cluster_state_file: { default: '', help: "The shared back-end's file; empty: one beside the hosts' state directories." },
  live_migration_ms: { default: '300', type: 'int', min: 0, help: 'Milliseconds a live migration takes (progress is reported ten times over it).' },
  live_migration_converges: { default: 'true', type: 'bool', help: 'false: a live migration never converges until it is forced to complete or aborted.' },
} as const satisfies DriverOptions;

const D = optionDefaults(FAKE_OPTIONS);

function list(v: string | undefined): string[] {
  return (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function int(raw: Record<string, string>, key: string, dflt: number, min: number): number {
  const v = raw[key];
  if (v === undefined || v.trim() === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`fake driver: ${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function bool(raw: Record<string, string>, key: string, dflt: boolean): boolean {
  const v = raw[key]?.trim().toLowerCase();
  if (v === undefined || v === '') return dflt;
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw new Error(`fake driver: ${key} must be true or false, got ${JSON.stringify(raw[key])}`);
}

/** Parses and validates the configuration; throws a readable Error on a bad value. */
export function parseConfig(host: string, raw: Record<string, string>): FakeConfig {
  const count = int(raw, 'nodes', Number(D.nodes), 1);
  const prefix = raw['node_name_prefix']?.trim();
  let nodeNames = list(raw['node_names']);
  if (nodeNames.length === 0) {
    nodeNames = count === 1 && !prefix ? [host] : Array.from({ length: count }, (_, i) => `${prefix || host}-n${i + 1}`);
  }
  if (new Set(nodeNames).size !== nodeNames.length) throw new Error('fake driver: node names must be unique');

  const unsupported = new Set<BooleanCapability>();
  for (const cap of list(raw['unsupported'])) {
    if (!(cap in CAPABILITY_TRAITS)) throw new Error(`fake driver: unknown capability ${cap} in unsupported`);
    unsupported.add(cap as BooleanCapability);
  }
  if (unsupported.has('multiNode') && nodeNames.length > 1) {
    throw new Error('fake driver: multiNode is unsupported but more than one node is configured');
  }

  const resources: FakeConfig['resources'] = {};
  for (const item of list(raw['resources'])) {
    const m = /^(CUSTOM_[A-Z0-9_]+)[=:](\d+)$/.exec(item);
    if (!m) throw new Error(`fake driver: resources entries look like CUSTOM_NAME=COUNT, got ${JSON.stringify(item)}`);
    resources[m[1] as `CUSTOM_${string}`] = Number(m[2]);
  }

  const nodeClass = raw['node_resource_class']?.trim() || null;
  if (nodeClass !== null && !/^CUSTOM_[A-Z0-9_]{1,248}$/.test(nodeClass)) {
    throw new Error(`fake driver: node_resource_class must look like CUSTOM_NAME, got ${JSON.stringify(nodeClass)}`);
  }

  const formats = list(raw['image_formats']).map((f) => f.toLowerCase());
  return {
    nodeNames,
    vcpus: int(raw, 'vcpus', Number(D.vcpus), 1),
    memoryMb: int(raw, 'memory_mb', Number(D.memory_mb), 1),
    diskGb: int(raw, 'disk_gb', Number(D.disk_gb), 1),
    latencyMs: int(raw, 'latency_ms', Number(D.latency_ms), 0),
    watchIntervalMs: int(raw, 'watch_interval_ms', Number(D.watch_interval_ms), 0),
    imageFormats: formats.length > 0 ? formats : DEFAULT_IMAGE_FORMATS,
    unsupported,
    traits: list(raw['traits']),
    resources,
    nodeResourceClass: nodeClass as FakeConfig['nodeResourceClass'],
    hostIp: raw['host_ip']?.trim() || D.host_ip,
    cluster: raw['cluster']?.trim() || null,
    clusterStateFile: raw['cluster_state_file']?.trim() || null,
    liveMigrationMs: int(raw, 'live_migration_ms', Number(D.live_migration_ms), 0),
    liveMigrationConverges: bool(raw, 'live_migration_converges', D.live_migration_converges === 'true'),
  };
}
