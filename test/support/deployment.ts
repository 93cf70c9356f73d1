import { randomBytes } from 'node:crypto';
import { MultiProcess } from '../../harness/multi-process.js';
import type { IniData } from '../../src/common/config.js';

export type Deployment = MultiProcess;

export interface DeploymentOptions {
  /** The broker, without a vhost: each deployment gets a vhost of its own on it. */
  brokerUrl: string;
  databaseUrl: string;
  computes: Array<{ host: string; env?: Record<string, string> }>;
  conductors: number;
  schedulers: number;
  ini?: IniData;
  /** Broker port to put in the services' transport URL instead of the broker's own (a proxy). */
  viaPort?: number;
  /** The entry point of the compute services (an older release's, for upgrade tests). */
  computeEntry?: string;
  /** Use the broker's default vhost instead of creating one (a private broker of the test's own). */
  defaultVhost?: boolean;
}

/**
 * The multi-process deployment for tests: quick heartbeats and timeouts, a cheap password hash,
 * output kept for the test to read (schedulers log each decision at debug level: tests count them).
 */
export function startDeployment({ defaultVhost, ini, ...opts }: DeploymentOptions): Promise<Deployment> {
  return MultiProcess.launch({
    ...opts,
    vhost: defaultVhost ? '' : `orrery-t-${randomBytes(4).toString('hex')}`,
    ini: [{
      DEFAULT: { report_interval: '1', service_down_time: '6', rpc_response_timeout: '20', sync_power_state_interval: '600' },
      identity: { password_hash_cost: '1024', password_hash_rounds: '1000' },
    }, ini ?? {}],
    env: { ...process.env, ORRERY_LOG_LEVEL: process.env.ORRERY_LOG_LEVEL ?? 'info' },
    schedulerEnv: { ORRERY_LOG_LEVEL: 'debug' },
    // ORRERY_TEST_KEEP_STATE=1 keeps each deployment's state directory, with every service's log in it, to look into a failure.
    ...(process.env.ORRERY_TEST_KEEP_STATE === '1' ? { keepState: true, logToFiles: true } : {}),
  });
}
