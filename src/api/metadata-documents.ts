import { randomBytes } from 'node:crypto';
import type { CachedVif } from '../db/schema-network.js';
import { networkData, type MetadataSubnet } from './metadata-network.js';

/**
 * The documents of Nova's metadata service for one instance, and the lookup of a request path
 * in them (nova/api/metadata/base.py): the OpenStack flavour under /openstack/<version>/ and the
 * EC2 flavour under /<version>/meta-data/ and /<version>/user-data. Every path token is looked up
 * in Maps, never as a property: a guest's path is data.
 */

/** EC2 metadata versions (Nova's VERSIONS), then `latest`. */
export const EC2_VERSIONS = ['1.0', '2007-01-19', '2007-03-01', '2007-08-29', '2007-10-10', '2007-12-15', '2008-02-01', '2008-09-01', '2009-04-04'] as const;
/** OpenStack metadata versions (Nova's OPENSTACK_VERSIONS up to Rocky), then `latest`. */
export const OPENSTACK_VERSIONS = ['2012-08-10', '2013-04-04', '2013-10-17', '2015-10-15', '2016-06-30', '2016-10-06', '2017-02-22', '2018-08-27'] as const;
const GRIZZLY = '2013-04-04';
const HAVANA = '2013-10-17';
const LIBERTY = '2015-10-15';
const NEWTON_ONE = '2016-06-30';
const NEWTON_TWO = '2016-10-06';

/** Everything the documents are made of, read once per request. */
export interface InstanceFacts {
  uuid: string;
  /** The instance's integer id: EC2's `i-%08x`. */
  internalId: number;
  name: string;
  /** With the DHCP domain (Nova's `<hostname>.novalocal`). */
  hostname: string;
  projectId: string;
  availabilityZone: string;
  launchIndex: number;
  reservationId: string;
  imageRef: string;
  flavorName: string;
  keyName: string | null;
  keyData: string | null;
  keyType: string;
  /** Decoded user data; null when the server has none. */
  userData: Buffer | null;
  meta: ReadonlyMap<string, string>;
  vifs: readonly CachedVif[];
  subnets: ReadonlyMap<string, MetadataSubnet>;
  securityGroups: readonly string[];
  /** The guest's address the request came from (X-Forwarded-For). */
  remoteAddress: string;
  /** The encrypted password the guest posted (os-server-password), '' when none. */
  password: string;
}

export interface MetadataAnswer {
  body: string | Buffer;
  contentType: string;
}

const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/plain; charset=utf-8';

/** A tree of the EC2 flavour: leaves are text, lists are one item a line, `_name` renames a branch in its parent's listing. */
type Ec2Node = string | Buffer | readonly string[] | Ec2Tree;
interface Ec2Tree { readonly kind: 'tree'; readonly name?: string; readonly children: ReadonlyMap<string, Ec2Node> }

const tree = (entries: Array<[string, Ec2Node]>, name?: string): Ec2Tree => ({ kind: 'tree', name, children: new Map(entries) });
const isTree = (n: Ec2Node): n is Ec2Tree => typeof n === 'object' && !Buffer.isBuffer(n) && !Array.isArray(n);

/** Nova's ec2_md_print: a tree lists its keys sorted, a sub-tree with `/` (or by its `_name`). */
function renderEc2(n: Ec2Node): string | Buffer {
  if (isTree(n)) {
    return [...n.children.keys()].sort().map((k) => {
      const c = n.children.get(k)!;
      return isTree(c) ? c.name ?? `${k}/` : k;
    }).join('\n');
  }
  if (Array.isArray(n)) return n.join('\n');
  return n as string | Buffer;
}

/** posixpath.normpath of the request path, as tokens (`.` and empty dropped, `..` pops). */
export function pathTokens(path: string): string[] {
  const out: string[] = [];
  for (const t of path.split('/')) {
    if (t === '' || t === '.') continue;
    if (t === '..') out.pop();
    else out.push(t);
  }
  return out;
}

function ec2Tree(f: InstanceFacts, version: string): Ec2Node {
  const at = (v: string): boolean => EC2_VERSIONS.indexOf(version as never) >= EC2_VERSIONS.indexOf(v as never);
  const fixedV4 = f.vifs.flatMap((v) => v.fixed_ips.filter((ip) => ip.version === 4));
  const floating = fixedV4.flatMap((ip) => ip.floating_ips);
  const md: Array<[string, Ec2Node]> = [
    ['ami-id', `ami-${f.imageRef.replaceAll('-', '').slice(0, 8).padStart(8, '0')}`],
    ['ami-launch-index', String(f.launchIndex)],
    ['ami-manifest-path', 'FIXME'],
    ['instance-id', `i-${f.internalId.toString(16).padStart(8, '0')}`],
    ['hostname', f.hostname],
    ['local-ipv4', fixedV4[0]?.address ?? f.remoteAddress],
    ['reservation-id', f.reservationId],
    ['security-groups', [...f.securityGroups]],
  ];
  if (f.keyName) md.push(['public-keys', tree([['0', tree([['openssh-key', f.keyData ?? '']], `0=${f.keyName}`)]])]);
  if (at('2007-01-19')) md.push(['local-hostname', f.hostname], ['public-hostname', f.hostname], ['public-ipv4', floating[0] ?? '']);
  if (at('2007-08-29')) md.push(['instance-type', f.flavorName]);
  if (at('2007-12-15')) md.push(['block-device-mapping', tree([['ami', 'vda'], ['root', '/dev/vda']])]);
  if (at('2008-02-01')) md.push(['placement', tree([['availability-zone', f.availabilityZone]])]);
  if (at('2008-09-01')) md.push(['instance-action', 'none']);
  const top: Array<[string, Ec2Node]> = [['meta-data', tree(md)]];
  if (f.userData !== null) top.push(['user-data', f.userData]);
  return tree(top);
}

