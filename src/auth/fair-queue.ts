import { availableParallelism } from 'node:os';
import { TooManyRequests } from '../common/errors.js';

/**
 * Runs expensive jobs (password hashing) at most `concurrency` at a time, serving the sources
 * that wait round-robin: one job of each in turn, so a source with a thousand jobs queued
 * delays another source's single job by at most one job per source ahead of it, not by the
 * thousand.
 *
 * Why it is needed: PBKDF2 runs on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE
 * says otherwise), which serves its queue first come, first served. Measured before this
 * queue (210 000 rounds, ≈115 ms a hash on this machine): 16 parallel wrong-password guessers
 * from one address made a correct login from another take 1.6 s (median; 2.0 s at worst),
 * fourteen times its idle latency.
 */
export class FairQueue {
  /** Sources with waiting jobs, in the order they are served; a source is in it at most once. */
  private readonly ring: string[] = [];
  private readonly waiting = new Map<string, Array<() => void>>();
  private running = 0;

  constructor(
    private readonly concurrency: number = defaultHashConcurrency(),
    /** Jobs one source may have waiting; more are refused (429), as a flood should be. */
    private readonly maxWaitingPerSource = 256,
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`FairQueue: concurrency must be a positive integer, got ${concurrency}`);
  }

  /** Runs `job` when it is `source`'s turn and a slot is free. */
  async run<T>(source: string, job: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency || this.ring.length > 0) {
      let queue = this.waiting.get(source);
      if (queue === undefined) {
        queue = [];
        this.waiting.set(source, queue);
        this.ring.push(source);
      }
      if (queue.length >= this.maxWaitingPerSource) {
        throw new TooManyRequests('Too many authentication requests from this address are waiting; retry later.');
      }
      await new Promise<void>((resolve) => queue.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await job();
    } finally {
      this.next();
    }
  }

  /** Jobs waiting now (for tests). */
  get queued(): number {
    let n = 0;
    for (const q of this.waiting.values()) n += q.length;
    return n;
  }

  /** Hands the slot just freed to the next source in the ring, or frees it. */
  private next(): void {
    const source = this.ring.shift();
    if (source === undefined) {
      this.running--;
      return;
    }
    const queue = this.waiting.get(source)!;
    const start = queue.shift()!;
    if (queue.length > 0) this.ring.push(source);
    else this.waiting.delete(source);
    start(); // the slot passes on: `running` stays the same
  }
}

/**
 * Hashes allowed at once: one thread fewer than libuv's pool, so that file and DNS work
 * (image uploads, the database's host lookups) always finds a thread; and no more than there
 * are cores, since more would only share them.
 */
export function defaultHashConcurrency(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const threads = Number.isInteger(pool) && pool > 0 ? pool : 4;
  return Math.max(1, Math.min(threads - 1, availableParallelism()));
}
