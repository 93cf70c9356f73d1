import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';

// A test that needs ipmi_sim skips with its reason when it is missing, and fails instead under
// ORRERY_REQUIRE_BACKENDS=1 (CI), as test/support/backends.ts does for the root tests.
export function ipmiSimSkip(): string | false {
  const missing = ['ipmi_sim', 'ipmitool'].filter((cmd) => {
    try {
      execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return false;
  const why = `${missing.join(' and ')} not installed (apt-get install openipmi ipmitool)`;
  if (process.env.ORRERY_REQUIRE_BACKENDS === '1') throw new Error(`${why} (ORRERY_REQUIRE_BACKENDS=1)`);
  return why;
}

/** A UDP port on 127.0.0.1 that was free a moment ago (ipmi_sim cannot be told to use port 0). */
async function freeUdpPort(): Promise<number> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const { port } = sock.address() as AddressInfo;
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

// The machine behind the BMC is two files: ipmi_sim runs this as `chassis DIR get power boot`,
// `chassis DIR set power 0|1`, `set reset 1`, `set boot pxe|default`, `set shutdown 1`, and
// every command it ran is a line of DIR/log.
const CHASSIS = `#!/bin/sh
dir=$1; shift
echo "$*" >> "$dir/log"
case "$1" in
get) shift; for p in "$@"; do case $p in
  power) echo "power:$(cat "$dir/power" 2>/dev/null || echo 0)";;
  boot) echo "boot:$(cat "$dir/boot" 2>/dev/null || echo default)";; esac; done;;
set) shift; while [ $# -gt 1 ]; do case $1 in
  power) echo "$2" > "$dir/power";; boot) echo "$2" > "$dir/boot";;
  reset) echo 1 > "$dir/power";; shutdown) echo 0 > "$dir/power";; esac; shift 2; done;;
esac
`;

export const BMC_USER = 'admin';
export const BMC_PASSWORD = 'sim-password';
/** A user the BMC limits to the `user` privilege: it may read power but not change it. */
export const BMC_READONLY_USER = 'viewer';

/** One simulated BMC (OpenIPMI's ipmi_sim) on a free UDP port, with a file-backed chassis. */
export class SimBmc {
  private child: ChildProcess | null = null;
  private constructor(readonly dir: string, readonly port: number) {}

  static async start(): Promise<SimBmc> {
    const dir = mkdtempSync(join(tmpdir(), 'orrery-bmc-'));
    const bmc = new SimBmc(dir, await freeUdpPort());
    const chassis = join(dir, 'chassis');
    writeFileSync(chassis, CHASSIS);
    chmodSync(chassis, 0o755);
    mkdirSync(join(dir, 'state'));
    writeFileSync(join(dir, 'lan.conf'), [
      'name "orrery-test"',
      'set_working_mc 0x20',
      '  startlan 1',
      `    addr 127.0.0.1 ${bmc.port}`,
      '    priv_limit admin',
      ...['callback', 'user', 'operator', 'admin'].map((p) => `    allowed_auths_${p} none md2 md5 straight`),
      '    guid a123456789abcdefa123456789abcdef',
      '  endlan',
      `  chassis_control "${chassis} ${dir}"`,
      `user 2 true "${BMC_USER}" "${BMC_PASSWORD}" admin 10 none md2 md5 straight`,
      `user 3 true "${BMC_READONLY_USER}" "${BMC_PASSWORD}" user 10 none md2 md5 straight`,
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'cmds.emu'), [
      'mc_setbmc 0x20',
      'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr',
      'sel_enable 0x20 1000 0x0a',
      'mc_enable 0x20',
      '',
    ].join('\n'));
    await bmc.resume();
    return bmc;
  }

  get address(): string {
    return '127.0.0.1';
  }

  /** Starts ipmi_sim (again), and waits until it answers. */
  async resume(): Promise<void> {
    if (this.child) return;
    const child = spawn('ipmi_sim', ['-n', '-c', join(this.dir, 'lan.conf'), '-f', join(this.dir, 'cmds.emu'), '-s', join(this.dir, 'state')], { stdio: 'ignore' });
    this.child = child;
    child.once('exit', () => { if (this.child === child) this.child = null; });
    for (let i = 0; i < 50; i++) {
      try {
        execFileSync('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', '127.0.0.1', '-p', String(this.port), '-U', BMC_USER, '-E', '-R', '1', '-N', '1', 'chassis', 'power', 'status'],
          { stdio: 'ignore', env: { ...process.env, IPMI_PASSWORD: BMC_PASSWORD }, timeout: 5000 });
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`ipmi_sim on port ${this.port} did not answer`);
  }

  /** Kills ipmi_sim (by its PID): the BMC stops answering; the chassis files stay. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** The chassis commands ipmi_sim ran, in order (`set power 1`, `set boot pxe`, …). */
  log(): string[] {
    try {
      return readFileSync(join(this.dir, 'log'), 'utf8').split('\n').filter((l) => l && !l.startsWith('get '));
    } catch {
      return [];
    }
  }

  /** Whether the chassis is powered, as its file says. */
  powered(): boolean {
    try {
      return readFileSync(join(this.dir, 'power'), 'utf8').trim() === '1';
    } catch {
      return false;
    }
  }

  bootDevice(): string {
    try {
      return readFileSync(join(this.dir, 'boot'), 'utf8').trim();
    } catch {
      return 'default';
    }
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
