/**
 * The ironic driver's configuration: its [ironic] section, as strings. IRONIC_OPTIONS is the one
 * table of its options (default, type, meaning); parseConfig reads them, and the configuration
 * reference is generated from it (the package's `driverOptions` export).
 */
import { optionDefaults, optionProblem, type DriverOptions, type OptionDef } from '@orrery/virt-api';

/** The [ironic] options ([ironic@HOST] overrides them for one host); parseConfig falls back on these defaults. */
export const IRONIC_OPTIONS = {
  auth_type: {
    default: 'password', choices: ['password', 'noauth'],
    help: 'How the driver authenticates to the Bare Metal API: password (a Keystone v3 token from auth_url; the endpoint from its catalog unless endpoint_override) or noauth (no token: an Ironic with auth_strategy = noauth; needs endpoint_override).',
  },
  auth_url: { default: '', help: "Keystone's v3 URL (e.g. http://127.0.0.1:5000/v3); required with auth_type = password." },
  username: { default: '', help: 'The service user the driver authenticates as (an admin: the Bare Metal API is admin-only).' },
  password: { default: '', secret: true, help: "The service user's password." },
  project_name: { default: 'service', help: "The project the driver's token is scoped to." },
  user_domain_name: { default: 'Default', help: "The service user's domain." },
  project_domain_name: { default: 'Default', help: "The token's project's domain." },
  region_name: { default: '', help: 'The catalog region of the baremetal endpoint; empty: the first one.' },
  interface: { default: 'public', choices: ['public', 'internal', 'admin'], help: 'Which catalog endpoint of type baremetal the driver uses.' },
  endpoint_override: { default: '', help: 'The Bare Metal API root URL (e.g. http://127.0.0.1:6385), used instead of the catalog; required with auth_type = noauth.' },
  resource_class: {
    default: 'baremetal',
    help: "The nodes' resource_class this driver serves: each one becomes a contract node reporting CUSTOM_<CLASS> = 1 (upper case, other characters as _), e.g. baremetal → CUSTOM_BAREMETAL.",
  },
  cluster: {
    default: 'ironic',
    help: 'The name of the Bare Metal service the computes share (Capabilities.sharedNodes): every compute with the same cluster spreads its nodes over the hash ring.',
  },
  image_formats: {
    default: 'ami', type: 'list',
    help: "Image disk formats the service can deploy: Orrery's Bare Metal service boots ami images (their aki kernel and ari ramdisk over PXE); a real Ironic also deploys raw and qcow2 whole-disk images.",
  },
  api_timeout: { default: '30', type: 'int', min: 1, max: 600, help: 'Seconds one Bare Metal API request may take.' },
  deploy_timeout: { default: '1800', type: 'int', min: 1, max: 86_400, help: 'Seconds a deploy (provision active) or an undeploy (deleted, until cleaned) may take before the call fails with Timeout.' },
  power_timeout: { default: '300', type: 'int', min: 1, max: 3600, help: 'Seconds a power change (on, off, reboot) may take.' },
  poll_interval: {
    default: '2', type: 'float', min: 0.1, max: 600,
    help: "Seconds between reads of a node while the driver waits for a deploy, undeploy or power change, and between the event poller's reads of the node list.",
  },
  host_ip: { default: '127.0.0.1', help: "The compute host's IP as each node reports it." },
} as const satisfies DriverOptions;

export interface IronicConfig {
  authType: 'password' | 'noauth';
  authUrl: string;
  username: string;
  password: string;
  projectName: string;
  userDomainName: string;
  projectDomainName: string;
  regionName: string;
  interface: 'public' | 'internal' | 'admin';
  /** '' = from the catalog. No trailing slash, no /v1. */
  endpointOverride: string;
  resourceClass: string;
  cluster: string;
  imageFormats: string[];
  /** Milliseconds. */
  apiTimeoutMs: number;
  /** Milliseconds. */
  deployTimeoutMs: number;
  /** Milliseconds. */
  powerTimeoutMs: number;
  /** Milliseconds. */
  pollIntervalMs: number;
  hostIp: string;
}

