/**
 * Running ip / bridge / nft / iptables / dnsmasq / conntrack: argument vectors only (no shell),
 * a deadline per call, and optionally inside a network namespace given by path
 * (`nsenter --net=<path> cmd …`). The agent process itself stays in the root namespace, where it
 * reaches the API and the bus on 127.0.0.1; only the commands it runs enter the host's namespace.
 */
import { spawn } from 'node:child_process';

/** A command that exited non-zero (or could not start). */
export class CommandError extends Error {
  constructor(readonly command: string, readonly exitCode: number | null, readonly stderr: string) {
    super(`${command} failed${exitCode === null ? '' : ` (exit ${exitCode})`}: ${stderr.trim().replace(/\n/g, '; ').slice(0, 500) || 'no message'}`);
    this.name = 'CommandError';
  }
}

export interface RunOptions {
  /** Written to the command's stdin (nft -f -, iptables-restore). */
  input?: string;
  /** Deadline in milliseconds (default: the runner's, 30 s); the command is killed after it. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CommandRunnerOptions {
  /** Path of the network namespace to run in (e.g. /run/netns/x or /proc/<pid>/ns/net); null/'' = the caller's own. */
  netns?: string | null;
  timeoutMs?: number;
  /** Called with every command line run (debugging, tests counting mutations). */
  trace?: (argv: readonly string[]) => void;
}

/** Output is bounded: a runaway command cannot fill the agent's memory. */
const MAX_OUTPUT = 16 * 1024 * 1024;

/** Path of a named namespace as `ip netns` keeps it. */
export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

export class CommandRunner {
  readonly netns: string | null;
  readonly #timeoutMs: number;
  readonly #trace: ((argv: readonly string[]) => void) | undefined;

  constructor(opts: CommandRunnerOptions = {}) {
    this.netns = opts.netns ? opts.netns : null;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#trace = opts.trace;
  }

  /** A runner for another namespace (by path), same deadline and trace. */
  inNetns(netns: string | null): CommandRunner {
    return new CommandRunner({ netns, timeoutMs: this.#timeoutMs, trace: this.#trace });
  }

  /** The argument vector actually executed for `cmd args` (nsenter prefix when in a namespace). */
  argv(cmd: string, args: readonly string[]): string[] {
    return this.netns ? ['nsenter', `--net=${this.netns}`, '--', cmd, ...args] : [cmd, ...args];
  }

  /** Runs and resolves with stdout; rejects with CommandError on a non-zero exit. */
  async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
    const r = await this.tryRun(cmd, args, opts);
    if (r.code !== 0) throw new CommandError(this.argv(cmd, args).join(' ').slice(0, 300), r.code, r.stderr);
    return r.stdout;
  }

  /** Runs and resolves with the exit code and outputs whatever the exit code (rejects only when it cannot start). */
  tryRun(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const argv = this.argv(cmd, args);
    this.#trace?.(argv);
    const timeoutMs = opts.timeoutMs ?? this.#timeoutMs;
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new Error('aborted'));
      const child = spawn(argv[0]!, argv.slice(1), { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      let timedOut = false;
      const kill = () => child.kill('SIGKILL');
      const timer = setTimeout(() => { timedOut = true; kill(); }, timeoutMs);
      opts.signal?.addEventListener('abort', kill, { once: true });
      const collect = (into: Buffer[]) => (d: Buffer) => {
        size += d.length;
        if (size > MAX_OUTPUT) kill();
        else into.push(d);
      };
      child.stdout!.on('data', collect(out));
      child.stderr!.on('data', collect(err));
      child.once('error', (e) => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', kill);
        reject(new CommandError(argv.join(' ').slice(0, 300), null, e.message));
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', kill);
        const stderr = Buffer.concat(err).toString('utf8');
        resolve({
          code: timedOut ? null : code,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: timedOut ? `timed out after ${timeoutMs} ms; ${stderr}` : stderr,
        });
      });
      if (opts.input !== undefined) {
        child.stdin!.on('error', () => undefined); // the command may exit without reading it
        child.stdin!.end(opts.input);
      }
    });
  }

  /** `ip -j …` parsed (an empty answer is []). */
  async ipJson<T = unknown>(args: readonly string[]): Promise<T[]> {
    const out = await this.run('ip', ['-j', ...args]);
    const text = out.trim();
    return text === '' ? [] : (JSON.parse(text) as T[]);
  }
}
