import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { settles } from '../../../harness/children.js';
import { freePort } from '../../../harness/ports.js';
import { sleep } from '../../../src/common/time.js';
import { backendSkip } from '../../support/backends.js';

/**
 * A real OpenStack Ironic (Debian 12's Zed packages, `ironic-api` + `ironic-conductor`) started
 * by a test: its own config and state directory, SQLite, JSON-RPC between API and conductor (no
 * broker), no Keystone (`auth_strategy = noauth`), only the `fake-hardware` type, free ports,
 * no systemd. Both run as our children in their own process groups and are stopped by PID.
 */

const BIN = '/usr/bin';
const COMMANDS = ['ironic-api', 'ironic-conductor', 'ironic-dbsync'] as const;

/** The newest microversion of Debian 12's Ironic (1:21.4.4, Zed); the tests send it. */
export const IRONIC_ZED_MAX_VERSION = '1.82';

/** `{ skip }` for tests that need a real Ironic: skips without the packages, fails under ORRERY_REQUIRE_BACKENDS=1. */
export function realIronicSkip(): string | false {
  const missing = COMMANDS.filter((c) => !existsSync(join(BIN, c)));
  return backendSkip(`a real Ironic (${missing.join(', ')}; apt-get install ironic-api ironic-conductor)`, missing.length === 0);
}

/** The ironic.conf the test's Ironic runs with; every path is under `dir`. */
export function ironicConfig(dir: string, apiPort: number, rpcPort: number): string {
  return `[DEFAULT]
auth_strategy = noauth
rpc_transport = json-rpc
host = 127.0.0.1
state_path = ${dir}/state
log_dir = ${dir}/log
use_stderr = false
debug = false
enabled_hardware_types = fake-hardware
enabled_bios_interfaces = fake,no-bios
enabled_boot_interfaces = fake
enabled_console_interfaces = fake,no-console
enabled_deploy_interfaces = fake
enabled_inspect_interfaces = fake,no-inspect
enabled_management_interfaces = fake
enabled_network_interfaces = noop
enabled_power_interfaces = fake
enabled_raid_interfaces = fake,no-raid
enabled_rescue_interfaces = fake,no-rescue
enabled_storage_interfaces = noop
enabled_vendor_interfaces = fake,no-vendor
default_network_interface = noop

[api]
host_ip = 127.0.0.1
port = ${apiPort}
api_workers = 1

[json_rpc]
auth_strategy = noauth
host_ip = 127.0.0.1
port = ${rpcPort}

[database]
connection = sqlite:///${dir}/ironic.sqlite

[conductor]
automated_clean = false
heartbeat_interval = 2
sync_power_state_interval = 10
check_provision_state_interval = 5

[dhcp]
dhcp_provider = none

[nova]
send_power_notifications = false

[oslo_concurrency]
lock_path = ${dir}/lock
`;
}

/** The environment for Debian's Python: no pyenv or virtualenv variables leak into it. */
function pythonEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(PYTHON|PYENV|VIRTUAL_ENV|OS_)/.test(k)) env[k] = v;
  env.PATH = `/usr/sbin:/usr/bin:/sbin:/bin`;
  return env;
}

export interface IronicResponse {
  status: number;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- a test's view of any Ironic document
  headers: Headers;
}

/** The node fields the tests read (Ironic returns many more). */
export interface IronicNode {
  uuid: string;
  name: string | null;
  provision_state: string;
  target_provision_state: string | null;
  power_state: string | null;
  target_power_state: string | null;
  last_error: string | null;
  instance_uuid: string | null;
  instance_info: Record<string, unknown>;
  resource_class: string | null;
}

const live = new Set<RealIronic>();
process.on('exit', () => {
  for (const ironic of live) ironic.killNow();
});

export class RealIronic {
  private readonly children: ChildProcess[] = [];
  /** Seconds from launch until the API answered and listed the conductor's fake-hardware driver. */
  startSeconds = 0;

  private constructor(
    readonly dir: string,
    readonly apiPort: number,
    readonly rpcPort: number,
  ) {}

