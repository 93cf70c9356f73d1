// Two libvirt hosts on one machine, for the move tests: host A is the machine's libvirtd
// (scripts/ci-libvirt.sh), host B a second libvirtd in its own network namespace (10.99.N.2,
// reached from A's side through a veth pair at 10.99.N.1, N free) and its own mount namespace, where
// private copies of libvirt's config and state directories are bound over the real ones (so its
// domains, sockets and locks are its own). Everything else, /tmp included, both hosts see
// alike: a directory made under /tmp is reachable by both QEMUs at the same path.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, appendFileSync, readdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { backendSkip } from '../../support/backends.js';
import { LIBVIRT_URI } from './libvirt.js';

export interface LibvirtHostB {
  /** The connection URI of host B's libvirtd (a unix socket in its private run dir). */
  uri: string;
  /** The address host B's QEMUs listen on for incoming migrations. */
  address: string;
  /** The address host A has on the link (B reaches A there). */
  peerAddress: string;
  /** A scratch directory under /tmp both hosts see at the same path (state dirs go here). */
  scratch: string;
  stop(): void;
}

const sh = (cmd: string, args: string[], opts: { input?: string } = {}) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000, ...opts });

function canRun(): string | null {
  if (process.getuid?.() !== 0) return 'not root (network and mount namespaces need root)';
  try {
    sh('virsh', ['-q', '-c', LIBVIRT_URI, 'version']);
  } catch {
    return `no libvirt at ${LIBVIRT_URI} (run scripts/ci-libvirt.sh)`;
  }
  for (const bin of ['ip', 'unshare', 'libvirtd', 'virtlogd']) {
    try {
      sh('sh', ['-c', `command -v ${bin}`]);
    } catch {
      return `${bin} is not installed`;
    }
  }
  return null;
}

/** Skip reason for tests that need two hosts (a failure under ORRERY_REQUIRE_BACKENDS=1), or false. */
export function twoHostsSkip(): string | false {
  const why = canRun();
  return backendSkip(`two libvirt hosts (${why ?? 'ok'})`, why === null);
}

const pidOf = (file: string): number | null => {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
};

