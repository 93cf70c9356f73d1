// N libvirt hosts for the networking tests, each in a network namespace of its own with its own
// libvirtd (ns-libvirtd.ts), so its guests' taps, bridges, VXLAN devices and DHCP namespaces are
// its own. A "fabric" namespace joins them:
//
//   host i:   underlay0  10.97.0.(10+i)/24  — the tunneling IP (VXLAN between the hosts)
//             ext0       no address         — the host's interface of physical network
//                                             "external" (interface_mappings external:ext0)
//   fabric:   bridge ul  — every host's underlay0 peer
//             bridge ex  — every host's ext0 peer, and the external namespace's
//   external: eth0       172.30.0.1/24      — "the internet": the external network's gateway,
//                                             what floating IPs are reached from
//
// Every namespace, link and daemon is the test's own (names with a random tag), removed by
// stop(); traffic stays inside them. The machine's own namespace is never touched.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { backendSkip } from '../../support/backends.js';
import { sh, startLibvirtdIn, type NsLibvirtd } from './ns-libvirtd.js';

export interface NetHost {
  /** The compute host's name (and its network agent's). */
  name: string;
  /** The network namespace's name and path ([libvirt] host_netns, the agent's netns). */
  ns: string;
  netnsPath: string;
  /** Its libvirtd's connection URI. */
  uri: string;
  /** Its address on the underlay: [network_agent] tunneling_ip. */
  tunnelingIp: string;
  /** Its interface of the physical network "external". */
  externalInterface: string;
  /** Where the compute keeps its state and instances (QEMU can read it). */
  stateDir: string;
  instancesPath: string;
  /** Runs `cmd args…` in the host's namespace. */
  exec(cmd: string, args: string[]): string;
}

export interface NetFabric {
  hosts: NetHost[];
  /** The external namespace ("the internet") and its address on the external network. */
  external: { ns: string; netnsPath: string; address: string; cidr: string; exec(cmd: string, args: string[]): string };
  /** The underlay's subnet. */
  underlayCidr: string;
  /** A scratch directory under /tmp every host sees. */
  scratch: string;
  stop(): void;
}

const TOOLS = ['ip', 'unshare', 'nsenter', 'libvirtd', 'virtlogd', 'virsh', 'bridge'];

function canRun(): string | null {
  if (process.getuid?.() !== 0) return 'not root (network and mount namespaces need root)';
  for (const bin of TOOLS) {
    try {
      sh('sh', ['-c', `command -v ${bin}`]);
    } catch {
      return `${bin} is not installed`;
    }
  }
  try {
    sh('virsh', ['-q', '-c', 'qemu:///system', 'version']);
  } catch {
    return 'no libvirt (run scripts/ci-libvirt.sh)';
  }
  return null;
}

/** Skip reason for tests that need the namespaced hosts (a failure under ORRERY_REQUIRE_BACKENDS=1), or false. */
export function netHostsSkip(): string | false {
  const why = canRun();
  return backendSkip(`libvirt hosts in network namespaces (${why ?? 'ok'})`, why === null);
}

/** Starts `n` hosts (1–8) joined by the fabric; stop() removes everything (also at process exit). */
export async function startNetHosts(n: number, prefix = 'hn'): Promise<NetFabric> {
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new Error(`startNetHosts: 1-8 hosts, not ${n}`);
  const tag = randomBytes(3).toString('hex');
  const base = `/tmp/${prefix}-${tag}`;
  const scratch = join(base, 'shared');
  const fabric = `${prefix}f-${tag}`;
  const externalNs = `${prefix}x-${tag}`;
  const namespaces: string[] = [];
  const daemons: NsLibvirtd[] = [];
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    for (const d of daemons) d.stop();
    // Deleting a namespace deletes its links (a veth's peer with it).
    for (const ns of [...namespaces].reverse()) {
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        // never made
      }
    }
    rmSync(base, { recursive: true, force: true });
  };
  process.once('exit', stop);
  const inNs = (ns: string) => (cmd: string, args: string[]) => sh('ip', ['netns', 'exec', ns, cmd, ...args]);
  const addNs = (ns: string) => {
    sh('ip', ['netns', 'add', ns]);
    namespaces.push(ns);
    inNs(ns)('ip', ['link', 'set', 'lo', 'up']);
  };
  /** A veth from `ns` (named `inside`) to the fabric's bridge `br`. */
  const cable = (ns: string, inside: string, br: string, peer: string) => {
    sh('ip', ['link', 'add', peer, 'netns', fabric, 'type', 'veth', 'peer', 'name', inside, 'netns', ns]);
    inNs(fabric)('ip', ['link', 'set', peer, 'master', br, 'up']);
    inNs(ns)('ip', ['link', 'set', inside, 'up']);
  };
  try {
    mkdirSync(scratch, { recursive: true, mode: 0o755 });
    chmodSync(base, 0o755);
    chmodSync(scratch, 0o755);
    addNs(fabric);
    for (const br of ['ul', 'ex']) {
      inNs(fabric)('ip', ['link', 'add', br, 'type', 'bridge']);
      inNs(fabric)('ip', ['link', 'set', br, 'up']);
    }
    addNs(externalNs);
    cable(externalNs, 'eth0', 'ex', `x-${tag}`);
    inNs(externalNs)('ip', ['addr', 'add', '172.30.0.1/24', 'dev', 'eth0']);
    const hosts: NetHost[] = [];
    for (let i = 1; i <= n; i++) {
      const name = `${prefix}${i}-${tag}`;
      const ns = name;
      addNs(ns);
      cable(ns, 'underlay0', 'ul', `u${i}-${tag}`);
      cable(ns, 'ext0', 'ex', `e${i}-${tag}`);
      const tunnelingIp = `10.97.0.${10 + i}`;
      inNs(ns)('ip', ['addr', 'add', `${tunnelingIp}/24`, 'dev', 'underlay0']);
      const stateDir = join(scratch, name);
      const instancesPath = join(stateDir, 'instances');
      mkdirSync(instancesPath, { recursive: true, mode: 0o755 });
      chmodSync(stateDir, 0o755); // QEMU runs as libvirt-qemu and must reach the instance files
      chmodSync(instancesPath, 0o755);
      const d = await startLibvirtdIn(ns, join(base, `${name}-libvirt`));
      daemons.push(d);
      hosts.push({
        name, ns, netnsPath: `/run/netns/${ns}`, uri: d.uri, tunnelingIp, externalInterface: 'ext0', stateDir, instancesPath, exec: inNs(ns),
      });
    }
    return {
      hosts, underlayCidr: '10.97.0.0/24', scratch, stop,
      external: { ns: externalNs, netnsPath: `/run/netns/${externalNs}`, address: '172.30.0.1', cidr: '172.30.0.0/24', exec: inNs(externalNs) },
    };
  } catch (err) {
    stop();
    throw err;
  }
}
