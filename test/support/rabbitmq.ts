import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { settles } from '../../harness/children.js';
import { freePort } from '../../harness/ports.js';
import { amqpConnect, DEFAULT_BROKER_URL, rabbitReachable } from '../../harness/rabbitmq.js';
import { backendSkip, commandExists } from './backends.js';
import { sleep } from '../../src/common/time.js';
import { redactTransportUrl } from '../../src/rpc/transport.js';

/** The shared broker of this machine and of CI. */
export const RABBIT_URL = process.env.ORRERY_TEST_RABBIT_URL ?? DEFAULT_BROKER_URL;

/** `{ skip }` for tests that need the shared broker: skips without one, fails under ORRERY_REQUIRE_BACKENDS=1. */
export async function rabbitSkip(url = RABBIT_URL): Promise<string | false> {
  return backendSkip(`RabbitMQ at ${redactTransportUrl(url)}`, await rabbitReachable(url));
}

/** Deletes what a test declared on a broker (queues first, then exchanges); missing ones are fine. */
export async function deleteBrokerObjects(url: string, objects: { queues?: string[]; exchanges?: string[] }): Promise<void> {
  const conn = await amqpConnect(url);
  try {
    const ch = await conn.createChannel();
    for (const q of objects.queues ?? []) await ch.deleteQueue(q);
    for (const x of objects.exchanges ?? []) await ch.deleteExchange(x);
    await ch.close();
  } finally {
    await conn.close();
  }
}

/** The directory of RabbitMQ's real scripts (Debian wraps them in /usr/sbin with `su rabbitmq`). */
function rabbitScriptsDir(): string | null {
  if (process.env.ORRERY_RABBITMQ_SCRIPTS) return process.env.ORRERY_RABBITMQ_SCRIPTS;
  if (existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server')) return '/usr/lib/rabbitmq/bin';
  if (!commandExists('rabbitmq-server')) return null;
  const found = execFileSync('sh', ['-c', 'command -v rabbitmq-server'], { encoding: 'utf8' }).trim();
  return dirname(realpathSync(found));
}

/** `{ skip }` for tests that start their own broker: they need RabbitMQ's server scripts here. */
export function privateBrokerSkip(): string | false {
  return backendSkip('rabbitmq-server (to start a private broker)', rabbitScriptsDir() !== null);
}

const liveBrokers = new Set<PrivateBroker>();
process.on('exit', () => {
  for (const broker of liveBrokers) broker.killNow();
});

/**
 * A broker of the test's own, never the shared one: its own node name, ports, data, logs,
 * config and Erlang cookie in a temp dir, no plugins. Runs in the foreground as our child, so
 * `stop()` (rabbitmqctl stop, or signals by PID if that fails) and `start()` can restart it.
 */
export class PrivateBroker {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly nodeName: string,
    readonly port: number,
    readonly distPort: number,
    private readonly scripts: string,
  ) {}

  get url(): string {
    return `rabbit://guest:guest@127.0.0.1:${this.port}/`;
  }

  static async launch(): Promise<PrivateBroker> {
    const scripts = rabbitScriptsDir();
    if (!scripts) throw new Error('rabbitmq-server is not installed');
    const dir = mkdtempSync(join(tmpdir(), 'orrery-rabbit-'));
    const port = await freePort();
    let distPort = await freePort();
    while (distPort === port) distPort = await freePort();
    const broker = new PrivateBroker(dir, `orrery-test-${randomBytes(4).toString('hex')}@localhost`, port, distPort, scripts);
    writeFileSync(join(dir, 'rabbitmq.conf'), `listeners.tcp.default = 127.0.0.1:${port}\n`);
    writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
    writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
    writeFileSync(join(dir, '.erlang.cookie'), randomBytes(20).toString('hex').toUpperCase(), { mode: 0o400 });
    await broker.start();
    return broker;
  }

  private env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(RABBITMQ_|ERL_)/.test(k)) env[k] = v;
    return {
      ...env,
      HOME: this.dir, // the private Erlang cookie
      RABBITMQ_NODENAME: this.nodeName,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_MNESIA_BASE: join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(this.dir, 'log'),
      RABBITMQ_CONFIG_FILE: join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, 'enabled_plugins'),
      RABBITMQ_CONF_ENV_FILE: join(this.dir, 'rabbitmq-env.conf'),
      RABBITMQ_PID_FILE: join(this.dir, 'rabbitmq.pid'),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
      ERL_EPMD_ADDRESS: '127.0.0.1',
    };
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Starts the node and resolves once it accepts AMQP connections. */
  async start(): Promise<void> {
    if (this.child) return;
    const out = openSync(join(this.dir, 'server.log'), 'a');
    const child = spawn(join(this.scripts, 'rabbitmq-server'), [], { cwd: this.dir, env: this.env(), stdio: ['ignore', out, out] });
    closeSync(out);
    this.child = child;
    liveBrokers.add(this);
    let exitCode: number | null | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code) => {
        exitCode = code;
        if (this.child === child) this.child = null;
        liveBrokers.delete(this);
        resolve();
      });
    });
    const giveUpAt = Date.now() + 60_000;
    while (!(await rabbitReachable(this.url))) {
      if (exitCode !== undefined) throw new Error(`private broker exited (${exitCode}) while starting:\n${this.logTail()}`);
      if (Date.now() > giveUpAt) throw new Error(`private broker did not start within 60 s:\n${this.logTail()}`);
      await sleep(200);
    }
  }

  /** Stops the node gracefully (rabbitmqctl stop), by signals if that does not work. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const ctl = new Promise<void>((resolve) => {
      execFile(join(this.scripts, 'rabbitmqctl'), ['-n', this.nodeName, 'stop'], { env: this.env(), timeout: 30_000 }, () => resolve());
    });
    await ctl;
    if (await settles(this.exited, 15_000)) return;
    child.kill('SIGTERM');
    if (await settles(this.exited, 10_000)) return;
    this.killNow();
    await this.exited;
  }

  /** Last resort (also on process exit): SIGKILL the Erlang VM and its wrapper. */
  killNow(): void {
    for (const pid of [this.beamPid(), this.child?.pid]) {
      if (!pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  private beamPid(): number | null {
    try {
      return Number(readFileSync(join(this.dir, 'rabbitmq.pid'), 'utf8').trim()) || null;
    } catch {
      return null;
    }
  }

  private logTail(): string {
    try {
      return readFileSync(join(this.dir, 'server.log'), 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
