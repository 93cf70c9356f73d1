#!/usr/bin/env node
/**
 * `npm run bench`: Orrery's benchmark. With no target it starts the all-in-one itself (fake
 * driver, SQLite, on free ports) for each boot storm; with --auth-url it measures any
 * OpenStack-compatible cloud through the same public APIs. See docs/performance.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { runBench, type BenchOptions } from './bench.js';
import { repoRoot } from '../harness/repo.js';
import { allInOne, existingCloud } from './deployments.js';
import { stderrProgress } from './progress.js';
import { movesMarkdown, runMoves, type MovesResult } from './scenarios/moves.js';

const SCENARIOS = ['boot-storm', 'scheduler', 'scale-out', 'failover', 'moves', 'libvirt-live-migration', 'docker-boot'];

/** The command as typed, for the report, without the password. */
function commandLine(args: string[]): string {
  const shown = args.map((a, i) => (args[i - 1] === '--password' ? '***' : a.replace(/^--password=.*/, '--password=***')));
  return `npm run bench${shown.length > 0 ? ` -- ${shown.join(' ')}` : ''}`;
}

const numbers = (v: string): number[] => {
  const out = v.split(',').map((s) => Number(s.trim()));
  if (out.some((x) => !Number.isInteger(x) || x <= 0)) throw new InvalidArgumentError('expected positive integers separated by commas');
  return out;
};
const positive = (v: string): number => numbers(v)[0]!;

const program = new Command('npm run bench --')
  .description('Measures an OpenStack-compatible cloud through its public APIs: boot storm, scheduler scale, scale-out. ' +
    'Without --auth-url it starts Orrery\'s all-in-one (built JS, fake driver, SQLite) on free ports for each boot storm.')
  .option('--quick', 'a fast smoke run: N = 50,200 with 10 clients; scheduler 1000 nodes, 1000 requests; scale-out with 1 compute process; failover over 30 nodes')
  .option('--scenarios <list>', `scenarios to run, of ${SCENARIOS.join(', ')}`, SCENARIOS.join(','))
  .addOption(new Option('--n <list>', 'boot storm sizes (servers)').default([200, 1000, 5000], '200,1000,5000').argParser(numbers))
  .addOption(new Option('--concurrency <list>', 'concurrent clients posting').default([10, 50], '10,50').argParser(numbers))
  .option('--flavor <id-or-name>', 'flavor of the servers', 'm1.nano')
  .option('--image <id-or-name>', 'image of the servers', 'orrery-tiny')
  .addOption(new Option('--poll-ms <ms>', 'poll interval while waiting for ACTIVE and for deletes').default(100).argParser(positive))
  .addOption(new Option('--repeat <count>', 'run each boot storm this many times, each on a fresh cloud, and report the median run').default(1).argParser(positive))
  .addOption(new Option('--warmup <count>', 'servers booted and deleted, unmeasured, before each storm (0: none)').default(50).argParser((v) => (v === '0' ? 0 : positive(v))))
  .addOption(new Option('--probe-ms <ms>', 'interval of the GET /servers/{id} probe during each boot (0: no probe)').default(15).argParser((v) => (v === '0' ? 0 : positive(v))))
  .addOption(new Option('--multi-create <count>', 'after each storm, one POST creating min(N, count) servers at once (0: none)').default(500).argParser((v) => (v === '0' ? 0 : positive(v))))
  .addOption(new Option('--list-samples <count>', 'GET /servers/detail requests timed with N servers present').default(20).argParser(positive))
  .addOption(new Option('--stall <seconds>', 'give up when no server changes state for this long').default(120).argParser(positive))
  .addOption(new Option('--nodes <list>', 'scheduler scale: fake node counts').default([1000, 10000, 100000], '1000,10000,100000').argParser(numbers))
  .addOption(new Option('--requests <count>', 'scheduler scale: requests per node count').default(10000).argParser(positive))
  .addOption(new Option('--moves-n <count>', 'moves: servers each resized (+confirm), then live-migrated').default(50).argParser(positive))
  .addOption(new Option('--moves-concurrency <list>', 'moves: moves at a time').default([1, 10], '1,10').argParser(numbers))
  .addOption(new Option('--libvirt-migrations <count>', 'libvirt live migration: block migrations of one 128 MiB TCG guest between two libvirt hosts (needs root and libvirt; skipped with the reason otherwise)').default(4).argParser(positive))
  .addOption(new Option('--docker-boots <count>', 'docker boot: containers booted one at a time, POST→ACTIVE beside Docker\'s own create+start (needs a Docker daemon; skipped with the reason otherwise)').default(20).argParser(positive))
  .addOption(new Option('--scheduler-budget <seconds>', 'scheduler scale: stop a node count after this long and report the rate so far').default(120).argParser(positive))
  .option('--auth-url <url>', 'measure an existing cloud (Identity v3) instead of starting the all-in-one [env OS_AUTH_URL is not used unless given here]')
  .option('--username <name>', 'with --auth-url [env OS_USERNAME]')
  .option('--password <password>', 'with --auth-url [env OS_PASSWORD]')
  .option('--project-name <name>', 'with --auth-url [env OS_PROJECT_NAME]')
  .option('--user-domain-name <name>', 'with --auth-url [env OS_USER_DOMAIN_NAME, else Default]')
  .option('--project-domain-name <name>', 'with --auth-url [env OS_PROJECT_DOMAIN_NAME, else Default]')
  .option('--region-name <name>', 'with --auth-url [env OS_REGION_NAME]')
  .addOption(new Option('--pids <list>', 'with --auth-url: process ids of the cloud on this machine, to measure their memory and CPU').argParser(numbers))
  .addOption(new Option('--out <dir>', 'directory for the run\'s JSON').default(join(repoRoot(), 'bench/results'), 'bench/results'))
  .addOption(new Option('--chart <file>', 'where to write the SVG chart').default(join(repoRoot(), 'bench/results/latest.svg'), 'bench/results/latest.svg'))
  .option('--profile <dir>', 'profile the cloud and the scheduler with node --cpu-prof into <dir> and summarise the profiles')
  .option('--keep-state', 'keep the started clouds\' state directories (database, log)')
  .option('--quiet', 'no progress on stderr')
  .addHelpText('after', `
Examples:
  npm run bench                          # the full run, on a freshly started all-in-one
  npm run bench -- --quick               # a fast smoke run
  npm run bench -- --scenarios scheduler --nodes 10000 --requests 10000
  npm run bench -- --scenarios boot-storm --n 200 --auth-url http://keystone:5000/v3 \\
      --username admin --password secret --project-name admin`);

