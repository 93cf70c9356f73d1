import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import type { IniData } from '../../src/common/config.js';
import { repoRoot } from './cloud-process.js';
import { freePort } from './rabbitmq.js';
import type { RunningCloud } from '../../src/cmd/cloud.js';

const exec = promisify(execFile);

/** One service of a multi-process deployment: an OS process running `orrery <service>`. */
export class ServiceProcess {
  child: ChildProcess | null = null;
  private out = '';

  /** `entry` is the orrery.js it runs; an upgrade test swaps it for the current release's. */
  constructor(readonly name: string, readonly args: string[], readonly env: NodeJS.ProcessEnv, public entry: string) {}

  /** Everything the process printed (its JSON log lines and its ready line). */
  output(): string {
    return this.out;
  }

  /** Starts it and waits for its ready line. */
  async start(): Promise<void> {
    this.out = '';
    const child = spawn(process.execPath, [this.entry, ...this.args], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not start in 60 s:\n${this.out}`)), 60_000);
      const check = (): void => {
        if (/ is running/.test(this.out)) {
          clearTimeout(timer);
          child.stdout!.off('data', check);
          resolve();
        }
      };
      child.stdout!.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited with ${code}:\n${this.out}`));
      });
    });
  }

  signal(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }

  /** Stops it (SIGTERM, then SIGKILL after 10 s) and waits until it is gone. */
  async stop(sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    this.child = null;
  }
}

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

function iniText(data: IniData): string {
  return Object.entries(data).map(([s, opts]) => `[${s}]\n${Object.entries(opts).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`).join('\n');
}

/**
 * The multi-process deployment: api, conductors, schedulers and computes as separate OS
 * processes from built JavaScript, on PostgreSQL and RabbitMQ (a vhost of its own).
 */
export class Deployment {
  readonly services = new Map<string, ServiceProcess>();
  urls!: Pick<RunningCloud['urls'], 'identity' | 'compute' | 'image' | 'placement'>;
  openrc: Record<string, string> = {};

  private constructor(readonly stateDir: string, readonly configPath: string, readonly vhost: string, readonly transportUrl: string) {}

  static async start(opts: DeploymentOptions): Promise<Deployment> {
    const stateDir = mkdtempSync(join(tmpdir(), 'orrery-deploy-'));
    const vhost = opts.defaultVhost ? '' : `orrery-t-${randomBytes(4).toString('hex')}`;
    if (vhost) {
      await exec('rabbitmqctl', ['add_vhost', vhost]);
      await exec('rabbitmqctl', ['set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
    }
    const broker = new URL(opts.brokerUrl.replace(/^rabbit:/, 'http:'));
    if (opts.viaPort) broker.port = String(opts.viaPort);
    const transportUrl = `rabbit://${broker.username || 'guest'}:${broker.password || 'guest'}@${broker.hostname}:${broker.port || 5672}/${vhost}`;
    const ports = { identity: await freePort(), image: await freePort(), compute: await freePort(), placement: await freePort() };
    const ini: IniData = {
      DEFAULT: {
        state_path: stateDir, transport_url: transportUrl, report_interval: '1', service_down_time: '6',
        rpc_response_timeout: '20', sync_power_state_interval: '600',
      },
      database: { connection: opts.databaseUrl },
      api: { identity_port: String(ports.identity), image_port: String(ports.image), compute_port: String(ports.compute), placement_port: String(ports.placement) },
      identity: { password_hash_cost: '1024', password_hash_rounds: '1000' },
      service_user: { auth_url: `http://127.0.0.1:${ports.identity}/v3` },
    };
    for (const [section, values] of Object.entries(opts.ini ?? {})) ini[section] = { ...(ini[section] ?? {}), ...values };
    const configPath = join(stateDir, 'orrery.conf');
    writeFileSync(configPath, iniText(ini));
    // Compute hosts get no database credentials at all: everything goes through the conductor.
    const computeConfigPath = join(stateDir, 'compute.conf');
    const { database: _omitted, ...computeIni } = ini;
    writeFileSync(computeConfigPath, iniText(computeIni));
    const d = new Deployment(stateDir, configPath, vhost, transportUrl);
    const current = join(repoRoot, 'dist/src/cmd/orrery.js');
    const add = (name: string, args: string[], env: Record<string, string> = {}, entry = current): ServiceProcess => {
      const p = new ServiceProcess(name, ['--config', args[0] === 'compute' ? computeConfigPath : configPath, ...args], {
        ...process.env, ORRERY_LOG_LEVEL: process.env.ORRERY_LOG_LEVEL ?? 'info', ...env,
      }, entry);
      d.services.set(name, p);
      return p;
    };
    try {
      // As an operator does: the schema first (the services never migrate it themselves).
      await exec(process.execPath, [current, '--config', configPath, 'db', 'sync']);
      await add('api', ['api']).start();
      const starting: Array<Promise<void>> = [];
      // Conductors and schedulers first: computes report to the conductor as they start.
      for (let i = 1; i <= opts.conductors; i++) starting.push(add(`conductor${i}`, ['conductor', '--host', `conductor${i}`]).start());
      // Schedulers log each decision at debug level: tests count them.
      for (let i = 1; i <= opts.schedulers; i++) {
        starting.push(add(`scheduler${i}`, ['scheduler', '--host', `scheduler${i}`], { ORRERY_LOG_LEVEL: 'debug' }).start());
      }
      await Promise.all(starting);
      await Promise.all(opts.computes.map((c) => add(c.host, ['compute', '--host', c.host], c.env, opts.computeEntry).start()));
    } catch (err) {
      await d.stop();
      throw err;
    }
    const base = (port: number): string => `http://127.0.0.1:${port}`;
    d.urls = { identity: base(ports.identity), image: base(ports.image), compute: base(ports.compute), placement: base(ports.placement) };
    for (const m of readFileSync(join(stateDir, 'openrc'), 'utf8').matchAll(/^export (\w+)=(.*)$/gm)) d.openrc[m[1]!] = m[2]!;
    return d;
  }

  service(name: string): ServiceProcess {
    const s = this.services.get(name);
    if (!s) throw new Error(`no service ${name}`);
    return s;
  }

  /** Stops every process, then removes the vhost and the state. */
  async stop(): Promise<void> {
    await Promise.all([...this.services.values()].map((s) => s.stop()));
    if (this.vhost) await exec('rabbitmqctl', ['delete_vhost', this.vhost]).catch(() => undefined);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
