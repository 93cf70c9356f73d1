import { availableParallelism } from 'node:os';
import { TooManyRequests } from '../common/errors.js';

/**
 * Runs expensive jobs (password hashing) at most `concurrency` at a time, serving the sources
 * that wait round-robin: one job of each in turn, so a source with a thousand jobs queued
 * delays another source's single job by at most one job per source ahead of it, not by the
 * thousand.
 *
 * Why it is needed: PBKDF2 runs on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE
 * says otherwise), which serves its queue first come, first served. Measured with
 * bench/login-guessing.ts (210 000 rounds, ≈105 ms a hash; 2 shared cores): while 16 parallel
 * wrong-password guessers hammered from one address, a correct login from another took
 * 1.1–2.5 s (median of 10, three runs; 3.5 s at worst) against 105 ms idle. With this queue
 * and the failure limit off, 0.32–0.42 s (0.68 s at worst): the wait for one slot, then its
 * own hash beside one guess.
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
