// A libvirtd of its own inside a network namespace the test made, and its own mount namespace
// where private copies of libvirt's config and state directories are bound over the real ones
// (so its domains, sockets and locks are its own). Everything else, /tmp included, it sees as
// the machine does: a directory made under /tmp is reachable by its QEMUs at the same path.
// Its QEMUs' taps appear in that network namespace. Used by two-hosts.ts (host B) and
// net-hosts.ts (N hosts, each in its namespace).
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const sh = (cmd: string, args: string[], opts: { input?: string } = {}) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000, ...opts });

export const pidOf = (file: string): number | null => {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
};

export const alive = (pid: number | null) => {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export interface NsLibvirtd {
  /** The connection URI (a unix socket in its private run dir). */
  uri: string;
  /** Kills its QEMUs, libvirtd and virtlogd by pid (idempotent). Leaves `priv` and the namespace. */
  stop(): void;
}

/**
 * Starts virtlogd and libvirtd inside network namespace `ns` (made by the caller), their
 * private directories under `priv`; resolves once libvirtd answers.
 */
export async function startLibvirtdIn(ns: string, priv: string): Promise<NsLibvirtd> {
  const pids = { virtlogd: join(priv, 'virtlogd.pid'), libvirtd: join(priv, 'libvirtd.pid') };
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    for (const f of [pids.libvirtd, pids.virtlogd]) {
      const pid = pidOf(f);
      if (alive(pid)) process.kill(pid!, 'SIGTERM');
    }
    // Its QEMUs: children of this libvirtd, whose pid files live in its private run dir.
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
  };
  try {
    for (const d of ['etc', 'lib', 'cache', 'run', 'log']) mkdirSync(join(priv, d), { recursive: true });
    sh('cp', ['-a', '/etc/libvirt/.', join(priv, 'etc')]);
    sh('cp', ['-a', '/var/lib/libvirt/.', join(priv, 'lib')]);
    if (existsSync('/var/cache/libvirt')) sh('cp', ['-a', '/var/cache/libvirt/.', join(priv, 'cache')]);
    // The machine's persistent domains are its own.
    for (const f of readdirSync(join(priv, 'etc', 'qemu'))) if (f.endsWith('.xml')) rmSync(join(priv, 'etc', 'qemu', f));
    appendFileSync(join(priv, 'etc', 'libvirtd.conf'), `\nhost_uuid = "${randomUUID()}"\n`);
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
        if (Date.now() > deadline) throw new Error(`the libvirtd in ${ns} did not answer within 60 s: ${String(err)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    return { uri, stop };
  } catch (err) {
    stop();
    throw err;
  }
}
