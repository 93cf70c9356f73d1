/**
 * Resource classes (Placement's names) and what a flavor asks of a node in them: the flavor's
 * own VCPU / MEMORY_MB / DISK_GB, overridden and extended by its `resources:<CLASS>=<n>` extra
 * specs, as Nova's resources_from_flavor. One place for the rule, so the API that validates the
 * specs, the scheduler that applies them and the conductor that records inventories agree.
 */

/** Placement's standard classes (os-resource-classes 1.1). */
export const STANDARD_RESOURCE_CLASSES: readonly string[] = [
  'VCPU', 'MEMORY_MB', 'DISK_GB', 'PCI_DEVICE', 'SRIOV_NET_VF', 'NUMA_SOCKET', 'NUMA_CORE', 'NUMA_THREAD',
  'NUMA_MEMORY_MB', 'IPV4_ADDRESS', 'VGPU', 'VGPU_DISPLAY_HEAD', 'NET_BW_EGR_KILOBIT_PER_SEC',
  'NET_BW_IGR_KILOBIT_PER_SEC', 'PCPU', 'MEM_ENCRYPTION_CONTEXT', 'FPGA', 'PGPU',
  'NET_PACKET_RATE_KILOPACKET_PER_SEC', 'NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC', 'NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC',
];
const STANDARD = new Set(STANDARD_RESOURCE_CLASSES);

/** Placement's limit on a class name (its column is 255 wide). */
export const MAX_RESOURCE_CLASS_LENGTH = 255;
const CUSTOM = /^CUSTOM_[A-Z0-9_]+$/;

/** The largest amount one request may ask of one class (Placement's: a 32-bit signed integer). */
export const MAX_RESOURCE_AMOUNT = 2_147_483_647;

export const isStandardResourceClass = (name: string): boolean => STANDARD.has(name);
export const isCustomResourceClass = (name: string): boolean => name.length <= MAX_RESOURCE_CLASS_LENGTH && CUSTOM.test(name);
export const isResourceClass = (name: string): boolean => isStandardResourceClass(name) || isCustomResourceClass(name);

/** Amounts of each resource class one consumer (instance) takes on one node. */
export type ResourceRequest = Record<string, number>;

/** The flavor fields the request is made from. */
export interface FlavorSize {
  vcpus: number;
  memoryMb: number;
  rootGb: number;
  ephemeralGb: number;
  swap: number;
  extraSpecs: Record<string, string>;
}

/** `resources:<CLASS>` (the unnumbered group; Nova's granular `resources<N>:` groups are not served). */
const RESOURCES_KEY = /^resources(\d*|_[A-Za-z0-9_-]*):(.*)$/;

/**
 * Why a `resources…:` extra spec is refused (null: it is good, or is not one). Checked when it
 * is set, so a flavor never holds a request the scheduler could not make.
 */
export function resourceSpecProblem(key: string, value: string): string | null {
  const m = RESOURCES_KEY.exec(key);
  if (!m) return null;
  if (m[1] !== '') return `extra spec ${key}: granular resource groups are not supported; use resources:<CLASS>`;
  const rc = m[2]!;
  if (!isResourceClass(rc)) {
    return `extra spec ${key}: '${rc.slice(0, 64)}' is not a standard resource class nor CUSTOM_ followed by A-Z, 0-9 and _ (at most ${MAX_RESOURCE_CLASS_LENGTH} characters)`;
  }
  if (!/^\d{1,10}$/.test(value) || Number(value) > MAX_RESOURCE_AMOUNT) {
    return `extra spec ${key}: '${value.slice(0, 64)}' is not an integer from 0 to ${MAX_RESOURCE_AMOUNT}`;
  }
  return null;
}

/**
 * What a flavor asks of a node: its size as VCPU, MEMORY_MB and DISK_GB, then each
 * `resources:<CLASS>=<n>` spec sets that class's amount (0 leaves the class out: a whole-node
 * flavor says `resources:VCPU=0`). Specs that fail validation (only possible in rows written
 * before it existed) are skipped rather than asked for.
 */
export function requestedResources(f: FlavorSize): ResourceRequest {
  const out = new Map<string, number>([
    ['VCPU', f.vcpus],
    ['MEMORY_MB', f.memoryMb],
    ['DISK_GB', f.rootGb + f.ephemeralGb + Math.ceil(f.swap / 1024)],
  ]);
  for (const [key, value] of Object.entries(f.extraSpecs)) {
    if (!key.startsWith('resources:') || resourceSpecProblem(key, value) !== null) continue;
    out.set(key.slice('resources:'.length), Number(value));
  }
  // Keys are class names (validated above), never __proto__: a plain object is safe.
  return Object.fromEntries([...out].filter(([, n]) => n > 0));
}
