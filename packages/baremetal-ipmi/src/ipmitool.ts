import { execFile } from 'node:child_process';
import {
  BmcAuthFailed, BmcError, BmcRefused, BmcTimeout, BmcUnreachable,
  type BootDevice, type PowerAction, type PowerInterface, type PowerState,
} from './power.js';

/** A BMC as a node's driver_info names it. */
export interface IpmiTarget {
  address: string;
  port: number;
  username: string;
  password: string;
  /** The session's privilege level (driver_info ipmi_priv_level); ADMINISTRATOR when not given. */
  privilege?: 'ADMINISTRATOR' | 'OPERATOR' | 'USER';
}

export interface IpmitoolOptions {
  /** The ipmitool binary. */
  command?: string;
  /** Deadline of one ipmitool run, in ms; it is killed after. */
  timeoutMs?: number;
  /** Runs of a call that failed as unreachable or timed out (auth and refusals are not retried). */
  attempts?: number;
  /** ipmitool's own retransmission count (-R) and interval in seconds (-N) within one run. */
  retransmits?: number;
  retransmitIntervalS?: number;
}

const ACTIONS: Record<PowerAction, string> = { on: 'on', off: 'off', reboot: 'reset', 'soft off': 'soft' };

/**
 * Power through `ipmitool -I lanplus -C 3`. Cipher suite 3 always: without it every call first
 * tries the suites it cannot use and takes 10 s; with it a call takes 0.04–0.4 s. The password
 * goes to ipmitool in its environment (`-E`, IPMI_PASSWORD), never on its command line, where
 * any user of the machine could read it in the process list.
 */
export class IpmitoolPower implements PowerInterface {
  private readonly command: string;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly retransmits: number;
  private readonly intervalS: number;

  constructor(private readonly target: IpmiTarget, opts: IpmitoolOptions = {}) {
    this.command = opts.command ?? 'ipmitool';
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.attempts = Math.max(1, opts.attempts ?? 2);
    this.retransmits = opts.retransmits ?? 2;
    this.intervalS = opts.retransmitIntervalS ?? 1;
  }

  async getPower(): Promise<PowerState> {
    const out = await this.run(['chassis', 'power', 'status']);
    if (/is on/i.test(out)) return 'power on';
    if (/is off/i.test(out)) return 'power off';
    throw new BmcRefused(`unexpected power status from ${this.where()}: ${out.trim().slice(0, 200)}`);
  }

  async setPower(action: PowerAction): Promise<void> {
    await this.run(['chassis', 'power', ACTIONS[action]]);
  }

  async setBootDevice(device: BootDevice, persistent: boolean): Promise<void> {
    await this.run(['chassis', 'bootdev', device, ...(persistent ? ['options=persistent'] : [])]);
  }

  private where(): string {
    return `BMC ${this.target.address}:${this.target.port}`;
  }

  /** One call, retried while the BMC does not answer. */
  private async run(args: string[]): Promise<string> {
    let last: BmcError | undefined;
    for (let i = 0; i < this.attempts; i++) {
      try {
        return await this.once(args);
      } catch (err) {
        if (!(err instanceof BmcUnreachable || err instanceof BmcTimeout)) throw err;
        last = err;
      }
    }
    throw last!;
  }

  private once(args: string[]): Promise<string> {
    const { address, port, username, password, privilege } = this.target;
    // -v: only then does ipmitool say why a session failed (RAKP 2 HMAC for a wrong password).
    const argv = ['-I', 'lanplus', '-C', '3', '-H', address, '-p', String(port), '-U', username, '-E', '-v', '-L', privilege ?? 'ADMINISTRATOR',
      '-R', String(this.retransmits), '-N', String(this.intervalS), ...args];
    return new Promise((resolve, reject) => {
      execFile(this.command, argv, { timeout: this.timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, IPMI_PASSWORD: password } },
        (err, stdout, stderr) => {
          if (!err) return resolve(stdout);
          const what = `${this.where()} ${args.join(' ')}`;
          if ((err as { killed?: boolean }).killed) return reject(new BmcTimeout(`${what}: no answer within ${this.timeoutMs} ms`));
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new BmcUnreachable(`${what}: ${this.command} is not installed`));
          reject(classify(what, `${stderr}\n${stdout}`));
        });
    });
  }
}

/** The taxonomy from ipmitool's words (1.8.19, against OpenIPMI's ipmi_sim). */
export function classify(what: string, output: string): BmcError {
  const text = output.replace(/\s+/g, ' ').trim().slice(0, 300);
  if (/RAKP 2 HMAC is invalid|RAKP 2 message indicates an error|unauthorized name|invalid (user ?name|password)|Authentication type/i.test(output)) {
    return new BmcAuthFailed(`${what}: the BMC refused the credentials`);
  }
  if (/Insufficient privilege|Invalid data field|Invalid command|not supported|Command not supported|Unable to set|Set Chassis Power Control to .* failed|Error: /i.test(output)
    && !/Unable to establish IPMI v2/i.test(output)) {
    return new BmcRefused(`${what}: ${text}`);
  }
  return new BmcUnreachable(`${what}: ${text || 'no answer'}`);
}
