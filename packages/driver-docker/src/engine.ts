/**
 * The Engine API client (dockerode over the unix socket) and what its failures mean in the
 * contract's taxonomy: an unreachable socket is BackendUnavailable, a request past api_timeout
 * is Timeout, a 404 on a container is InstanceNotFound.
 */
import Docker from 'dockerode';
import { BackendUnavailable, InstanceNotFound, isDriverError, Timeout } from '@orrery/virt-api';

export type Engine = Docker;

export function connect(socket: string, timeoutMs: number): Engine {
  return new Docker({ socketPath: socket, timeout: timeoutMs });
}

/** What dockerode rejects with: an HTTP status from the daemon, or a socket error code. */
interface EngineFailure {
  statusCode?: number;
  code?: string;
  json?: { message?: string } | null;
  message?: string;
}

export function messageOf(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const e = err as EngineFailure;
    const msg = e.json?.message ?? e.message;
    if (typeof msg === 'string' && msg !== '') return msg.trim();
  }
  return String(err);
}

/** The daemon's HTTP status of a failed request, or undefined when none came back. */
export function statusOf(err: unknown): number | undefined {
  const s = (err as EngineFailure | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE']);

/**
 * The contract's error for a failed Engine API call: socket failures and 5xx are the back-end's,
 * a timed-out request Timeout; anything else (a 4xx the caller did not expect) is returned as it
 * is, for the guard to report as a fault.
 */
export function engineError(err: unknown, what: string): Error {
  if (isDriverError(err)) return err;
  const e = err as EngineFailure | null;
  const code = e?.code;
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT' || (statusOf(err) === undefined && /timeout/i.test(e?.message ?? ''))) {
    return new Timeout(`${what}: the Docker daemon did not answer in time`, { cause: err });
  }
  if ((code !== undefined && UNREACHABLE.has(code)) || (statusOf(err) ?? 0) >= 500) {
    return new BackendUnavailable(`${what}: ${messageOf(err)}`, { cause: err });
  }
  return err instanceof Error ? err : new Error(`${what}: ${messageOf(err)}`);
}

/** Runs an Engine API call on an instance's container: 404 is InstanceNotFound. */
export async function onContainer<T>(uuid: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (statusOf(err) === 404 && !/image/i.test(messageOf(err))) throw new InstanceNotFound(`instance ${uuid} does not exist on this host`, { cause: err });
    throw engineError(err, what);
  }
}

/** Reads a whole response stream (a load's or a pull's JSON lines, a log). */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer | string>) parts.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(parts);
}

/**
 * The JSON-lines progress of a load/commit/import: the messages (`stream`) and the first error
 * the daemon reported in-band (a load can fail after a 200).
 */
export function progressOf(body: Buffer): { lines: string[]; error: string | null } {
  const lines: string[] = [];
  let error: string | null = null;
  for (const line of body.toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      const m = JSON.parse(line) as { stream?: unknown; error?: unknown; errorDetail?: { message?: unknown } };
      if (typeof m.stream === 'string') lines.push(m.stream.trim());
      if (error === null && (typeof m.error === 'string' || typeof m.errorDetail?.message === 'string')) {
        error = String(m.error ?? m.errorDetail?.message);
      }
    } catch {
      lines.push(line.trim());
    }
  }
  return { lines, error };
}
