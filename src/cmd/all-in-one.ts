#!/usr/bin/env node
import { createLogger, logSettings } from '../common/logging.js';
import { startAllInOne } from './cloud.js';
import { allInOneConfig, exitWithStartupFailure } from './startup.js';

/**
 * `npm start`: the whole cloud in one process, on 127.0.0.1, with its state under ./data.
 * Standard output is the log alone (JSON lines a collector can read); the banner for people goes to standard error.
 */
const config = allInOneConfig(process.argv);
const log = createLogger('orrery', logSettings(config));
const cloud = await startAllInOne(config, log).catch((err: unknown) => exitWithStartupFailure('orrery', err, config));
log.info({ urls: cloud.urls }, 'all-in-one started');
process.stderr.write(
  `Orrery all-in-one is running.\n` +
  `  identity  ${cloud.urls.identity}/v3\n  compute   ${cloud.urls.compute}/v2.1\n` +
  `  image     ${cloud.urls.image}\n  placement ${cloud.urls.placement}\n  network   ${cloud.urls.network}\n  baremetal ${cloud.urls.baremetal}\n` +
  (cloud.metricsUrl ? `  metrics   ${cloud.metricsUrl}\n` : '') +
  (cloud.dashboardUrl ? `Dashboard: ${cloud.dashboardUrl}/\n` : '') +
  `Credentials: . ${cloud.openrcPath}\n`,
);
// SIGHUP re-reads policy.yaml; a bad file is logged and the rules in force stay.
process.on('SIGHUP', () => {
  cloud.reloadPolicy().then((r) => log.info({ result: r }, 'SIGHUP: policy reloaded'), (err: unknown) => {
    log.error({ err: err instanceof Error ? err.message : String(err) }, 'SIGHUP: policy file not reloaded; the previous rules stay in force');
  });
});
let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    cloud.stop().then(() => process.exit(0), () => process.exit(1));
  });
}
