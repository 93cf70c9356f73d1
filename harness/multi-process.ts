import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { formatIni, type IniData } from '../src/common/config.js';
import { NodeProcess } from './children.js';
import { readOpenrc } from './openrc.js';
import { freePort } from './ports.js';
import { addVhost, deleteVhost, transportUrl } from './rabbitmq.js';
import { builtEntry } from './repo.js';

const exec = promisify(execFile);

export interface MultiProcessOptions {
  /** The broker, without a vhost. */
  brokerUrl: string;
  /** A vhost made on it for this deployment and deleted with it; '' for the broker's default vhost. */
  vhost: string;
  /** Broker port to put in the services' transport URL instead of the broker's own (a proxy). */
  viaPort?: number;
  /** An existing (empty) database. */
  databaseUrl: string;
  conductors: number;
  schedulers: number;
  computes: Array<{ host: string; env?: Record<string, string> }>;
  /** The entry point of the compute services (an older release's, for upgrade tests). */
  computeEntry?: string;
  /** Layers of options over the deployment's own (state path, broker, database, ports), later ones winning. */
  ini?: IniData[];
  /** The services' environment (and `db sync`'s). */
  env: NodeJS.ProcessEnv;
  /** More environment for the schedulers. */
  schedulerEnv?: Record<string, string>;
  nodeArgs?: string[];
  /** Each service's output to <name>.log in the state directory rather than to memory. */
  logToFiles?: boolean;
  /** Keep the state directory when it stops. */
  keepState?: boolean;
}

type Urls = Record<'identity' | 'image' | 'compute' | 'placement' | 'network', string>;

/**
 * The multi-process deployment (README "Run it across machines") on this machine: `orrery api`,
 * conductors, schedulers and computes as separate processes from built JavaScript, on
 * PostgreSQL and RabbitMQ; compute hosts get a config without database credentials.
 */
export class MultiProcess {
  readonly services = new Map<string, NodeProcess>();
  openrc: Record<string, string> = {};

  private constructor(
    private readonly opts: MultiProcessOptions,
    readonly stateDir: string,
    readonly configPath: string,
    readonly transportUrl: string,
    readonly urls: Urls,
  ) {}

  get vhost(): string {
    return this.opts.vhost;
  }

  static async launch(opts: MultiProcessOptions): Promise<MultiProcess> {
    const stateDir = mkdtempSync(join(tmpdir(), 'orrery-mp-'));
    const ports = { identity: await freePort(), image: await freePort(), compute: await freePort(), placement: await freePort(), network: await freePort() };
    const url = transportUrl(opts.brokerUrl, opts.vhost, opts.viaPort);
    const ini: IniData = {
      DEFAULT: { state_path: stateDir, transport_url: url },
      database: { connection: opts.databaseUrl },
      api: {
        identity_port: String(ports.identity), image_port: String(ports.image), compute_port: String(ports.compute), placement_port: String(ports.placement),
        network_port: String(ports.network),
      },
      service_user: { auth_url: `http://127.0.0.1:${ports.identity}/v3` },
      // Each service's Prometheus listener on a port of its own (metricsUrl reads it back).
      metrics: { port: '0' },
    };
    // The metadata API is reached by the agents' forwarders, not the tests: any free port.
    ini.api!.metadata_port = '0';
    ini.api!.dashboard_port = '0';
    ini.api!.baremetal_port = '0';
    ini.vnc = { novncproxy_port: '0' };
    ini.serial_console = { serialproxy_port: '0' };
    for (const layer of opts.ini ?? []) for (const [section, values] of Object.entries(layer)) ini[section] = { ...(ini[section] ?? {}), ...values };
    const configPath = join(stateDir, 'orrery.conf');
    writeFileSync(configPath, formatIni(ini));
    const computeConfigPath = join(stateDir, 'compute.conf');
    const { database: _omitted, ...computeIni } = ini;
    writeFileSync(computeConfigPath, formatIni(computeIni));
    const base = (port: number): string => `http://127.0.0.1:${port}`;
    const urls = { identity: base(ports.identity), image: base(ports.image), compute: base(ports.compute), placement: base(ports.placement), network: base(ports.network) };
    const d = new MultiProcess(opts, stateDir, configPath, url, urls);
    const current = builtEntry('orrery');
    const start = (name: string, args: string[], env: Record<string, string> = {}, entry = current): Promise<unknown> => {
      const config = args[0] === 'compute' ? computeConfigPath : configPath;
      const p = new NodeProcess(name, entry, ['--config', config, ...args], { ...opts.env, ...env }, {
        ready: / is running/, nodeArgs: opts.nodeArgs, cwd: stateDir, logPath: opts.logToFiles ? join(stateDir, `${name}.log`) : undefined,
      });
      d.services.set(name, p);
      return p.start();
    };
    try {
      if (opts.vhost) await addVhost(opts.brokerUrl, opts.vhost);
      // As an operator does: the schema first (the services never migrate it themselves).
      await exec(process.execPath, [current, '--config', configPath, 'db', 'sync'], { env: opts.env });
      await start('api', ['api']);
      // Computes report to the conductor as they start: conductors and schedulers come first.
      await Promise.all([
        ...Array.from({ length: opts.conductors }, (_, i) => start(`conductor${i + 1}`, ['conductor', '--host', `conductor${i + 1}`])),
        ...Array.from({ length: opts.schedulers }, (_, i) => start(`scheduler${i + 1}`, ['scheduler', '--host', `scheduler${i + 1}`], opts.schedulerEnv)),
      ]);
      await Promise.all(opts.computes.map((c) => start(c.host, ['compute', '--host', c.host], c.env, opts.computeEntry)));
      d.openrc = readOpenrc(join(stateDir, 'openrc'));
    } catch (err) {
      await d.stop();
      throw err;
    }
    return d;
  }

  service(name: string): NodeProcess {
    const s = this.services.get(name);
    if (!s) throw new Error(`no service ${name}`);
    return s;
  }

  /**
   * The URL of a service's Prometheus listener, as its "is running" line says: every service
   * listens on an ephemeral port (`[metrics] port = 0`, the default), so none collide.
   */
  metricsUrl(name: string): string {
    const m = /; metrics (http:\/\/\S+\/metrics)/.exec(this.service(name).output());
    if (!m) throw new Error(`${name} printed no metrics URL`);
    return m[1]!;
  }

  /** The processes' ids. */
  pids(): number[] {
    return [...this.services.values()].flatMap((s) => (s.child?.pid ? [s.child.pid] : []));
  }

  /** Stops every process, then deletes the vhost and the state (unless kept). */
  async stop(): Promise<void> {
    await Promise.all([...this.services.values()].map((s) => s.stop()));
    if (this.opts.vhost) await deleteVhost(this.opts.vhost);
    if (!this.opts.keepState) rmSync(this.stateDir, { recursive: true, force: true });
  }
}
