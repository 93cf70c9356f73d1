import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { launchAllInOne } from '../harness/all-in-one.js';
import { MultiProcess } from '../harness/multi-process.js';
import { createDatabase, DEFAULT_PG_ADMIN_URL, postgresProblem } from '../harness/postgres.js';
import { DEFAULT_BROKER_URL, rabbitmqctlWorks, rabbitReachable } from '../harness/rabbitmq.js';
import { builtEntry } from '../harness/repo.js';
import type { IniData } from '../src/common/config.js';
import { parseRabbitUrl } from '../src/rpc/transport.js';
import type { Credentials } from './openstack.js';

// bench.ts finds the repository through here.

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

/** Reads the variables of an openrc the all-in-one writes into Credentials. */
export function credentialsFromOpenrc(vars: Record<string, string>): Credentials {
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

/** This process's environment without ORRERY_* variables, which would change the configuration under test. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ORRERY_')));
}

const fakeIni = (c: FakeCapacity): IniData => ({ fake: { vcpus: String(c.vcpus), memory_mb: String(c.memoryMb), disk_gb: String(c.diskGb) } });

/**
 * The all-in-one (`npm start`'s entry point, from built JavaScript) in a child process: its
 * default configuration, on free ports, its state in a temporary directory, its log in a file
 * there. Only the fake nodes' capacity is set, through a config file's [fake] section.
 */
export const allInOne: Deployment = {
  name: 'all-in-one',
  async unavailable() {
    return existsSync(builtEntry('all-in-one')) ? null : 'dist/src/cmd/all-in-one.js is missing: run `npm run build`';
  },
  async start(opts) {
    const cloud = await launchAllInOne({
      baseEnv: cleanEnv(), env: opts.env, ini: fakeIni(opts.capacity), nodeArgs: opts.nodeArgs, logToFile: true, keepState: opts.keepState,
    });
    return {
      description: 'all-in-one (one process: APIs, conductor, scheduler, 2 compute hosts; fake driver; SQLite; in-process bus)',
      credentials: credentialsFromOpenrc(cloud.openrc),
      pids: [cloud.pid],
      stop: cloud.stop,
    };
  },
};

/** Where the multi-process deployment finds its back-ends (the same defaults as the tests'). */
export const SCALE_OUT_BACKENDS = {
  /** A PostgreSQL database to connect to for CREATE/DROP DATABASE. */
  postgres: process.env.ORRERY_BENCH_PG_URL ?? DEFAULT_PG_ADMIN_URL,
  /** The broker, without a vhost: each run gets a vhost of its own (made with rabbitmqctl). */
  rabbit: process.env.ORRERY_BENCH_RABBIT_URL ?? DEFAULT_BROKER_URL,
};

/**
 * The multi-process deployment (`orrery api|conductor|scheduler|compute`, README "Run it across
 * machines") on this machine: one API, one conductor, one scheduler and `computeProcesses`
 * compute processes, on a fresh PostgreSQL database and a fresh RabbitMQ vhost, in their
 * default configuration but for the fake nodes' capacity.
 */
export const multiProcess: Deployment = {
  name: 'multi-process',
  async unavailable() {
    if (!existsSync(builtEntry('orrery'))) return 'dist/src/cmd/orrery.js is missing: run `npm run build`';
    const pgProblem = await postgresProblem(SCALE_OUT_BACKENDS.postgres);
    if (pgProblem) return `PostgreSQL is not reachable at ${SCALE_OUT_BACKENDS.postgres} (set ORRERY_BENCH_PG_URL): ${pgProblem}`;
    if (!(await rabbitReachable(SCALE_OUT_BACKENDS.rabbit))) {
      const [broker] = parseRabbitUrl(SCALE_OUT_BACKENDS.rabbit);
      return `RabbitMQ is not reachable at ${broker!.hostname}:${broker!.port} (set ORRERY_BENCH_RABBIT_URL)`;
    }
    if (!(await rabbitmqctlWorks())) return 'rabbitmqctl cannot reach the broker (it makes a vhost per run)';
    return null;
  },
  async start(opts) {
    const computes = opts.computeProcesses ?? 1;
    const tag = randomBytes(4).toString('hex');
    const db = await createDatabase(SCALE_OUT_BACKENDS.postgres, `orrery_bench_${tag}`);
    const dropDb = (): Promise<void> => db.drop().catch(() => undefined);
    try {
      const d = await MultiProcess.launch({
        brokerUrl: SCALE_OUT_BACKENDS.rabbit, vhost: `orrery-bench-${tag}`, databaseUrl: db.url, conductors: 1, schedulers: 1,
        computes: Array.from({ length: computes }, (_, i) => ({ host: `compute${i + 1}` })),
        ini: [fakeIni(opts.capacity)], env: { ...cleanEnv(), ...opts.env }, nodeArgs: opts.nodeArgs, logToFiles: true, keepState: opts.keepState,
      });
      return {
        description: `multi-process (api, conductor, scheduler, ${computes} compute process${computes === 1 ? '' : 'es'}; fake driver; PostgreSQL; RabbitMQ)`,
        credentials: credentialsFromOpenrc(d.openrc),
        pids: d.pids(),
        stop: async () => {
          await d.stop();
          await dropDb();
        },
      };
    } catch (err) {
      await dropDb();
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