function metaDataJson(f: InstanceFacts, version: string): unknown {
  const at = (v: string): boolean => OPENSTACK_VERSIONS.indexOf(version as never) >= OPENSTACK_VERSIONS.indexOf(v as never);
  // Built as a null-prototype object: a metadata key named `__proto__` is a key like any other.
  const doc: Record<string, unknown> = { uuid: f.uuid };
  if (f.meta.size > 0) doc.meta = Object.assign(Object.create(null) as Record<string, string>, Object.fromEntries(f.meta));
  if (f.keyName) {
    doc.public_keys = Object.fromEntries([[f.keyName, f.keyData ?? '']]);
    doc.keys = [{ name: f.keyName, type: f.keyType, data: f.keyData ?? '' }];
  }
  doc.hostname = f.hostname;
  doc.name = f.name;
  doc.launch_index = f.launchIndex;
  doc.availability_zone = f.availabilityZone;
  if (at(GRIZZLY)) doc.random_seed = randomBytes(512).toString('base64');
  if (at(LIBERTY)) doc.project_id = f.projectId;
  // Device role tagging: no bundled driver tags devices, so the list is empty, as Nova's is then.
  if (at(NEWTON_ONE)) doc.devices = [];
  return doc;
}

/** The files one OpenStack version lists (Nova's _handle_version). */
function openstackListing(f: InstanceFacts, version: string): string[] {
  const at = (v: string): boolean => OPENSTACK_VERSIONS.indexOf(version as never) >= OPENSTACK_VERSIONS.indexOf(v as never);
  const out = ['meta_data.json'];
  if (f.userData !== null) out.push('user_data');
  if (at(GRIZZLY)) out.push('password');
  if (at(HAVANA)) out.push('vendor_data.json');
  if (at(LIBERTY)) out.push('network_data.json');
  if (at(NEWTON_TWO)) out.push('vendor_data2.json');
  return out;
}

/** The versions /openstack lists: those not in the future (Nova hides those), then latest. */
export function openstackVersions(today = new Date().toISOString().slice(0, 10)): string[] {
  return [...OPENSTACK_VERSIONS.filter((v) => v <= today), 'latest'];
}

function resolveVersion(v: string | undefined, known: readonly string[]): string | null {
  if (v === 'latest') return known[known.length - 1]!;
  return v !== undefined && known.includes(v) ? v : null;
}

/** Whether `path` is a version's password (which a guest may POST), for versions that have one. */
export function passwordPath(path: string): boolean {
  const t = pathTokens(path);
  if (t.length !== 3 || t[0] !== 'openstack' || t[2] !== 'password') return false;
  const v = resolveVersion(t[1], OPENSTACK_VERSIONS);
  return v !== null && OPENSTACK_VERSIONS.indexOf(v as never) >= OPENSTACK_VERSIONS.indexOf(GRIZZLY);
}

/** The answer for `path`, or null for what does not exist (404). */
export function lookupMetadata(f: InstanceFacts, path: string): MetadataAnswer | null {
  const tokens = pathTokens(path);
  const text = (body: string | Buffer): MetadataAnswer => ({ body, contentType: TEXT_TYPE });
  const json = (doc: unknown): MetadataAnswer => ({ body: JSON.stringify(doc), contentType: JSON_TYPE });
  if (tokens[0] === 'openstack') {
    if (tokens.length === 1) return text(openstackVersions().join('\n'));
    const version = resolveVersion(tokens[1], OPENSTACK_VERSIONS);
    if (version === null) return null;
    const listing = openstackListing(f, version);
    if (tokens.length === 2) return text(listing.join('\n'));
    if (tokens.length !== 3 || !listing.includes(tokens[2]!)) return null;
    switch (tokens[2]) {
      case 'meta_data.json': return json(metaDataJson(f, version));
      case 'user_data': return f.userData === null ? null : { body: f.userData, contentType: 'text/plain' };
      case 'password': return text(f.password);
      case 'vendor_data.json': return json({});
      case 'vendor_data2.json': return json({});
      case 'network_data.json': return json(networkData(f.vifs, f.subnets));
      default: return null;
    }
  }
  // Everything else is the EC2 flavour (Nova prefixes it with /ec2).
  const rest = tokens[0] === 'ec2' ? tokens.slice(1) : tokens;
  if (rest.length === 0) return text([...EC2_VERSIONS, 'latest'].join('\n'));
  const version = resolveVersion(rest[0], EC2_VERSIONS);
  if (version === null) return null;
  let node: Ec2Node = ec2Tree(f, version);
  for (const t of rest.slice(1)) {
    if (!isTree(node)) return null;
    const next = node.children.get(t);
    if (next === undefined) return null;
    node = next;
  }
  return text(renderEc2(node));
}