const D = optionDefaults(IRONIC_OPTIONS);
type Name = keyof typeof IRONIC_OPTIONS;

/** The value of `key` (its default when unset or empty), checked against its definition. */
function value(raw: Record<string, string>, key: Name): string {
  const given = Object.hasOwn(raw, key) ? (raw[key] ?? '').trim() : '';
  const v = given === '' ? D[key] : given;
  const def: OptionDef = IRONIC_OPTIONS[key];
  const problem = optionProblem(IRONIC_OPTIONS[key], v);
  if (problem) throw new Error(`ironic driver: ${key} ${problem}${def.secret ? '' : `, got ${JSON.stringify(given)}`}`);
  return v;
}

const num = (raw: Record<string, string>, key: Name) => Number(value(raw, key));

/** A root URL without trailing slashes or a /v1 suffix (the catalog may list either). */
export function rootUrl(url: string): string {
  return url.replace(/\/+$/, '').replace(/\/v1$/, '');
}

function httpUrl(key: Name, v: string): string {
  if (v === '') return v;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new Error(`ironic driver: ${key} must be an http(s) URL, got ${JSON.stringify(v)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`ironic driver: ${key} must be an http(s) URL, got ${JSON.stringify(v)}`);
  return v.replace(/\/+$/, '');
}

/** Parses and validates the configuration; throws a readable Error on a bad value. */
export function parseConfig(raw: Record<string, string>): IronicConfig {
  const cfg: IronicConfig = {
    authType: value(raw, 'auth_type').toLowerCase() as IronicConfig['authType'],
    authUrl: httpUrl('auth_url', value(raw, 'auth_url')),
    username: value(raw, 'username'),
    password: value(raw, 'password'),
    projectName: value(raw, 'project_name'),
    userDomainName: value(raw, 'user_domain_name'),
    projectDomainName: value(raw, 'project_domain_name'),
    regionName: value(raw, 'region_name'),
    interface: value(raw, 'interface').toLowerCase() as IronicConfig['interface'],
    endpointOverride: rootUrl(httpUrl('endpoint_override', value(raw, 'endpoint_override'))),
    resourceClass: value(raw, 'resource_class'),
    cluster: value(raw, 'cluster'),
    imageFormats: value(raw, 'image_formats').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== ''),
    apiTimeoutMs: num(raw, 'api_timeout') * 1000,
    deployTimeoutMs: num(raw, 'deploy_timeout') * 1000,
    powerTimeoutMs: num(raw, 'power_timeout') * 1000,
    pollIntervalMs: Math.round(num(raw, 'poll_interval') * 1000),
    hostIp: value(raw, 'host_ip'),
  };
  if (cfg.authType === 'noauth' && cfg.endpointOverride === '') throw new Error('ironic driver: auth_type = noauth needs endpoint_override');
  if (cfg.authType === 'password' && (cfg.authUrl === '' || cfg.username === '')) {
    throw new Error('ironic driver: auth_type = password needs auth_url and username');
  }
  if (resourceClassOf(cfg.resourceClass) === null) throw new Error(`ironic driver: resource_class ${JSON.stringify(cfg.resourceClass)} is not a resource class name`);
  return cfg;
}

/**
 * The contract's whole-node class of an Ironic resource_class, as Nova's ironic driver names it:
 * upper case, every character outside A-Z 0-9 _ as _, prefixed CUSTOM_ (baremetal → CUSTOM_BAREMETAL).
 * Null for an empty name.
 */
export function resourceClassOf(name: string): `CUSTOM_${string}` | null {
  const n = name.trim();
  if (n === '' || n.length > 248) return null;
  const norm = n.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
  return `CUSTOM_${norm.replace(/^CUSTOM_/, '')}`;
}
