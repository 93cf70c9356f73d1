import { execFileSync } from 'node:child_process';

/**
 * A test that needs a back-end skips with its reason when the back-end is missing, and fails
 * instead under ORRERY_REQUIRE_BACKENDS=1 (CI), so CI can never pass by skipping.
 * Returns the skip reason to hand to node:test (`{ skip }`), or false when the back-end is there.
 */
export function backendSkip(name: string, available: boolean): string | false {
  if (available) return false;
  if (process.env.ORRERY_REQUIRE_BACKENDS === '1') {
    throw new Error(`${name} is required (ORRERY_REQUIRE_BACKENDS=1) but is not available`);
  }
  return `${name} is not available`;
}

export function commandExists(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
