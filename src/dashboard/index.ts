import type { Config } from '../common/config.js';
import type { Logger } from '../common/logging.js';
import { startDashboard, type RunningDashboard } from './server.js';

export type { RunningDashboard } from './server.js';

/** The catalog types the dashboard's pages use; the browser reaches each at /api/<type>/. */
const SERVICES = ['identity', 'compute', 'image', 'placement', 'network'] as const;

/**
 * Starts the dashboard on `[api] dashboard_port` (empty = no dashboard) beside the APIs, passing
 * through to the URLs they listen on (`urls`: base URL by catalog type).
 */
export async function startConfiguredDashboard(config: Config, urls: Readonly<Record<(typeof SERVICES)[number], string>>, log: Logger): Promise<RunningDashboard | null> {
  const port = config.opt('api', 'dashboard_port');
  if (port === undefined || port === '') return null;
  const targets = new Map<string, string>(SERVICES.map((s) => [s, urls[s]]));
  const n = config.num('api', 'dashboard_port');
  return startDashboard({ host: config.str('DEFAULT', 'bind_host'), port: n, targets, log: log.child({ service: 'dashboard' }) }).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'EADDRINUSE' ? new Error(`port ${n} ([api] dashboard_port) is in use`) : err;
  });
}
