import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Credentials } from './openstack.js';

/**
 * The clouds the benchmark can measure. Each deployment either starts a cloud for the run (and
 * knows its processes, so their memory and CPU can be read) or is an existing cloud reached by
 * its auth URL. The multi-process deployment (PostgreSQL, RabbitMQ, one process per service)
 * plugs in here once it exists.
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
  unavailable(): string | null;
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
  unavailable() {
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
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        // A profiled process writes its profile on exit: give it time.
        let timer: NodeJS.Timeout | undefined;
        const late = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 30_000)))]);
        clearTimeout(timer);
        if (late) {
          child.kill('SIGKILL');
          await exited;
        }
      }
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

/**
 * Compute services, conductor, scheduler and APIs as separate processes over PostgreSQL and
 * RabbitMQ. Not built yet: the scale-out scenario reports itself skipped until it is.
 */
export const multiProcess: Deployment = {
  name: 'multi-process',
  unavailable() {
    return 'the multi-process deployment does not exist yet';
  },
  async start() {
    throw new Error('the multi-process deployment does not exist yet');
  },
};

/** An existing cloud, reached through its auth URL; `pids` are its processes when they run on this machine. */
export function existingCloud(credentials: Credentials, pids: number[]): Deployment {
  return {
    name: 'existing',
    unavailable: () => null,
    async start() {
      return { description: `existing cloud at ${credentials.authUrl}`, credentials, pids, stop: async () => undefined };
    },
  };
}
