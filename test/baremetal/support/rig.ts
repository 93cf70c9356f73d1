import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../../harness/repo.js';
import { backendSkip, commandExists } from '../../support/backends.js';
import { waitFor } from '../../support/cloud.js';

/**
 * The bare-metal test rig: N "machines", each a TCG QEMU guest behind its own OpenIPMI `ipmi_sim`
 * BMC on a UDP port of 127.0.0.1. The BMC's chassis_control program (chassis-control.mjs) starts,
 * stops and resets the guest and keeps its boot device; with boot device `pxe` the guest
 * network-boots through QEMU's user-mode network: its DHCP hands iPXE (the NIC's option ROM) the
 * bootfile `boot.ipxe` from QEMU's built-in TFTP, a two-line script that chains `bootUrl`, an
 * HTTP URL the host serves (10.0.2.2 is the host's 127.0.0.1 as the guest sees it).
 */

/** Where user-mode guests reach the host's loopback. */
export const HOST_FROM_GUEST = '10.0.2.2';
export const IPMI_USERNAME = 'admin';
export const IPMI_PASSWORD = 'orrery-bmc-pw';

export interface RigOptions {
  /** How many machines (each one QEMU guest and one ipmi_sim when powered on). */
  machines: number;
  /**
   * What each machine's TFTP boot.ipxe chains: an http:// URL as the guest reaches it (use
   * HOST_FROM_GUEST), which may use iPXE settings such as `${mac:hexhyp}` (52-54-…) so one
   * server tells the machines apart — not `${mac}`, whose colons iPXE sends percent-encoded
   * (`52%3A54…`). A function gets the machine to build its own URL.
   */
  bootUrl: string | ((m: { index: number; mac: string }) => string);
  /** Guest memory (default 256 MiB: the test kernel and busybox initramfs need about 100). */
  memoryMb?: number;
}

export interface RigMachine {
  index: number;
  /** The machine's name (`bm-0`, …). */
  name: string;
  /** Its NIC's MAC (lower case), a port of the node. */
  mac: string;
  /** The BMC: ipmi_sim's UDP port on 127.0.0.1. */
  ipmiPort: number;
  /** The node's driver_info for driver `ipmi`. */
  driverInfo: { ipmi_address: string; ipmi_port: number; ipmi_username: string; ipmi_password: string };
  /** The directory holding its BMC config, TFTP root, disk, console and BMC logs. */
  dir: string;
  /** Path of the guest's serial console (ttyS0), appended to across boots. */
  consoleLog: string;
  /** Path of the BMC log: one line per chassis command, "<ISO time> set power 1". */
  bmcLog: string;
  /** Everything the console printed so far. */
  console(): string;
  /** The chassis commands the BMC received so far, in order ("get power", "set power 1", "set boot pxe", …). */
  bmcCommands(): string[];
  /** The running guest's QEMU PID, or undefined when the machine is off. */
  guestPid(): number | undefined;
  /** Waits until the console, past `fromOffset` characters, contains `text`; returns the offset after it. */
  waitForConsole(text: string, timeoutMs?: number, fromOffset?: number): Promise<number>;
  /** Waits until the guest is off (QEMU exited). */
  waitForPowerOff(timeoutMs?: number): Promise<void>;
}

export interface Rig {
  machines: RigMachine[];
  dir: string;
  /** Kills every guest and BMC by PID and removes every file of the rig. */
  stop(): Promise<void>;
}

const QEMU = 'qemu-system-x86_64';

/** The skip reason when the rig's back-ends are missing (see backendSkip). */
export function rigSkip(): string | false {
  const missing = [QEMU, 'ipmi_sim', 'ipmitool'].filter((c) => !commandExists(c));
  return backendSkip(`the bare-metal rig (${missing.join(', ')})`, missing.length === 0);
}

/** A UDP port on 127.0.0.1 that was free a moment ago (ipmi_sim cannot be told to use port 0). */
async function freeUdpPort(): Promise<number> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', resolve);
  });
  const { port } = sock.address();
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

function lanConf(name: string, port: number, control: string): string {
  const auths = 'none md2 md5 straight';
  return [
    `name "${name}"`,
    'set_working_mc 0x20',
    '  startlan 1',
    `    addr 127.0.0.1 ${port}`,
    '    priv_limit admin',
    ...['callback', 'user', 'operator', 'admin'].map((p) => `    allowed_auths_${p} ${auths}`),
    '    guid a123456789abcdefa123456789abcdef',
    '  endlan',
    `  chassis_control "${control}"`,
    `  user 2 true "${IPMI_USERNAME}" "${IPMI_PASSWORD}" admin 10 ${auths}`,
    '',
  ].join('\n');
}

const EMU = ['mc_setbmc 0x20', 'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr', 'sel_enable 0x20 1000 0x0a', 'mc_enable 0x20', ''].join('\n');

