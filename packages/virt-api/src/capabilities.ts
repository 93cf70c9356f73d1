/**
 * Capabilities: which operations a driver declares, and the traits they become on each node
 * so the scheduler can place an instance only where its operations will work.
 */
import type { Capabilities, DriverMethod, ImageRef } from './contract.js';
import { consoleKindsProblems } from './consoles.js';

/** The boolean capabilities (everything but imageFormats, hypervisorType, sharedNodes and consoleKinds). */
export type BooleanCapability = {
  [K in keyof Capabilities]-?: NonNullable<Capabilities[K]> extends boolean ? K : never;
}[keyof Capabilities];

/** The boolean capabilities added after 1.0: optional in Capabilities, absent = false. @since 1.2 (interfaceAttach 1.3, remoteConsole 1.4) */
export type LaterCapability = {
  [K in BooleanCapability]-?: undefined extends Capabilities[K] ? K : never;
}[BooleanCapability];

/**
 * The contract version that added each later capability. A driver that agreed an older version
 * may leave it out (absent = false); the guard drops it from a declaration made under an older
 * agreement (capabilitiesAt in version.ts), so no node advertises an operation the compute cannot call.
 */
export const CAPABILITY_SINCE: Readonly<Record<LaterCapability, string>> = {
  coldMigration: '1.2',
  liveMigration: '1.2',
  interfaceAttach: '1.3',
  remoteConsole: '1.4',
};

/** The operations each capability gates. An undeclared capability's operations raise NotSupported. */
export const CAPABILITY_METHODS: Readonly<Record<BooleanCapability, readonly DriverMethod[]>> = {
  pause: ['pause', 'unpause'],
  suspend: ['suspend', 'resume'],
  reboot: ['reboot'],
  powerControl: ['powerOff', 'powerOn'],
  rebuild: ['rebuild'],
  snapshot: ['snapshot'],
  consoleOutput: ['getConsoleOutput'],
  multiNode: [],
  coldMigration: ['migrateDiskAndPowerOff', 'finishMigration', 'confirmMigration', 'revertMigration', 'finishRevertMigration'],
  liveMigration: [
    'preLiveMigration', 'liveMigration', 'liveMigrationForceComplete', 'postLiveMigrationAtDestination',
    'postLiveMigrationAtSource', 'rollbackLiveMigrationAtDestination',
  ],
  interfaceAttach: ['attachInterface', 'detachInterface'],
  remoteConsole: ['getConsole'],
};

/** The capability that gates `method`, if any. */
export const METHOD_CAPABILITY: Readonly<Partial<Record<DriverMethod, BooleanCapability>>> = Object.fromEntries(
  Object.entries(CAPABILITY_METHODS).flatMap(([cap, methods]) => methods.map((m) => [m, cap])),
);

/** The trait each boolean capability becomes. */
export const CAPABILITY_TRAITS: Readonly<Record<BooleanCapability, string>> = {
  pause: 'COMPUTE_PAUSE',
  suspend: 'COMPUTE_SUSPEND',
  reboot: 'COMPUTE_REBOOT',
  powerControl: 'COMPUTE_POWER_CONTROL',
  rebuild: 'COMPUTE_REBUILD',
  snapshot: 'COMPUTE_SNAPSHOT',
  consoleOutput: 'COMPUTE_CONSOLE_OUTPUT',
  multiNode: 'COMPUTE_MULTI_NODE',
  coldMigration: 'COMPUTE_COLD_MIGRATION',
  liveMigration: 'COMPUTE_LIVE_MIGRATION',
  // os-traits' name for interface attach/detach
  interfaceAttach: 'COMPUTE_NET_ATTACH_DETACH',
  remoteConsole: 'COMPUTE_REMOTE_CONSOLE',
};

/** True when the driver declared the capability that gates `method` (ungated methods: always). */
export function supports(caps: Capabilities, method: DriverMethod): boolean {
  const cap = METHOD_CAPABILITY[method];
  return cap === undefined || caps[cap] === true;
}

