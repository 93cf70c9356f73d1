/**
 * How an entry point fails to start: one line on stderr naming what is wrong and which option
 * says so, and exit status 1 — never a stack trace. The usual causes are a taken port, a bad
 * configuration value, and a database or broker that does not answer.
 */
import { Command } from 'commander';
import { Config, ConfigError } from '../common/config.js';
import { errorMessage } from '../common/errors.js';
import { DatabaseUnavailable, isConnectionLoss } from '../db/connection-loss.js';
import { redactTransportUrl } from '../rpc/transport.js';
import { StartupError } from '../common/listen-failure.js';

export { StartupError, listenFailure } from '../common/listen-failure.js';

/** Why the message broker could not be reached at start (`transport_url`'s password not shown). */
export function brokerFailure(err: unknown): StartupError {
  return new StartupError(`message broker unreachable ([DEFAULT] transport_url): ${reasonOf(err)}`);
}

/** An error's text; Node's connection errors to a name with several addresses carry theirs in `errors`. */
function reasonOf(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown; errors?: unknown } | null;
  if (Array.isArray(e?.errors) && e.errors.length > 0) return [...new Set(e.errors.map(reasonOf))].join('; ');
  const text = errorMessage(err);
  return text !== '' ? text : typeof e?.code === 'string' ? e.code : 'no reason given';
}

/** The line an entry point prints for `err` (the database's URL shown without its password). */
export function startupFailureLine(err: unknown, config?: Config): string {
  if (err instanceof StartupError || err instanceof ConfigError) return err.message;
  if (err instanceof DatabaseUnavailable || isConnectionLoss(err)) {
    const cause = err instanceof DatabaseUnavailable ? err.cause : err;
    const url = config?.opt('database', 'connection');
    return `database unreachable${url ? ` at ${redactTransportUrl(url)}` : ''} ([database] connection): ${reasonOf(cause)}`;
  }
  return reasonOf(err);
}

/** Prints the failure as `<program>: <line>` and exits 1. */
export function exitWithStartupFailure(program: string, err: unknown, config?: Config): never {
  process.stderr.write(`${program}: ${startupFailureLine(err, config)}\n`);
  process.exit(1);
}

/**
 * The all-in-one's command line: `--config FILE` (else $ORRERY_CONFIG) and `--help`, which
 * prints what it runs and exits before anything starts. Answers the validated configuration;
 * a bad file or value exits here.
 */
export function allInOneConfig(argv: readonly string[]): Config {
  const cli = new Command('all-in-one')
    .description('The whole cloud in one process (`npm start`): the identity, image, compute, placement, network and metadata APIs, '
      + 'the conductor, the scheduler, one compute service and network agent per [DEFAULT] compute_hosts entry, on the in-process bus and SQLite.')
    .option('--config <file>', 'INI configuration file (else $ORRERY_CONFIG; none: every default)')
    .addHelpText('after', '\nEnvironment: ORRERY_<OPTION> and ORRERY_<SECTION>__<OPTION> override the file (e.g. ORRERY_API__COMPUTE_PORT=18774).\n'
      + 'Every option, its default and meaning: docs/configuration.md (or `npm run orrery -- config reference`).\n'
      + 'Stop it with Ctrl-C (SIGINT) or SIGTERM; SIGHUP re-reads the policy file.')
    .allowExcessArguments(false);
  cli.parse(argv as string[]);
  const file = cli.opts<{ config?: string }>().config;
  try {
    return Config.load(file).validate();
  } catch (err) {
    return exitWithStartupFailure('orrery', err);
  }
}