program.parse(process.argv);
const opts = program.opts<{
  quick?: boolean; scenarios: string; n: number[]; concurrency: number[]; repeat: number; warmup: number; flavor: string; image: string; pollMs: number; probeMs: number; multiCreate: number;
  listSamples: number; stall: number; nodes: number[]; requests: number; schedulerBudget: number; movesN: number; movesConcurrency: number[]; libvirtMigrations: number; dockerBoots: number; authUrl?: string;
  username?: string; password?: string; projectName?: string; userDomainName?: string; projectDomainName?: string;
  regionName?: string; pids?: number[]; out: string; chart: string; profile?: string; keepState?: boolean; quiet?: boolean;
}>();
const explicit = (name: string): boolean => program.getOptionValueSource(name) === 'cli';
if (opts.quick) {
  if (!explicit('n')) opts.n = [50, 200];
  if (!explicit('concurrency')) opts.concurrency = [10];
  if (!explicit('nodes')) opts.nodes = [1000];
  if (!explicit('requests')) opts.requests = 1000;
  if (!explicit('listSamples')) opts.listSamples = 5;
  if (!explicit('warmup')) opts.warmup = 20;
  if (!explicit('movesN')) opts.movesN = 10;
  if (!explicit('movesConcurrency')) opts.movesConcurrency = [5];
  if (!explicit('libvirtMigrations')) opts.libvirtMigrations = 2;
}
const scenarios = opts.scenarios.split(',').map((s) => s.trim());
for (const s of scenarios) if (!SCENARIOS.includes(s)) program.error(`unknown scenario ${s}; choose from ${SCENARIOS.join(', ')}`);

let deployment = allInOne;
if (opts.authUrl) {
  const env = process.env;
  const need = (v: string | undefined, what: string): string => v ?? program.error(`--auth-url needs ${what}`);
  deployment = existingCloud({
    authUrl: opts.authUrl,
    username: need(opts.username ?? env.OS_USERNAME, '--username'),
    password: need(opts.password ?? env.OS_PASSWORD, '--password'),
    projectName: need(opts.projectName ?? env.OS_PROJECT_NAME, '--project-name'),
    userDomain: opts.userDomainName ?? env.OS_USER_DOMAIN_NAME ?? 'Default',
    projectDomain: opts.projectDomainName ?? env.OS_PROJECT_DOMAIN_NAME ?? 'Default',
    ...(opts.regionName ?? env.OS_REGION_NAME ? { region: (opts.regionName ?? env.OS_REGION_NAME)! } : {}),
  }, opts.pids ?? []);
}