function readOr(path: string, fallback = ''): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/** Waits until ipmi_sim has bound its UDP port (a bind on it then fails). */
async function waitUdpBound(port: number, sim: ChildProcess): Promise<void> {
  await waitFor(`ipmi_sim on udp ${port}`, async () => {
    if (sim.exitCode !== null) throw new Error(`ipmi_sim exited with ${sim.exitCode}`);
    const sock = createSocket('udp4');
    const bound = await new Promise<boolean>((resolve) => {
      sock.once('error', () => resolve(true));
      sock.bind(port, '127.0.0.1', () => resolve(false));
    });
    await new Promise<void>((resolve) => sock.close(() => resolve()));
    return bound || undefined;
  }, 10_000);
}

export async function startRig(opts: RigOptions): Promise<Rig> {
  if (!Number.isInteger(opts.machines) || opts.machines < 1 || opts.machines > 8) throw new Error('a rig has 1 to 8 machines');
  const root = mkdtempSync(join(tmpdir(), 'orrery-bmrig-'));
  const control = join(repoRoot(), 'test/baremetal/support/chassis-control.mjs');
  const sims: ChildProcess[] = [];
  const machines: RigMachine[] = [];
  const rig: Rig = {
    machines,
    dir: root,
    async stop() {
      for (const m of machines) {
        const pid = m.guestPid();
        if (pid) process.kill(pid, 'SIGKILL');
      }
      await Promise.all(sims.map((sim) => new Promise<void>((resolve) => {
        if (sim.exitCode !== null || sim.signalCode !== null) return resolve();
        sim.once('exit', () => resolve());
        sim.kill('SIGKILL');
      })));
      // A guest started by a chassis command in flight when its BMC died.
      for (const m of machines) {
        const pid = m.guestPid();
        if (pid) process.kill(pid, 'SIGKILL');
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    for (let index = 0; index < opts.machines; index++) {
      const dir = join(root, `m${index}`);
      mkdirSync(join(dir, 'tftp'), { recursive: true });
      mkdirSync(join(dir, 'state'));
      // Locally administered, unique per rig: the rig directory's random suffix plus the index.
      const suffix = Buffer.from(root.slice(-6)).toString('hex').slice(-4).padStart(4, '0');
      const mac = `52:54:${suffix.slice(0, 2)}:${suffix.slice(2, 4)}:b3:${index.toString(16).padStart(2, '0')}`;
      const tag = `orrery-bmrig-${root.slice(-6)}-m${index}`;
      const url = typeof opts.bootUrl === 'function' ? opts.bootUrl({ index, mac }) : opts.bootUrl;
      writeFileSync(join(dir, 'tftp/boot.ipxe'), `#!ipxe\nchain ${url}\n`);
      // An empty disk: a guest that boots from disk finds nothing there (so a console marker proves a netboot).
      closeSync(openSync(join(dir, 'disk.raw'), 'w'));
      truncateSync(join(dir, 'disk.raw'), 1 << 20);
      writeFileSync(join(dir, 'console.log'), '');
      writeFileSync(join(dir, 'bmc.log'), '');
      writeFileSync(join(dir, 'machine.json'), JSON.stringify({ tag, mac, qemu: QEMU, memoryMb: opts.memoryMb ?? 256 }));
      const port = await freeUdpPort();
      writeFileSync(join(dir, 'lan.conf'), lanConf(`bm-${index}`, port, `${process.execPath} ${control} ${dir}`));
      writeFileSync(join(dir, 'cmds.emu'), EMU);
      const out = openSync(join(dir, 'ipmi_sim.log'), 'w');
      const sim = spawn('ipmi_sim', ['-n', '-c', join(dir, 'lan.conf'), '-f', join(dir, 'cmds.emu'), '-s', join(dir, 'state')], {
        stdio: ['ignore', out, out],
      });
      closeSync(out);
      sims.push(sim);
      await waitUdpBound(port, sim);
      const consoleLog = join(dir, 'console.log');
      const bmcLog = join(dir, 'bmc.log');
      const guestPid = (): number | undefined => {
        const pid = Number(readOr(join(dir, 'qemu.pid')).trim());
        if (!Number.isInteger(pid) || pid <= 0) return undefined;
        return readOr(`/proc/${pid}/cmdline`).includes(tag) ? pid : undefined;
      };
      const machine: RigMachine = {
        index,
        name: `bm-${index}`,
        mac,
        ipmiPort: port,
        driverInfo: { ipmi_address: '127.0.0.1', ipmi_port: port, ipmi_username: IPMI_USERNAME, ipmi_password: IPMI_PASSWORD },
        dir,
        consoleLog,
        bmcLog,
        console: () => readOr(consoleLog),
        bmcCommands: () => readOr(bmcLog).split('\n').filter(Boolean).map((l) => l.slice(l.indexOf(' ') + 1)),
        guestPid,
        async waitForConsole(text, timeoutMs = 120_000, fromOffset = 0) {
          return waitFor(`"${text}" on ${machine.name}'s console`, async () => {
            const at = readOr(consoleLog).indexOf(text, fromOffset);
            return at >= 0 ? at + text.length : undefined;
          }, timeoutMs);
        },
        async waitForPowerOff(timeoutMs = 60_000) {
          await waitFor(`${machine.name} powered off`, async () => (guestPid() === undefined ? true : undefined), timeoutMs);
        },
      };
      machines.push(machine);
    }
  } catch (err) {
    await rig.stop();
    throw err;
  }
  return rig;
}
