#!/usr/bin/env node
import { Command } from 'commander';
import { Config } from '../common/config.js';
import { createLogger, type Logger } from '../common/logging.js';
import { errorMessage } from '../common/errors.js';
import { listServiceRows } from '../db/service-admin.js';
import { serviceIsUp, computePin } from '../db/services.js';
import { createBus } from '../rpc/transport.js';
import { COMPUTE_RPC_VERSION } from '../rpc/compute-api.js';
import { openServiceDatabase, startApi, startCompute, startConductor, startScheduler } from './services.js';
import { migrate, openConfiguredDatabase, type Db } from '../db/connection.js';
import { compareVersions } from '../common/versions.js';
import { allPolicyDefaults, policySample } from './policies.js';
import { startNetworkAgent } from './network-agent.js';
import { bundledDriverSections, configReference, configSample } from './config-docs.js';

/**
 * `orrery`: one entry point per service (api, conductor, scheduler, compute) for the
 * multi-process deployment, and the admin commands. The all-in-one is all-in-one.ts (`npm start`).
 */

interface Stoppable {
  stop(): Promise<void>;
}

/** Runs until SIGINT/SIGTERM; SIGHUP re-reads what the service recomputes (RPC pins). */
function runUntilSignalled(log: Logger, parts: Stoppable[], onHup?: () => Promise<unknown>): void {
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      (async () => {
        for (const p of parts.reverse()) await p.stop();
      })().then(() => process.exit(0), (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'shutdown failed');
        process.exit(1);
      });
    });
  }
  process.on('SIGHUP', () => {
    onHup?.().then((r) => log.info({ result: r }, 'SIGHUP handled'), (err: unknown) => log.error({ err: errorMessage(err) }, 'SIGHUP failed'));
  });
}

function loadConfig(opts: { config?: string }): Config {
  return Config.load(opts.config);
}

async function serviceBus(config: Config, log: Logger) {
  const url = config.str('DEFAULT', 'transport_url');
  if (url.startsWith('inprocess:')) {
    throw new Error('transport_url is inprocess://: separate service processes need a message broker (rabbit://…); use the all-in-one (`npm start`) for one process');
  }
  return createBus(url, log);
}

const program = new Command('orrery').description('Orrery compute cloud control plane').option('--config <file>', 'INI configuration file (else $ORRERY_CONFIG)');

program.command('api').description('the identity, image, compute and placement APIs').action(async () => {
  const config = loadConfig(program.opts());
  const log = createLogger('orrery-api');
  const db = await openServiceDatabase(config);
  const bus = await serviceBus(config, log);
  const api = await startApi(config, db, bus, log);
  process.stdout.write(`orrery-api is running: identity ${api.urls.identity}/v3 compute ${api.urls.compute}/v2.1${api.dashboardUrl ? ` dashboard ${api.dashboardUrl}/` : ''}\nCredentials: . ${api.openrcPath}\n`);
  runUntilSignalled(log, [{ stop: () => db.destroy() }, { stop: () => bus.close() }, api], async () => {
    // A bad policy file is logged and keeps the rules in force; the pins are refreshed anyway.
    const policy = await api.reloadPolicy().catch((err: unknown) => {
      log.error({ err: errorMessage(err) }, 'policy file not reloaded: the previous rules stay in force');
      return 'policy unchanged';
    });
    return `${policy}; ${await api.refreshPins()}`;
  });
});

for (const name of ['conductor', 'scheduler'] as const) {
  program.command(name).description(`the ${name} service`).option('--host <name>', 'service host name (else [DEFAULT] host)').action(async (opts: { host?: string }) => {
    const config = loadConfig(program.opts());
    const host = opts.host ?? config.str('DEFAULT', 'host');
    const log = createLogger(`orrery-${name}`);
    const db = await openServiceDatabase(config);
    const bus = await serviceBus(config, log);
    const service = name === 'conductor' ? await startConductor(config, db, bus, log, host) : await startScheduler(config, db, bus, log, host);
    process.stdout.write(`orrery-${name} is running on ${host}\n`);
    runUntilSignalled(log, [{ stop: () => db.destroy() }, { stop: () => bus.close() }, service], 'refreshPins' in service ? () => service.refreshPins() : undefined);
  });
}

program.command('compute').description('one compute service; needs no database').requiredOption('--host <name>', 'compute host name')
  .action(async (opts: { host: string }) => {
    const config = loadConfig(program.opts());
    const log = createLogger('orrery-compute');
    const bus = await serviceBus(config, log);
    const compute = await startCompute(config, bus, opts.host, undefined, log);
    process.stdout.write(`orrery-compute is running on ${opts.host} (RPC ${COMPUTE_RPC_VERSION})\n`);
    runUntilSignalled(log, [{ stop: () => bus.close() }, compute]);
  });