// The scheduler and scale-out scenarios run Orrery's own code on this machine, not a cloud given by --auth-url.
const local = !opts.authUrl;
if (!local && (scenarios.includes('scheduler') || scenarios.includes('scale-out') || scenarios.includes('failover') || scenarios.includes('moves') || scenarios.includes('libvirt-live-migration') || scenarios.includes('docker-boot'))) {
  process.stderr.write('note: with --auth-url only the boot storm runs (the scheduler, scale-out, failover and moves scenarios measure Orrery\'s own code here)\n');
}
const bench: BenchOptions = {
  deployment,
  storm: {
    ns: opts.n, concurrencies: opts.concurrency, repeat: opts.repeat, flavor: opts.flavor, image: opts.image, pollMs: opts.pollMs,
    listSamples: opts.listSamples, stallMs: opts.stall * 1000, warmup: opts.warmup, probeMs: opts.probeMs, multiCreate: opts.multiCreate,
  },
  bootStorm: scenarios.includes('boot-storm'),
  scheduler: scenarios.includes('scheduler') && local ? { nodes: opts.nodes, requests: opts.requests, budgetSeconds: opts.schedulerBudget } : null,
  scaleOut: scenarios.includes('scale-out') && local ? (opts.quick ? [1] : [1, 3]) : [],
  failover: scenarios.includes('failover') && local ? { nodes: opts.quick ? 30 : 100, reportIntervalS: 1, serviceDownTimeS: 4 } : null,
  profileDir: opts.profile ? resolve(opts.profile) : null,
  cloudEnv: {},
  keepState: opts.keepState === true,
  outDir: resolve(opts.out),
  chartPath: resolve(opts.chart),
  command: commandLine(process.argv.slice(2)),
};

const progress = stderrProgress(process.stderr, opts.quiet === true);
try {
  // The moves scenarios (issue #12) report in sections and JSON files of their own after the others.
  const others = bench.bootStorm || bench.scheduler !== null || bench.scaleOut.length > 0 || bench.failover !== null;
  if (others) process.stdout.write((await runBench(bench, progress)).markdown);
  if (scenarios.includes('moves') && local) {
    const moves: MovesResult[] = [];
    for (const concurrency of opts.movesConcurrency) {
      moves.push(await runMoves(allInOne, { n: opts.movesN, concurrency, pollMs: opts.pollMs, timeoutMs: opts.stall * 1000 }, progress));
    }
    mkdirSync(bench.outDir, { recursive: true });
    const file = join(bench.outDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-moves.json`);
    writeFileSync(file, `${JSON.stringify({ command: bench.command, moves }, null, 2)}\n`);
    progress.note(`wrote ${file}`);
    process.stdout.write(`\n${movesMarkdown(moves)}`);
  }
  if (scenarios.includes('libvirt-live-migration') && local) {
    // Loaded only when asked for: it brings the libvirt driver and the two-host harness with it.
    const { libvirtLiveMigrationMarkdown, runLibvirtLiveMigration } = await import('./scenarios/libvirt-live-migration.js');
    const r = await runLibvirtLiveMigration({ migrations: opts.libvirtMigrations }, progress);
    mkdirSync(bench.outDir, { recursive: true });
    const file = join(bench.outDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-libvirt-live-migration.json`);
    writeFileSync(file, `${JSON.stringify({ command: bench.command, libvirtLiveMigration: r }, null, 2)}\n`);
    progress.note(`wrote ${file}`);
    process.stdout.write(`\n${libvirtLiveMigrationMarkdown(r)}\n`);
  }
  if (scenarios.includes('docker-boot') && local) {
    const { dockerBootMarkdown, runDockerBoot } = await import('./scenarios/docker-boot.js');
    const r = await runDockerBoot({ boots: opts.dockerBoots, pollMs: Math.min(opts.pollMs, 20) }, progress);
    mkdirSync(bench.outDir, { recursive: true });
    const file = join(bench.outDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-docker-boot.json`);
    writeFileSync(file, `${JSON.stringify({ command: bench.command, dockerBoot: r }, null, 2)}\n`);
    progress.note(`wrote ${file}`);
    process.stdout.write(`\n${dockerBootMarkdown(r)}\n`);
  }
} catch (err) {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
}
