/**
 * Running virsh and qemu-img: argument vectors only (no shell), a deadline per call, and
 * their errors turned into the contract's taxonomy where the meaning is clear.
 */
import { spawn } from 'node:child_process';
import {
  abortError, BackendUnavailable, InstanceExists, InstanceNotFound, InvalidState, Timeout, type DriverError,
} from '@orrery/virt-api';

/** A command that exited non-zero; `stderr` holds virsh's "error: …" lines. */
export class CommandError extends Error {
  constructor(readonly command: string, readonly exitCode: number | null, readonly stderr: string) {
    super(`${command} failed${exitCode === null ? '' : ` (exit ${exitCode})`}: ${stderr.trim().replace(/^error: /gm, '').replace(/\n/g, '; ') || 'no message'}`);
    this.name = 'CommandError';
  }
}

export interface RunOptions {
  /** Written to the command's stdin. */
  input?: string;
  /** Deadline in milliseconds (default 60 s); the command is killed and Timeout raised. */
  timeoutMs?: number;
  /** The call's signal (contract 1.1): aborting it kills the command. */
  signal?: AbortSignal;
}

/** Runs `cmd args…` and resolves with its stdout; rejects with CommandError, Timeout or BackendUnavailable. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const what = `${cmd} ${args.join(' ')}`.slice(0, 200);
  const signal = opts.signal;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let aborted = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const onAbort = () => {
      aborted = true;
      child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const settled = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.once('error', (e: NodeJS.ErrnoException) => {
      settled();
      reject(e.code === 'ENOENT' ? new BackendUnavailable(`${cmd} is not installed (${e.message})`, { cause: e }) : e);
    });
    child.once('close', (code) => {
      settled();
      if (aborted) reject(abortError(signal!));
      else if (timedOut) reject(new Timeout(`${what} did not finish within ${timeoutMs} ms`));
      else if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new CommandError(what, code, Buffer.concat(err).toString('utf8')));
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => undefined); // the command may exit without reading it
      child.stdin!.end(opts.input);
    }
  });
}

const UNAVAILABLE = /failed to connect to the hypervisor|Failed to connect socket|Cannot recv data|End of file while reading data|no connection driver available|Cannot write data|client socket is closed/i;
const NOT_FOUND = /failed to get domain|Domain not found|no domain with matching/i;
const INVALID = /Requested operation is not valid|domain is not running|domain is already active|is not paused|is already running/i;
const EXISTS = /already exists with uuid|domain .* already exists|already defined with uuid/i;

/**
 * The taxonomy error a virsh failure means, or null when it means nothing the contract names
 * (then it stays a plain error and the guard reports it as a driver fault).
 */
export function classifyVirshError(err: unknown, instance: string): DriverError | null {
  if (!(err instanceof CommandError)) return null;
  const msg = err.message;
  if (UNAVAILABLE.test(msg)) return new BackendUnavailable(`libvirt is not reachable: ${msg}`, { cause: err });
  if (NOT_FOUND.test(msg)) return new InstanceNotFound(`instance ${instance} not found`, { cause: err });
  if (EXISTS.test(msg)) return new InstanceExists(`instance ${instance} already exists: ${msg}`, { cause: err });
  if (INVALID.test(msg)) return new InvalidState(`instance ${instance}: ${msg}`, { cause: err });
  return null;
}

/** Throws what `err` means in the taxonomy, or `err` itself. */
export function rethrowVirsh(err: unknown, instance: string): never {
  throw classifyVirshError(err, instance) ?? err;
}
