import { launchAllInOne, type AllInOne } from '../../harness/all-in-one.js';

export type CloudProcess = AllInOne;

/**
 * The all-in-one (the same entry point as `npm start`, from built JavaScript) in a child process
 * on free ports with its state in a temporary directory, up; it logs warnings only, unless
 * ORRERY_LOG_LEVEL says otherwise.
 */
export async function startCloudProcess(extraEnv: Record<string, string> = {}): Promise<CloudProcess> {
  return launchAllInOne({ baseEnv: { ...process.env, ORRERY_LOG_LEVEL: process.env.ORRERY_LOG_LEVEL ?? 'warn' }, env: extraEnv });
}