const alive = (pid: number | null) => {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

let current: LibvirtHostB | null = null;

/**
 * Starts host B (once per process: a second call answers the same host). `stop()` kills its
 * daemons by pid, deletes the namespace and the veth pair and the scratch directory; it is
 * idempotent and also runs at process exit.
 */
export async function startHostB(prefix = 'hlv'): Promise<LibvirtHostB> {
  if (current) return current;
  const tag = randomBytes(3).toString('hex');
  const ns = `${prefix}-${tag}`;
  const vethA = `${prefix}${tag}a`;
  const vethB = `${prefix}${tag}b`;
  const base = `/tmp/${prefix}-${tag}`;
  // A subnet of its own (10.99.N.0/24), so two test processes' host Bs do not clash.
  const used = sh('ip', ['-o', '-4', 'addr']);
  const free = Array.from({ length: 250 }, (_, i) => i).filter((n) => !used.includes(` 10.99.${n}.`));
  if (free.length === 0) throw new Error('no free 10.99.N.0/24 subnet for host B');
  const net = free[Math.floor(Math.random() * free.length)]!;
  const [addrA, addrB] = [`10.99.${net}.1`, `10.99.${net}.2`];
  const scratch = join(base, 'shared');
  const priv = join(base, 'hostb');
  const pids = { virtlogd: join(priv, 'virtlogd.pid'), libvirtd: join(priv, 'libvirtd.pid') };
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    for (const f of [pids.libvirtd, pids.virtlogd]) {
      const pid = pidOf(f);
      if (alive(pid)) process.kill(pid!, 'SIGTERM');
    }
    // Its QEMUs: children of B's libvirtd, in B's network namespace; they die with the namespace's
    // last users only if killed, so kill those whose pid file lives in B's private run dir.
    const qemuRun = join(priv, 'run', 'qemu');
    for (const f of existsSync(qemuRun) ? readdirSync(qemuRun) : []) {
      if (!f.endsWith('.pid')) continue;
      const pid = pidOf(join(qemuRun, f));
      if (alive(pid)) process.kill(pid!, 'SIGKILL');
    }
    const deadline = Date.now() + 5000;
    while ([pids.libvirtd, pids.virtlogd].some((f) => alive(pidOf(f))) && Date.now() < deadline) sh('sleep', ['0.1']);
    for (const f of [pids.libvirtd, pids.virtlogd]) {
      const pid = pidOf(f);
      if (alive(pid)) process.kill(pid!, 'SIGKILL');
    }
    try {
      sh('ip', ['link', 'del', vethA]);
    } catch {
      // gone with the namespace
    }
    try {
      sh('ip', ['netns', 'del', ns]);
    } catch {
      // never made
    }
    rmSync(base, { recursive: true, force: true });
    if (current?.scratch === scratch) current = null;
  };
  process.once('exit', stop);
  try {
    mkdirSync(scratch, { recursive: true, mode: 0o755 });
    chmodSync(base, 0o755);
    chmodSync(scratch, 0o755);
    for (const d of ['etc', 'lib', 'cache', 'run', 'log']) mkdirSync(join(priv, d), { recursive: true });
    sh('cp', ['-a', '/etc/libvirt/.', join(priv, 'etc')]);
    sh('cp', ['-a', '/var/lib/libvirt/.', join(priv, 'lib')]);
    if (existsSync('/var/cache/libvirt')) sh('cp', ['-a', '/var/cache/libvirt/.', join(priv, 'cache')]);
    // Host A's persistent domains are A's alone.
    for (const f of readdirSync(join(priv, 'etc', 'qemu'))) if (f.endsWith('.xml')) rmSync(join(priv, 'etc', 'qemu', f));
    appendFileSync(join(priv, 'etc', 'libvirtd.conf'), `\nhost_uuid = "${randomUUID()}"\n`);

    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB]);
    sh('ip', ['link', 'set', vethB, 'netns', ns]);
    sh('ip', ['addr', 'add', `${addrA}/24`, 'dev', vethA]);
    sh('ip', ['link', 'set', vethA, 'up']);
    sh('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${addrB}/24`, 'dev', vethB]);
    sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', vethB, 'up']);
    sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);

    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const script = [
      'set -e',
      'mount --make-rprivate /',
      `mount --bind ${q(join(priv, 'etc'))} /etc/libvirt`,
      `mount --bind ${q(join(priv, 'lib'))} /var/lib/libvirt`,
      ...(existsSync('/var/cache/libvirt') ? [`mount --bind ${q(join(priv, 'cache'))} /var/cache/libvirt`] : []),
      `mount --bind ${q(join(priv, 'run'))} /run/libvirt`,
      `mkdir -p /var/log/libvirt && mount --bind ${q(join(priv, 'log'))} /var/log/libvirt`,
      `virtlogd -d --pid-file ${q(pids.virtlogd)}`,
      `libvirtd -d --pid-file ${q(pids.libvirtd)}`,
    ].join('\n');
    sh('ip', ['netns', 'exec', ns, 'unshare', '--mount', 'sh', '-c', script]);
    const uri = `qemu:///system?socket=${join(priv, 'run', 'libvirt-sock')}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        sh('virsh', ['-q', '-c', uri, 'version']);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`host B's libvirtd did not answer within 60 s: ${String(err)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    current = { uri, address: addrB, peerAddress: addrA, scratch, stop };
    return current;
  } catch (err) {
    stop();
    throw err;
  }
}

/** Writes a file both hosts can read (helper for tests that hand XML or images around). */
export function writeShared(host: LibvirtHostB, name: string, text: string): string {
  const path = join(host.scratch, name);
  writeFileSync(path, text);
  return path;
}