  /** The API's root, e.g. http://127.0.0.1:PORT (the endpoint for `[ironic] endpoint_override`). */
  get url(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  get configFile(): string {
    return join(this.dir, 'ironic.conf');
  }

  /** PIDs of ironic-api and ironic-conductor (each the leader of its own process group). */
  get pids(): number[] {
    return this.children.map((c) => c.pid!).filter(Boolean);
  }

  /** Creates the schema, starts the conductor and the API, and resolves once the API serves `fake-hardware`. */
  static async launch(): Promise<RealIronic> {
    const t0 = Date.now();
    const dir = mkdtempSync(join(tmpdir(), 'orrery-ironic-'));
    const apiPort = await freePort();
    let rpcPort = await freePort();
    while (rpcPort === apiPort) rpcPort = await freePort();
    const ironic = new RealIronic(dir, apiPort, rpcPort);
    for (const sub of ['state', 'log', 'lock']) mkdirSync(join(dir, sub));
    writeFileSync(ironic.configFile, ironicConfig(dir, apiPort, rpcPort));
    live.add(ironic);
    try {
      await promisify(execFile)(join(BIN, 'ironic-dbsync'), ['--config-file', ironic.configFile, 'create_schema'], {
        env: pythonEnv(),
        timeout: 120_000,
      });
      ironic.spawn('ironic-conductor');
      ironic.spawn('ironic-api');
      await ironic.waitReady(t0 + 180_000);
    } catch (err) {
      await ironic.dispose();
      throw err;
    }
    ironic.startSeconds = (Date.now() - t0) / 1000;
    return ironic;
  }

  private spawn(cmd: string): void {
    const out = openSync(join(this.dir, 'log', `${cmd}.out`), 'a');
    const child = spawn(join(BIN, cmd), ['--config-file', this.configFile], {
      cwd: this.dir,
      env: pythonEnv(),
      stdio: ['ignore', out, out],
      detached: true, // its own process group: the API's forked worker goes with it on stop
    });
    closeSync(out);
    this.children.push(child);
  }

  private async waitReady(deadline: number): Promise<void> {
    for (;;) {
      for (const child of this.children) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`${child.spawnfile} exited (${child.exitCode ?? child.signalCode}) while starting:\n${this.logTail()}`);
        }
      }
      try {
        const res = await fetch(`${this.url}/v1/drivers`, { headers: { 'X-OpenStack-Ironic-API-Version': '1.31' }, signal: AbortSignal.timeout(5000) });
        if (res.ok) {
          const body = (await res.json()) as { drivers: Array<{ name: string; hosts: string[] }> };
          if (body.drivers.some((d) => d.name === 'fake-hardware' && d.hosts.length > 0)) return;
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`Ironic did not come up:\n${this.logTail()}`);
      await sleep(500);
    }
  }

  /** One call to its API at `version` (Zed's newest by default); the body is parsed JSON or null. */
  async request(method: string, path: string, body?: unknown, version = IRONIC_ZED_MAX_VERSION): Promise<IronicResponse> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-OpenStack-Ironic-API-Version': version },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers };
  }

  /** Polls the node until it rests in `state` (no target); throws on a failed state or after `ms`. */
  async waitForProvisionState(uuid: string, state: string, ms = 120_000): Promise<IronicNode> {
    const deadline = Date.now() + ms;
    for (;;) {
      const { status, json } = await this.request('GET', `/v1/nodes/${uuid}`);
      if (status !== 200) throw new Error(`GET node ${uuid}: ${status} ${JSON.stringify(json)}`);
      const node = json as IronicNode;
      if (node.provision_state === state && !node.target_provision_state) return node;
      if (node.provision_state !== state && /failed|error/.test(node.provision_state)) {
        throw new Error(`node ${uuid} went to ${node.provision_state}: ${node.last_error}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`node ${uuid} stayed ${node.provision_state} (target ${node.target_provision_state}), wanted ${state}\n${this.logTail()}`);
      }
      await sleep(250);
    }
  }

  /** PUT states/provision (must be 202), then waits for `want`. */
  async provision(uuid: string, target: string, want: string): Promise<IronicNode> {
    const res = await this.request('PUT', `/v1/nodes/${uuid}/states/provision`, { target });
    if (res.status !== 202) throw new Error(`provision ${target} on ${uuid}: ${res.status} ${JSON.stringify(res.json)}`);
    return this.waitForProvisionState(uuid, want);
  }

  /** Enrolls a fake-hardware node and takes it through manage and provide to `available` (about 1 s). */
  async availableNode(name: string, resourceClass = 'baremetal', properties: Record<string, unknown> = { cpus: 2, memory_mb: 2048, local_gb: 10 }): Promise<IronicNode> {
    const created = await this.request('POST', '/v1/nodes', { name, driver: 'fake-hardware', resource_class: resourceClass, properties });
    if (created.status !== 201) throw new Error(`create node ${name}: ${created.status} ${JSON.stringify(created.json)}`);
    const uuid = (created.json as IronicNode).uuid;
    await this.provision(uuid, 'manage', 'manageable');
    return this.provision(uuid, 'provide', 'available');
  }

  /** The last lines of each log, for a failure message. */
  logTail(lines = 30): string {
    const parts: string[] = [];
    for (const name of ['ironic-conductor.out', 'ironic-api.out', 'ironic-conductor.log', 'ironic-api.log']) {
      const path = join(this.dir, 'log', name);
      if (!existsSync(path)) continue;
      parts.push(`--- ${name}\n${readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n')}`);
    }
    return parts.join('\n') || '(no log)';
  }

  /** SIGTERM to each process group by PID, SIGKILL after 15 s; resolves once both are gone. */
  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        signalGroup(child, 'SIGTERM');
        if (!(await settles(exited, 15_000))) {
          signalGroup(child, 'SIGKILL');
          await exited;
        }
        signalGroup(child, 'SIGKILL'); // a worker the leader left behind
      }),
    );
    this.children.length = 0;
    live.delete(this);
  }

  /** Last resort (also on process exit). */
  killNow(): void {
    for (const child of this.children) signalGroup(child, 'SIGKILL');
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function signalGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (!child.pid) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    // already gone
  }
}
