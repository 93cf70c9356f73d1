/**
 * The semantic contract version and the handshake.
 *
 * MAJOR changes remove calls; MINOR changes add them (a replaced call lives beside its
 * successor for one minor version). A driver declares the range it implements; the compute
 * service declares the range it can drive; they work together iff the ranges share a version,
 * and then use the highest shared one (agreeContract). What each version has is the table
 * METHODS_ADDED (contract.ts); optional groups (OPTIONAL_GROUPS) count only when declared.
 */
import {
  METHOD_SINCE, METHODS_ADDED, OPTIONAL_GROUPS, type Capabilities, type ContractVersion, type DriverMethod, type DriverVersionInfo,
} from './contract.js';
import { CAPABILITY_SINCE, laterCapabilityOf, type LaterCapability } from './capabilities.js';
import { DriverLoadError } from './errors.js';

/** The contract version this package defines (the newest in METHODS_ADDED). */
export const CONTRACT_VERSION = '1.4';

/** The versions a compute service built on this package can drive. */
export const SUPPORTED_CONTRACT: { min: string; max: string } = { min: '1.0', max: CONTRACT_VERSION };

/** The version a CallOptions argument (spawn, destroy, snapshot) was added in. */
export const CALL_OPTIONS_SINCE = '1.1';

/** The version CallOptions.onProgress was added in: an older driver's options never carry it. */
export const ON_PROGRESS_SINCE = '1.2';

/** What the handshake settled: the version both sides use and the optional groups that count. */
export interface AgreedContract {
  version: string;
  /** Declared by the driver, known to this package, and existing at `version`; sorted. */
  groups: readonly string[];
}

export function parseVersion(v: string): ContractVersion {
  const m = /^(\d+)\.(\d+)$/.exec(typeof v === 'string' ? v.trim() : '');
  if (!m) throw new DriverLoadError('IncompatibleContract', `invalid contract version ${JSON.stringify(v)} (want MAJOR.MINOR)`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}

export function compareVersions(a: ContractVersion, b: ContractVersion): number {
  return a.major - b.major || a.minor - b.minor;
}

export function formatVersion(v: ContractVersion): string {
  return `${v.major}.${v.minor}`;
}

/** True when version `v` is at least `since` (both "MAJOR.MINOR"). */
export function atLeast(v: string, since: string): boolean {
  return compareVersions(parseVersion(v), parseVersion(since)) >= 0;
}

function formatRange(r: { min: string; max: string }): string {
  return r.min === r.max ? r.min : `${r.min}–${r.max}`;
}

/**
 * The methods of each version this package defines, cumulative (a version has every method
 * of the versions before it of the same major), optional groups' methods included.
 */
export const CONTRACT_METHODS: Readonly<Record<string, readonly DriverMethod[]>> = (() => {
  const out: Record<string, DriverMethod[]> = {};
  let acc: DriverMethod[] = [];
  for (const [v, methods] of Object.entries(METHODS_ADDED)) {
    acc = [...acc, ...methods];
    out[v] = acc;
  }
  return out;
})();

/** The optional group `method` belongs to, if any. */
export function groupOf(method: DriverMethod): string | undefined {
  for (const [name, g] of Object.entries(OPTIONAL_GROUPS)) if (g.methods.includes(method)) return name;
  return undefined;
}

/** True when the agreed contract has `method`: added by its version, and in a declared group if in one. */
export function inContract(agreed: AgreedContract, method: DriverMethod): boolean {
  const since = METHOD_SINCE[method];
  if (since === undefined || !atLeast(agreed.version, since)) return false;
  const group = groupOf(method);
  return group === undefined || agreed.groups.includes(group);
}

/**
 * The methods a driver must have under the agreed contract (what the loader checks). The calls
 * of a capability added after 1.0 (coldMigration, liveMigration, interfaceAttach, remoteConsole) count only when `caps`
 * declares it; without `caps`, only what every driver of that version must have.
 */
export function requiredMethods(agreed: AgreedContract, caps?: Capabilities): DriverMethod[] {
  return (Object.keys(METHOD_SINCE) as DriverMethod[]).filter((m) => {
    if (!inContract(agreed, m)) return false;
    const cap = laterCapabilityOf(m);
    return cap === undefined || caps?.[cap] === true;
  });
}

/**
 * The declaration as it counts under contract `version`: a later capability newer than the
 * version is dropped (a 1.1 driver that says coldMigration gets no COMPUTE_COLD_MIGRATION trait:
 * the compute service could not make those calls to it).
 */
export function capabilitiesAt(caps: Capabilities, version: string): Capabilities {
  const newer = (Object.entries(CAPABILITY_SINCE) as Array<[LaterCapability, string]>)
    .filter(([cap, since]) => caps[cap] !== undefined && !atLeast(version, since));
  if (newer.length === 0) return caps;
  const out = { ...caps };
  for (const [cap] of newer) delete out[cap];
  return out;
}

/**
 * The handshake: returns the contract version both sides will use (the highest shared one),
 * or throws DriverLoadError('IncompatibleContract') with a message an operator can act on.
 */
export function checkCompatibility(
  info: DriverVersionInfo,
  service: { min: string; max: string } = SUPPORTED_CONTRACT,
): string {
  const name = info?.name || '(unnamed)';
  if (!info?.contract) throw new DriverLoadError('IncompatibleContract', `driver ${name} declares no contract version range`);
  const dMin = parseVersion(info.contract.min);
  const dMax = parseVersion(info.contract.max);
  const sMin = parseVersion(service.min);
  const sMax = parseVersion(service.max);
  if (compareVersions(dMin, dMax) > 0) {
    throw new DriverLoadError('IncompatibleContract', `driver ${name} declares an empty contract range ${info.contract.min}–${info.contract.max}`);
  }
  const low = compareVersions(dMin, sMin) > 0 ? dMin : sMin;
  const high = compareVersions(dMax, sMax) < 0 ? dMax : sMax;
  if (compareVersions(low, high) > 0) {
    throw new DriverLoadError(
      'IncompatibleContract',
      `driver ${name} implements contract ${formatRange(info.contract)}; this compute service speaks ${formatRange(service)}`,
    );
  }
  return formatVersion(high);
}

/**
 * The full handshake: the agreed version (checkCompatibility) and the optional groups that
 * count under it. A group this package does not know is ignored (a newer driver may offer
 * more); a malformed declaration is refused.
 */
export function agreeContract(
  info: DriverVersionInfo,
  service: { min: string; max: string } = SUPPORTED_CONTRACT,
): AgreedContract {
  const version = checkCompatibility(info, service);
  const declared: unknown = info.groups ?? [];
  if (!Array.isArray(declared) || declared.some((g) => typeof g !== 'string')) {
    throw new DriverLoadError('IncompatibleContract', `driver ${info.name || '(unnamed)'} declares groups that are not a list of names`);
  }
  const groups = [...new Set(declared as string[])]
    .filter((g) => Object.hasOwn(OPTIONAL_GROUPS, g) && atLeast(version, OPTIONAL_GROUPS[g]!.since))
    .sort();
  return { version, groups };
}
