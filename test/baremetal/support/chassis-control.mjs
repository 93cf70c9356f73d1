#!/usr/bin/env node
// The chassis of one test "machine": ipmi_sim runs this program for every chassis command its
// BMC receives (lan.conf `chassis_control "node chassis-control.mjs MACHINE_DIR"`), as
//
//   chassis-control.mjs MACHINE_DIR get power|boot …     → prints "power:0|1", "boot:pxe|default"
//   chassis-control.mjs MACHINE_DIR set power 0|1        (ipmitool power off / on; `power cycle`
//                                                          arrives as `set power 0`, then 1)
//   chassis-control.mjs MACHINE_DIR set reset 1          (power reset)
//   chassis-control.mjs MACHINE_DIR set shutdown 1       (power soft: the ACPI power button)
//   chassis-control.mjs MACHINE_DIR set boot pxe|default (chassis bootdev pxe | disk)
//
// The machine is a TCG QEMU guest described by MACHINE_DIR/machine.json (written by rig.ts):
// power on starts it (detached, -daemonize, its PID in MACHINE_DIR/qemu.pid), power off kills
// it by that PID, reset is QMP system_reset (or a restart when the boot device changed since the
// guest started, since QEMU's boot order is fixed at start), soft off is QMP system_powerdown.
// The boot device is kept in MACHINE_DIR/boot and applies to every later boot (persistent).
// Every command is appended to MACHINE_DIR/bmc.log ("<ISO time> set power 1", "… get power"), which tests read.
// Plain JavaScript run by ipmi_sim itself, so it imports nothing but node's own modules.
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

const [dir, op, ...rest] = process.argv.slice(2);
if (!dir || (op !== 'get' && op !== 'set')) {
  process.stderr.write('usage: chassis-control.mjs MACHINE_DIR get PARM… | set PARM VALUE…\n');
  process.exit(2);
}
const machine = JSON.parse(readFileSync(join(dir, 'machine.json'), 'utf8'));
const file = (name) => join(dir, name);
const log = (line) => appendFileSync(file('bmc.log'), `${new Date().toISOString()} ${line}\n`);

/** The guest's PID when it runs: the pidfile's process, checked to be this machine's QEMU (PIDs are reused). */
function guestPid() {
  if (!existsSync(file('qemu.pid'))) return undefined;
  const pid = Number(readFileSync(file('qemu.pid'), 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(machine.tag) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function bootDevice() {
  return existsSync(file('boot')) ? readFileSync(file('boot'), 'utf8').trim() : 'default';
}

function start() {
  if (guestPid()) return;
  const boot = bootDevice();
  rmSync(file('qemu.pid'), { force: true });
  rmSync(file('qmp.sock'), { force: true });
  execFileSync(machine.qemu, [
    '-name', machine.tag,
    '-machine', 'pc,accel=tcg', '-cpu', 'qemu64', '-m', String(machine.memoryMb), '-smp', '1',
    '-display', 'none', '-vga', 'none', '-no-user-config', '-nodefaults',
    '-chardev', `file,id=console,path=${file('console.log')},append=on`, '-serial', 'chardev:console',
    '-netdev', `user,id=net0,tftp=${file('tftp')},bootfile=boot.ipxe`,
    // The boot device as SeaBIOS boot indexes, strict: a machine set to disk never falls back
    // to the network. (`-boot order=n` with an explicit romfile skipped the NIC here: SeaBIOS
    // went straight to the disk; QEMU's own default virtio ROM with a bootindex netboots.)
    '-device', `virtio-net-pci,netdev=net0,mac=${machine.mac}${boot === 'pxe' ? ',bootindex=1' : ''}`,
    '-drive', `file=${file('disk.raw')},format=raw,if=none,id=disk0`,
    '-device', `virtio-blk-pci,drive=disk0,bootindex=${boot === 'pxe' ? 2 : 1}`,
    '-boot', 'strict=on',
    '-qmp', `unix:${file('qmp.sock')},server=on,wait=off`,
    '-daemonize', '-pidfile', file('qemu.pid'),
  ], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  writeFileSync(file('qemu.boot'), boot);
}

function stop() {
  const pid = guestPid();
  if (!pid) return;
  process.kill(pid, 'SIGKILL');
  // The BMC answers "off" only once the guest is gone. Its parent is PID 1 (it daemonized),
  // which may leave it a zombie: gone means its command line no longer names this machine.
  const tick = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 200 && guestPid(); i++) Atomics.wait(tick, 0, 0, 25);
  rmSync(file('qemu.pid'), { force: true });
}

/** One QMP command on the guest's monitor socket. */
function qmp(command) {
  return new Promise((resolve, reject) => {
    const sock = connect(file('qmp.sock'));
    let buf = '';
    let sent = false;
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`QMP ${command}: no answer`)); }, 5000);
    sock.on('error', (err) => { clearTimeout(timer); reject(err); });
    sock.on('data', (chunk) => {
      buf += chunk;
      if (!sent && buf.includes('"QMP"')) {
        sent = true;
        sock.write('{"execute":"qmp_capabilities"}\n' + JSON.stringify({ execute: command }) + '\n');
      }
      const returns = buf.split('\n').filter((l) => l.includes('"return"') || l.includes('"error"'));
      if (returns.length >= 2) {
        clearTimeout(timer);
        sock.end();
        if (returns[1].includes('"error"')) reject(new Error(`QMP ${command}: ${returns[1]}`));
        else resolve();
      }
    });
  });
}

async function set(parm, value) {
  log(`set ${parm} ${value}`);
  if (parm === 'power') {
    if (value === '1') start();
    else stop();
  } else if (parm === 'boot') {
    writeFileSync(file('boot'), value === 'pxe' ? 'pxe' : 'default');
  } else if (parm === 'reset') {
    if (!guestPid()) return;
    if (existsSync(file('qemu.boot')) && readFileSync(file('qemu.boot'), 'utf8') === bootDevice()) {
      await qmp('system_reset');
    } else {
      stop();
      start();
    }
  } else if (parm === 'shutdown') {
    if (guestPid()) await qmp('system_powerdown');
  }
}

try {
  if (op === 'get') {
    log(`get ${rest.join(' ')}`);
    for (const parm of rest) {
      if (parm === 'power') process.stdout.write(`power:${guestPid() ? 1 : 0}\n`);
      else if (parm === 'boot') process.stdout.write(`boot:${bootDevice()}\n`);
    }
  } else {
    for (let i = 0; i + 1 < rest.length; i += 2) await set(rest[i], rest[i + 1]);
  }
} catch (err) {
  log(`error ${err instanceof Error ? err.message : String(err)}`);
  process.stderr.write(`chassis-control: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