program.command('network-agent').description('the network agent of one host (L2, DHCP, security groups; [network_agent])').requiredOption('--host <name>', 'the host name (its compute host)')
  .action(async (opts: { host: string }) => {
    const config = loadConfig(program.opts());
    const log = createLogger('orrery-network-agent');
    const agent = await startNetworkAgent(config, opts.host, undefined, log);
    process.stdout.write(`orrery-network-agent is running on ${opts.host} (data plane ${agent.dataplane.kind})\n`);
    runUntilSignalled(log, [agent]);
  });

const db = program.command('db').description('database administration');
db.command('sync').description('apply pending expand migrations (before an upgrade); --contract also the contract ones (after it)')
  .option('--contract', 'also apply contract migrations: only once every service runs the new release')
  .action(async (opts: { contract?: boolean }) => {
    const config = loadConfig(program.opts());
    const conn = openConfiguredDatabase(config);
    try {
      if (opts.contract) {
        const mixed = await mixedVersions(conn, config);
        if (mixed.length > 0) throw new Error(`services still run older releases (${mixed.join('; ')}): finish the upgrade first`);
      }
      await migrate(conn, opts.contract ? ['expand', 'contract'] : ['expand']);
    } finally {
      await conn.destroy();
    }
    process.stdout.write(`database is up to date${opts.contract ? '' : ' (expand steps; run with --contract once every service is upgraded)'}\n`);
  });

program.command('service').description('services').command('list').description('every service with its state and RPC version').action(async () => {
  const config = loadConfig(program.opts());
  const conn = await openServiceDatabase(config);
  const rows = await listServiceRows(conn, { sorted: true });
  const table = rows.map((r) => ({
    id: r.id, binary: r.binary, host: r.host, status: r.disabled ? 'disabled' : 'enabled',
    state: serviceIsUp(r, config) ? 'up' : 'down', version: r.version, updated_at: r.updated_at,
  }));
  console.table(table);
  await conn.destroy();
});

/** RPC versions the live services report, by binary. */
async function liveVersions(conn: Db, config: Config): Promise<Map<string, Set<string>>> {
  const rows = await listServiceRows(conn);
  const byBinary = new Map<string, Set<string>>();
  for (const r of rows.filter((x) => serviceIsUp(x, config))) {
    byBinary.set(r.binary, (byBinary.get(r.binary) ?? new Set()).add(r.version));
  }
  return byBinary;
}

/** What still runs an older release: binaries with mixed versions, computes older than this release. */
async function mixedVersions(conn: Db, config: Config): Promise<string[]> {
  const out: string[] = [];
  for (const [binary, versions] of await liveVersions(conn, config)) {
    const old = binary === 'nova-compute' && [...versions].some((v) => compareVersions(v, COMPUTE_RPC_VERSION) < 0);
    if (versions.size > 1 || old) out.push(`${binary}: ${[...versions].sort().join(', ')}`);
  }
  return out;
}

program.command('upgrade').description('rolling upgrades').command('status').description('RPC versions of the live services and the current pin').action(async () => {
  const config = loadConfig(program.opts());
  const conn = await openServiceDatabase(config);
  for (const [binary, versions] of [...(await liveVersions(conn, config))].sort()) {
    process.stdout.write(`${binary}: ${[...versions].sort().join(', ')}${versions.size > 1 ? '  (mixed: upgrade in progress)' : ''}\n`);
  }
  const pin = await computePin(conn, config);
  process.stdout.write(`compute RPC pin: ${pin ?? 'none (no live compute)'} (this release speaks ${COMPUTE_RPC_VERSION}; [upgrade_levels] compute = ${config.str('upgrade_levels', 'compute')})\n`);
  await conn.destroy();
});

const policy = program.command('policy').description('the policy rules (oslo.policy)');
policy.command('list').description('every rule with its default check').action(() => {
  for (const d of allPolicyDefaults()) process.stdout.write(`${d.name}\t${d.check === '' ? '""' : d.check}\n`);
});
policy.command('sample').description('a policy.yaml with every default, commented out, to copy and edit').action(() => {
  process.stdout.write(policySample(allPolicyDefaults()));
});

const configCmd = program.command('config').description('the configuration options');
configCmd.command('reference').description('every option with its default and meaning, as markdown (docs/configuration.md)').action(async () => {
  process.stdout.write(configReference(await bundledDriverSections()));
});
configCmd.command('sample').description('an orrery.conf with every option commented out (etc/orrery.conf.sample)').action(async () => {
  process.stdout.write(configSample(await bundledDriverSections()));
});

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`orrery: ${errorMessage(err)}\n`);
  process.exit(1);
});