/** True when the driver declared it can boot images of `diskFormat` (case-insensitive). */
export function supportsImageFormat(caps: Capabilities, diskFormat: string): boolean {
  const f = diskFormat.toLowerCase();
  return caps.imageFormats.some((x) => x.toLowerCase() === f);
}

/**
 * The image type a host must declare (imageFormats; trait COMPUTE_IMAGE_TYPE_<TYPE>) to boot
 * `image`: `docker` for a container image (container_format docker, whose data is a `docker
 * save` tarball, whatever its disk_format), else the disk format. Nova's image type rule.
 */
export function imageTypeOf(image: Pick<ImageRef, 'diskFormat' | 'containerFormat'>): string {
  return (image.containerFormat ?? '').toLowerCase() === 'docker' ? 'docker' : image.diskFormat;
}

/** Upper-cases and replaces anything outside [A-Z0-9_] so a name can be part of a trait. */
export function traitSuffix(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

/** os-traits' name for nodes that boot images of `format` (a disk format, or `docker` for container images). */
export function imageTypeTrait(format: string): string {
  return `COMPUTE_IMAGE_TYPE_${traitSuffix(format)}`;
}

/**
 * The traits the compute service adds to each of the driver's nodes: one per declared boolean
 * capability, COMPUTE_IMAGE_TYPE_<FORMAT> per image format (os-traits' names), and
 * CUSTOM_HYPERVISOR_<TYPE>. Sorted and unique.
 */
export function capabilityTraits(caps: Capabilities): string[] {
  const traits = new Set<string>();
  for (const [cap, trait] of Object.entries(CAPABILITY_TRAITS) as Array<[BooleanCapability, string]>) {
    if (caps[cap] === true) traits.add(trait);
  }
  for (const f of caps.imageFormats) traits.add(imageTypeTrait(f));
  traits.add(`CUSTOM_HYPERVISOR_${traitSuffix(caps.hypervisorType)}`);
  return [...traits].sort();
}

/** Placement's trait name syntax. */
export const TRAIT_NAME = /^[A-Z0-9_]{1,255}$/;

/** Problems with a capability declaration (empty when it is well-formed). */
export function capabilityProblems(caps: Capabilities): string[] {
  const problems: string[] = [];
  for (const cap of Object.keys(CAPABILITY_TRAITS) as BooleanCapability[]) {
    const later = isLaterCapability(cap);
    if (typeof caps[cap] !== 'boolean' && !(later && caps[cap] === undefined)) {
      problems.push(`capability ${cap} must be a boolean${later ? ' (or absent)' : ''}`);
    }
  }
  if (!Array.isArray(caps.imageFormats) || caps.imageFormats.length === 0) {
    problems.push('imageFormats must list at least one disk format');
  } else if (caps.imageFormats.some((f) => typeof f !== 'string' || f === '')) {
    problems.push('imageFormats must be non-empty strings');
  }
  if (typeof caps.hypervisorType !== 'string' || caps.hypervisorType === '') {
    problems.push('hypervisorType must be a non-empty string');
  }
  problems.push(...consoleKindsProblems(caps.consoleKinds, caps.remoteConsole === true));
  if (caps.sharedNodes !== undefined) {
    const c = (caps.sharedNodes as { cluster?: unknown } | null)?.cluster;
    if (typeof c !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/.test(c)) {
      problems.push('sharedNodes.cluster must name the back-end (letters, digits, _ . -; up to 255)');
    }
  }
  return problems;
}

/** True for a capability added after 1.0 (CAPABILITY_SINCE). */
export function isLaterCapability(cap: BooleanCapability): cap is LaterCapability {
  return Object.hasOwn(CAPABILITY_SINCE, cap);
}

/** The later capability that gates `method`, if any: its calls are required only of a driver declaring it. */
export function laterCapabilityOf(method: DriverMethod): LaterCapability | undefined {
  const cap = METHOD_CAPABILITY[method];
  return cap !== undefined && isLaterCapability(cap) ? cap : undefined;
}

/** The later capabilities `caps` declares. */
export function declaredLaterCapabilities(caps: Capabilities): LaterCapability[] {
  return (Object.keys(CAPABILITY_SINCE) as LaterCapability[]).filter((cap) => caps[cap] === true);
}
