import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Credentials } from './openstack.js';

const exec = promisify(execFile);

/**
 * The clouds the benchmark can measure. Each deployment either starts a cloud for the run (and
 * knows its processes, so their memory and CPU can be read) or is an existing cloud reached by
 * its auth URL: the all-in-one, the multi-process deployment (PostgreSQL, RabbitMQ, one process
 * per service), or any OpenStack cloud.
 */

export interface CloudUnderTest {
  /** What was measured, in words, for the report. */
  description: string;
  credentials: Credentials;
  /** Processes of the cloud on this machine (empty when it runs elsewhere). */
  pids: number[];
  stop(): Promise<void>;
}

export interface FakeCapacity {
  vcpus: number;
  memoryMb: number;
  diskGb: number;
}

export interface StartOptions {
  /** Capacity of each fake compute node: enough for the largest storm. */
  capacity: FakeCapacity;
  /** Extra node flags for the cloud's processes (e.g. --cpu-prof). */
  nodeArgs: string[];
  /** Extra environment for the cloud's processes. */
  env: Record<string, string>;
  /** Keep the state directory (database, logs) after the run. */
  keepState: boolean;
  /** Compute processes to run, where the deployment runs them as processes (scale-out). */
  computeProcesses?: number;
}

export interface Deployment {
  name: string;
  /** Why this deployment cannot be started here, or null when it can. */
  unavailable(): Promise<string | null>;
  start(opts: StartOptions): Promise<CloudUnderTest>;
}

/** The repository root: the nearest directory above this module with Orrery's package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'orrery') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the Orrery repository root');
    dir = up;
  }
}

/** Reads the openrc the all-in-one writes into Credentials. */
export function credentialsFromOpenrc(text: string): Credentials {
  const vars: Record<string, string> = {};
  for (const m of text.matchAll(/^export (\w+)=(.*)$/gm)) vars[m[1]!] = m[2]!;
  const need = (k: string): string => {
    const v = vars[k];
    if (v === undefined) throw new Error(`openrc has no ${k}`);
    return v;
  };
  return {
    authUrl: need('OS_AUTH_URL'),
    username: need('OS_USERNAME'),
    password: need('OS_PASSWORD'),
    projectName: need('OS_PROJECT_NAME'),
    userDomain: vars.OS_USER_DOMAIN_NAME ?? 'Default',
    projectDomain: vars.OS_PROJECT_DOMAIN_NAME ?? 'Default',
    ...(vars.OS_REGION_NAME ? { region: vars.OS_REGION_NAME } : {}),
  };
}

