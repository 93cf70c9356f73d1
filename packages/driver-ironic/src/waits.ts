/** Waiting for a node to reach a state, by polling it (Ironic has no push notifications to its clients). */
import { Aborted, Timeout } from '@orrery/virt-api';

/** Resolves after `ms`, or rejects with Aborted when `signal` aborts first. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Aborted(`ironic driver: ${String(signal.reason ?? 'aborted')}`));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new Aborted(`ironic driver: ${String(signal?.reason ?? 'aborted')}`));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Reads with `read` every `intervalMs` until `done` answers a value (returned) or throws (passed
 * on); Timeout naming `what` after `timeoutMs`.
 */
export async function pollUntil<T, R>(
  read: () => Promise<T>,
  done: (value: T) => R | undefined,
  o: { what: string; timeoutMs: number; intervalMs: number; signal?: AbortSignal | undefined },
): Promise<R> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const r = done(await read());
    if (r !== undefined) return r;
    if (Date.now() >= deadline) throw new Timeout(`ironic driver: ${o.what} did not finish within ${Math.round(o.timeoutMs / 1000)} s`);
    await pause(Math.min(o.intervalMs, Math.max(1, deadline - Date.now())), o.signal);
  }
}
