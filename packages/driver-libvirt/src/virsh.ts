/**
 * libvirt through `virsh -q -c URI …`, one process per call (about 20 ms each). Chosen over
 * libvirt's own RPC protocol, which libvirt documents as internal, and over the npm binding,
 * which does not build on Node 20 (see docs/libvirt.md).
 */
import { PowerState } from '@orrery/virt-api';
import { run, type RunOptions } from './exec.js';

export interface DomainStatus {
  name: string;
  /** virsh's state text: running, paused, shut off, saved (managed save), … */
  state: string;
  powerState: PowerState;
}

/**
 * The power state of a domain from virsh's state text (and whether it has a managed save
 * image). A shut-off domain is SHUTDOWN whatever the reason (crashed, destroyed, …), as Nova
 * reports it; a managed-saved one is SUSPENDED.
 */
export function powerStateOf(state: string, managedSave = false): PowerState {
  switch (state.trim().toLowerCase()) {
    case 'running':
    case 'idle':
    case 'blocked':
    case 'in shutdown':
      return PowerState.RUNNING;
    case 'paused':
      return PowerState.PAUSED;
    case 'shut off':
    case 'shutoff':
      return managedSave ? PowerState.SUSPENDED : PowerState.SHUTDOWN;
    case 'saved':
    case 'pmsuspended':
      return PowerState.SUSPENDED;
    case 'crashed':
      return PowerState.CRASHED;
    default:
      return PowerState.NOSTATE;
  }
}

export class Virsh {
  constructor(readonly uri: string) {}

  run(args: string[], opts?: RunOptions): Promise<string> {
    return run('virsh', ['-q', '-c', this.uri, ...args], opts);
  }

  /** Every domain of libvirtd with its state (managed-saved ones as "saved"). */
  async list(): Promise<DomainStatus[]> {
    const out = await this.run(['list', '--all', '--managed-save']);
    const domains: DomainStatus[] = [];
    for (const line of out.split('\n')) {
      const m = /^\s*(?:\d+|-)\s+(\S+)\s+(\S.*?)\s*$/.exec(line);
      if (m) domains.push({ name: m[1]!, state: m[2]!, powerState: powerStateOf(m[2]!) });
    }
    return domains;
  }

  /** One domain's state; rejects with a CommandError ("failed to get domain") when it does not exist. */
  async status(name: string): Promise<DomainStatus> {
    const out = await this.run(['dominfo', name]);
    const field = (k: string) => new RegExp(`^${k}:\\s*(.*?)\\s*$`, 'm').exec(out)?.[1] ?? '';
    const state = field('State');
    return { name, state, powerState: powerStateOf(state, field('Managed save') === 'yes') };
  }

  /** `virsh version`'s hypervisor line, e.g. "QEMU 7.2.22". */
  async hypervisor(timeoutMs?: number): Promise<{ type: string; version: string }> {
    const out = await this.run(['version'], { timeoutMs });
    const m = /Running hypervisor:\s*(\S+)\s+(\S+)/.exec(out);
    return { type: m?.[1] ?? 'QEMU', version: m?.[2] ?? '0.0.0' };
  }

  /** `virsh nodeinfo` as key → value. */
  async nodeinfo(): Promise<Record<string, string>> {
    const out = await this.run(['nodeinfo']);
    const info: Record<string, string> = {};
    for (const line of out.split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) info[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    return info;
  }

  capabilities(): Promise<string> {
    return this.run(['capabilities']);
  }
}
