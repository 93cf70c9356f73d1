/** How an armed fault of the fake back-end strikes a driver call (backend.ts arms them). */
import { abortError, BackendUnavailable, DriverError, Timeout, type DriverMethod } from '@orrery/virt-api';
import type { Fault } from './backend.js';
import { sleep } from './sleep.js';

/**
 * Strikes `fault` on a call of `method`. A hung call registers its cancel in `hung`, so that the
 * driver's shutdown can end it; it also ends by its own deadline or the call's signal.
 */
export async function strike(fault: Fault, method: DriverMethod, hung: Set<() => void>, signal?: AbortSignal): Promise<void> {
  const msg = fault.message ?? `injected ${fault.kind} fault on ${method}`;
  switch (fault.kind) {
    case 'error':
      throw new DriverError(fault.code, msg);
    case 'crash':
      throw new Error(msg);
    case 'delay':
      await sleep(fault.delayMs ?? 0, signal);
      return;
    case 'hang':
      await hang(fault.delayMs, msg, hung, signal);
      return;
    case 'lose':
      return;
  }
}

function hang(ms: number | null, msg: string, hung: Set<() => void>, signal?: AbortSignal): Promise<never> {
  return new Promise<never>((_, reject) => {
    const timer = ms === null ? undefined : setTimeout(() => done(new Timeout(`${msg} (timed out after ${ms} ms)`)), ms);
    const cancel = () => done(new BackendUnavailable(`${msg}: the driver shut down`));
    const onAbort = () => done(abortError(signal!));
    const done = (err: Error) => {
      clearTimeout(timer);
      hung.delete(cancel);
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    };
    hung.add(cancel);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}