async function waitForLine(logPath: string, pattern: RegExp, exited: () => number | null, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
    const m = pattern.exec(text);
    if (m) return m;
    const code = exited();
    if (code !== null) throw new Error(`the cloud exited with ${code} before it was up:\n${text.slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`the cloud did not come up in ${timeoutMs / 1000} s:\n${text.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The all-in-one (`npm start`'s entry point, from built JavaScript) in a child process: its
 * default configuration, on free ports, its state in a temporary directory, its log in a file
 * there. Only the fake nodes' capacity is set, through a config file's [fake] section.
 */
export const allInOne: Deployment = {
  name: 'all-in-one',
  async unavailable() {
    return existsSync(join(repoRoot(), 'dist/src/cmd/all-in-one.js')) ? null : 'dist/src/cmd/all-in-one.js is missing: run `npm run build`';
  },
  async start(opts) {
    const root = repoRoot();
    const stateDir = mkdtempSync(join(tmpdir(), 'orrery-bench-'));
    const configPath = join(stateDir, 'orrery.conf');
    writeFileSync(configPath, `[fake]\nvcpus = ${opts.capacity.vcpus}\nmemory_mb = ${opts.capacity.memoryMb}\ndisk_gb = ${opts.capacity.diskGb}\n`);
    // Inherited ORRERY_* variables would change the configuration under test: drop them.
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ORRERY_')));
    Object.assign(env, {
      ORRERY_CONFIG: configPath,
      ORRERY_STATE_PATH: stateDir,
      ORRERY_API__IDENTITY_PORT: '0',
      ORRERY_API__IMAGE_PORT: '0',
      ORRERY_API__COMPUTE_PORT: '0',
      ORRERY_API__PLACEMENT_PORT: '0',
      ...opts.env,
    });
    const logPath = join(stateDir, 'all-in-one.log');
    const logFd = openSync(logPath, 'a');
    const child = spawn(process.execPath, [...opts.nodeArgs, join(root, 'dist/src/cmd/all-in-one.js')], {
      cwd: stateDir, env, stdio: ['ignore', logFd, logFd],
    });
    closeSync(logFd);
    const stop = async (): Promise<void> => {
      await stopChild(child);
      if (!opts.keepState) rmSync(stateDir, { recursive: true, force: true });
    };
    try {
      const m = await waitForLine(logPath, /Credentials: \. (\S+)/, () => child.exitCode, 120_000);
      return {
        description: 'all-in-one (one process: APIs, conductor, scheduler, 2 compute hosts; fake driver; SQLite; in-process bus)',
        credentials: credentialsFromOpenrc(readFileSync(m[1]!, 'utf8')),
        pids: [child.pid!],
        stop,
      };
    } catch (err) {
      await stop();
      throw err;
    }
  },
};

/** Where the multi-process deployment finds its back-ends (the same defaults as the tests'). */
export const SCALE_OUT_BACKENDS = {
  /** A PostgreSQL database to connect to for CREATE/DROP DATABASE. */
  postgres: process.env.ORRERY_BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
  /** The broker, without a vhost: each run gets a vhost of its own (made with rabbitmqctl). */
  rabbit: process.env.ORRERY_BENCH_RABBIT_URL ?? 'rabbit://guest:guest@127.0.0.1:5672/',
};

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function postgresAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: SCALE_OUT_BACKENDS.postgres, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function tcpReachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function brokerParts(): URL {
  return new URL(SCALE_OUT_BACKENDS.rabbit.replace(/^rabbit:/, 'http:'));
}

function iniText(data: Record<string, Record<string, string>>): string {
  return Object.entries(data).map(([section, opts]) => `[${section}]\n${Object.entries(opts).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`).join('\n');
}

/** One service process of the multi-process deployment, its output in a log file. */
async function startService(root: string, stateDir: string, name: string, args: string[], env: NodeJS.ProcessEnv, nodeArgs: string[]): Promise<ChildProcess> {
  const logPath = join(stateDir, `${name}.log`);
  const fd = openSync(logPath, 'a');
  const child = spawn(process.execPath, [...nodeArgs, join(root, 'dist/src/cmd/orrery.js'), ...args], { cwd: stateDir, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  await waitForLine(logPath, / is running/, () => child.exitCode, 120_000);
  return child;
}

/** SIGTERM, then SIGKILL after 30 s; a profiled process writes its profile as it exits, so give it time. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 30_000)))]);
  clearTimeout(timer);
  if (late) {
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * The multi-process deployment (`orrery api|conductor|scheduler|compute`, README "Run it across
 * machines") on this machine: one API, one conductor, one scheduler and `computeProcesses`
 * compute processes, on a fresh PostgreSQL database and a fresh RabbitMQ vhost, in their
 * default configuration but for the fake nodes' capacity.
 */
export const multiProcess: Deployment = {
  name: 'multi-process',
  async unavailable() {
    if (!existsSync(join(repoRoot(), 'dist/src/cmd/orrery.js'))) return 'dist/src/cmd/orrery.js is missing: run `npm run build`';
    try {
      await postgresAdmin((c) => c.query('SELECT 1'));
    } catch (err) {
      return `PostgreSQL is not reachable at ${SCALE_OUT_BACKENDS.postgres} (set ORRERY_BENCH_PG_URL): ${err instanceof Error ? err.message : String(err)}`;
    }
    const broker = brokerParts();
    if (!(await tcpReachable(broker.hostname, Number(broker.port || 5672)))) {
      return `RabbitMQ is not reachable at ${broker.hostname}:${broker.port || 5672} (set ORRERY_BENCH_RABBIT_URL)`;
    }
    try {
      await exec('rabbitmqctl', ['list_vhosts']);
    } catch {
      return 'rabbitmqctl cannot reach the broker (it makes a vhost per run)';
    }
    return null;
  },
  async start(opts) {
    const root = repoRoot();
    const computes = opts.computeProcesses ?? 1;
    const tag = randomBytes(4).toString('hex');
    const stateDir = mkdtempSync(join(tmpdir(), 'orrery-bench-mp-'));
    const dbName = `orrery_bench_${tag}`;
    const vhost = `orrery-bench-${tag}`;
    const children: ChildProcess[] = [];
    const stop = async (): Promise<void> => {
      await Promise.all(children.map(stopChild));
      await postgresAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)).catch(() => undefined);
      await exec('rabbitmqctl', ['delete_vhost', vhost]).catch(() => undefined);
      if (!opts.keepState) rmSync(stateDir, { recursive: true, force: true });
    };
    try {
      await postgresAdmin((c) => c.query(`CREATE DATABASE ${dbName}`));
      await exec('rabbitmqctl', ['add_vhost', vhost]);
      const broker = brokerParts();
      await exec('rabbitmqctl', ['set_permissions', '-p', vhost, decodeURIComponent(broker.username || 'guest'), '.*', '.*', '.*']);
      const dbUrl = new URL(SCALE_OUT_BACKENDS.postgres);
      dbUrl.pathname = `/${dbName}`;
      const ports = { identity: await freePort(), image: await freePort(), compute: await freePort(), placement: await freePort() };
      const ini: Record<string, Record<string, string>> = {
        DEFAULT: {
          state_path: stateDir,
          transport_url: `rabbit://${broker.username || 'guest'}:${broker.password || 'guest'}@${broker.hostname}:${broker.port || 5672}/${vhost}`,
        },
        database: { connection: dbUrl.toString() },
        api: { identity_port: String(ports.identity), image_port: String(ports.image), compute_port: String(ports.compute), placement_port: String(ports.placement) },
        service_user: { auth_url: `http://127.0.0.1:${ports.identity}/v3` },
        fake: { vcpus: String(opts.capacity.vcpus), memory_mb: String(opts.capacity.memoryMb), disk_gb: String(opts.capacity.diskGb) },
      };
      const configPath = join(stateDir, 'orrery.conf');
      writeFileSync(configPath, iniText(ini));
      // Compute hosts have no database credentials, as the README deploys them.
      const { database: _none, ...computeIni } = ini;
      const computeConfigPath = join(stateDir, 'compute.conf');
      writeFileSync(computeConfigPath, iniText(computeIni));
      const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ORRERY_')));
      Object.assign(env, opts.env);
      await exec(process.execPath, [join(root, 'dist/src/cmd/orrery.js'), '--config', configPath, 'db', 'sync'], { env });
      const service = async (name: string, config: string, args: string[]): Promise<void> => {
        children.push(await startService(root, stateDir, name, ['--config', config, ...args], env, opts.nodeArgs));
      };
      await service('api', configPath, ['api']);
      // Computes report to the conductor as they start: it comes first.
      await Promise.all([
        service('conductor', configPath, ['conductor', '--host', 'conductor1']),
        service('scheduler', configPath, ['scheduler', '--host', 'scheduler1']),
      ]);
      await Promise.all(Array.from({ length: computes }, (_, i) => service(`compute${i + 1}`, computeConfigPath, ['compute', '--host', `compute${i + 1}`])));
      return {
        description: `multi-process (api, conductor, scheduler, ${computes} compute process${computes === 1 ? '' : 'es'}; fake driver; PostgreSQL; RabbitMQ)`,
        credentials: credentialsFromOpenrc(readFileSync(join(stateDir, 'openrc'), 'utf8')),
        pids: children.map((c) => c.pid!),
        stop,
      };
    } catch (err) {
      await stop();
      throw err;
    }
  },
};

/** An existing cloud, reached through its auth URL; `pids` are its processes when they run on this machine. */
export function existingCloud(credentials: Credentials, pids: number[]): Deployment {
  return {
    name: 'existing',
    unavailable: async () => null,
    async start() {
      return { description: `existing cloud at ${credentials.authUrl}`, credentials, pids, stop: async () => undefined };
    },
  };
}
