/**
 * Versioned object envelopes: every domain object crossing the RPC bus travels as
 * {name, version, data}. Each object type registers its current version and the rules to
 * backport its data to older versions, so a sender pinned to an older receiver can send
 * what that receiver understands.
 */
import { compareVersions } from '../common/versions.js';

export interface Envelope<T = unknown> {
  name: string;
  version: string;
  data: T;
}

type Backport = (data: Record<string, unknown>) => Record<string, unknown>;

interface ObjectType {
  version: string;
  /** backports[v] turns data of the version just above v into data of version v. */
  backports: Record<string, Backport>;
}

const registry = new Map<string, ObjectType>();

export function registerObject(name: string, version: string, backports: Record<string, Backport> = {}): void {
  registry.set(name, { version, backports });
}

/** Wraps data in its envelope, backported to `targetVersion` when the receiver is older. */
export function wrap<T>(name: string, data: T, targetVersion?: string): Envelope<T> {
  const type = registry.get(name);
  if (!type) throw new Error(`objects: ${name} is not registered`);
  if (!targetVersion || compareVersions(targetVersion, type.version) >= 0) {
    return { name, version: type.version, data };
  }
  let current = data as Record<string, unknown>;
  const older = Object.keys(type.backports)
    .filter((v) => compareVersions(v, targetVersion) >= 0)
    .sort((a, b) => compareVersions(b, a));
  for (const v of older) current = type.backports[v]!(current);
  return { name, version: targetVersion, data: current as T };
}

/** Opens an envelope, checking its name and that its major version is understood. */
export function unwrap<T>(env: unknown, name: string): T {
  const e = env as Envelope<T> | undefined;
  if (!e || typeof e !== 'object' || e.name !== name || typeof e.version !== 'string') {
    throw new Error(`objects: expected a ${name} envelope`);
  }
  const type = registry.get(name);
  if (type && e.version.split('.')[0] !== type.version.split('.')[0]) {
    throw new Error(`objects: ${name} ${e.version} is incompatible with ${type.version}`);
  }
  return e.data;
}
