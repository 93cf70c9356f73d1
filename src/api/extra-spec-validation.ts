import { BadRequest } from '../common/errors.js';

/**
 * Flavor extra-spec validation from microversion 2.86 (Nova's nova/api/validation/extra_specs):
 * a key in a namespace Nova registers must be one Nova knows and its value must fit; keys in
 * other namespaces are the operator's own and pass unchecked. Below 2.86 only what the
 * scheduler itself reads (`trait:`) is checked.
 *
 * The table covers the keys of the namespaces Orrery's scheduler and drivers understand;
 * a registered namespace's unknown key is refused as Nova refuses it.
 */

type Check = { kind: 'enum'; values: readonly string[] } | { kind: 'int'; min: number } | { kind: 'bool' } | { kind: 'string' };

const e = (...values: string[]): Check => ({ kind: 'enum', values });
const int = (min = 0): Check => ({ kind: 'int', min });
const bool: Check = { kind: 'bool' };
const str: Check = { kind: 'string' };

/** Exact keys of registered namespaces. */
const KEYS = new Map<string, Check>([
  ['hw:cpu_policy', e('shared', 'dedicated', 'mixed')],
  ['hw:cpu_thread_policy', e('prefer', 'isolate', 'require')],
  ['hw:cpu_sockets', int(1)], ['hw:cpu_cores', int(1)], ['hw:cpu_threads', int(1)],
  ['hw:cpu_max_sockets', int(1)], ['hw:cpu_max_cores', int(1)], ['hw:cpu_max_threads', int(1)],
  ['hw:cpu_realtime', bool], ['hw:cpu_realtime_mask', str], ['hw:cpu_dedicated_mask', str],
  ['hw:emulator_threads_policy', e('shared', 'isolate')],
  ['hw:mem_page_size', str], ['hw:numa_nodes', int(1)],
  ['hw:watchdog_action', e('none', 'pause', 'poweroff', 'reset', 'disabled')],
  ['hw:boot_menu', bool], ['hw:vif_multiqueue_enabled', bool], ['hw:pmu', bool], ['hw:mem_encryption', bool],
  ['hw:serial_port_count', int(0)], ['hw:tpm_version', e('1.2', '2.0')], ['hw:tpm_model', e('tpm-tis', 'tpm-crb')],
  ['hw:hide_hypervisor_id', bool], ['hw:locked_memory', bool], ['hw:virtio_packed_ring', bool],
  ['hw_rng:allowed', bool], ['hw_rng:rate_bytes', int(0)], ['hw_rng:rate_period', int(0)],
  ['hw_video:ram_max_mb', int(0)],
  ['quota:cpu_shares', int(0)], ['quota:cpu_period', int(0)], ['quota:cpu_quota', int(-1)],
  ['quota:disk_read_bytes_sec', int(0)], ['quota:disk_write_bytes_sec', int(0)], ['quota:disk_total_bytes_sec', int(0)],
  ['quota:disk_read_iops_sec', int(0)], ['quota:disk_write_iops_sec', int(0)], ['quota:disk_total_iops_sec', int(0)],
  ['quota:vif_inbound_average', int(0)], ['quota:vif_inbound_peak', int(0)], ['quota:vif_inbound_burst', int(0)],
  ['quota:vif_outbound_average', int(0)], ['quota:vif_outbound_peak', int(0)], ['quota:vif_outbound_burst', int(0)],
  ['group_policy', e('none', 'isolate')],
  ['hide_hypervisor_id', bool],
]);

/** Keys whose name carries a parameter: `hw:numa_cpus.0`, `resources:VCPU`, `trait:HW_CPU_X86_AVX`. */
const PATTERNS: Array<[RegExp, Check]> = [
  [/^hw:numa_cpus\.\d+$/, str], [/^hw:numa_mem\.\d+$/, int(0)],
  [/^resources\d*:[A-Z0-9_]{1,255}$/, int(0)],
  [/^trait\d*:[A-Z0-9_]{1,255}$/, e('required', 'forbidden')],
];

/**
 * Namespaces whose keys this table knows completely: an unknown key in one of them is an error.
 * Nova registers more (os:, accel:, vmware:, …); Orrery has no keys for those and lets them pass
 * rather than refuse every one.
 */
const REGISTERED = /^(hw|hw_rng|hw_video|quota):/;

const BOOLS = /^(true|false|1|0|yes|no|on|off|t|f|y|n)$/i;

function checkValue(key: string, value: string, check: Check): void {
  const bad = (expected: string): BadRequest => new BadRequest(`Validation failed; '${value}' is not ${expected} for extra spec ${key}.`);
  switch (check.kind) {
    case 'enum':
      if (!check.values.includes(value)) throw bad(`one of [${check.values.map((v) => `'${v}'`).join(', ')}]`);
      return;
    case 'int':
      if (!/^-?\d+$/.test(value) || Number(value) < check.min) throw bad(`an integer of at least ${check.min}`);
      return;
    case 'bool':
      if (!BOOLS.test(value)) throw bad('a boolean');
      return;
    case 'string':
      return;
  }
}

/** Checks one extra spec as Nova does from 2.86; throws 400 with Nova's wording. */
export function validateExtraSpec(key: string, value: string): void {
  const exact = KEYS.get(key);
  if (exact) return checkValue(key, value, exact);
  for (const [re, check] of PATTERNS) if (re.test(key)) return checkValue(key, value, check);
  if (REGISTERED.test(key)) throw new BadRequest(`Validation failed; extra spec ${key} does not exist.`);
}

/** What is checked below 2.86: the traits the scheduler reads. */
export function validateTraitSpec(key: string, value: string): void {
  const trait = /^trait\d*:(.*)$/.exec(key);
  if (!trait) return;
  if (!/^[A-Z0-9_]{1,255}$/.test(trait[1]!)) throw new BadRequest(`Validation failed; extra spec ${key} has an invalid trait name '${trait[1]}'.`);
  if (value !== 'required' && value !== 'forbidden') {
    throw new BadRequest(`Validation failed; '${value}' is not one of ['required', 'forbidden'] for extra spec ${key}.`);
  }
}
