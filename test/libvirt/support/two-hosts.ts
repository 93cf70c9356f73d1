// Two libvirt hosts on one machine, for the move tests: host A is the machine's libvirtd
// (scripts/ci-libvirt.sh), host B a second libvirtd in its own network namespace (10.99.N.2,
// reached from A's side through a veth pair at 10.99.N.1, N free) and its own mount namespace, where
// private copies of libvirt's config and state directories are bound over the real ones (so its
// domains, sockets and locks are its own). Everything else, /tmp included, both hosts see
// alike: a directory made under /tmp is reachable by both QEMUs at the same path.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { backendSkip } from '../../support/backends.js';
import { LIBVIRT_URI } from './libvirt.js';
import { sh, startLibvirtdIn, type NsLibvirtd } from './ns-libvirtd.js';

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
  let daemons: NsLibvirtd | null = null;
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    daemons?.stop();
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
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB]);
    sh('ip', ['link', 'set', vethB, 'netns', ns]);
    sh('ip', ['addr', 'add', `${addrA}/24`, 'dev', vethA]);
    sh('ip', ['link', 'set', vethA, 'up']);
    sh('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${addrB}/24`, 'dev', vethB]);
    sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', vethB, 'up']);
    sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);

    daemons = await startLibvirtdIn(ns, priv);
    const uri = daemons.uri;
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
