import { isIPv6 } from 'node:net';
import { TooManyRequests } from '../common/errors.js';

/**
 * A per-source limit on failed logins: a token bucket per client address that only failures
 * spend. Why failures only: a source that logs in correctly — a CI runner, the test suites
 * (hundreds of logins from 127.0.0.1), a NAT of honest users — must never be limited, and a
 * guesser's attempts are almost all failures. The price: once a source has spent its bucket,
 * even a correct login from it is refused until a token refills (a second by default), because
 * telling a correct password from a wrong one costs the very hashing the limit exists to
 * refuse. Other sources are never affected, and neither is their share of the hashing (see
 * FairQueue, keyed by the same source).
 *
 * Memory is bounded: at most `maxSources` buckets, the least recently seen dropped first; a
 * bucket that has refilled is dropped too, since a full bucket is what an unknown source gets.
 */
export interface FailureLimitOptions {
  /** Failures a source may make at once; 0 turns the limit off. */
  burst: number;
  /** Failures per second regained, up to `burst`. */
  refillPerSecond: number;
  maxSources: number;
  /** Monotonic milliseconds (tests pass their own). */
  clock?: () => number;
}

interface Bucket { tokens: number; at: number }

export class FailureLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly clock: () => number;

  constructor(private readonly opts: FailureLimitOptions) {
    for (const [name, v] of [['burst', opts.burst], ['refillPerSecond', opts.refillPerSecond], ['maxSources', opts.maxSources]] as const) {
      if (!Number.isFinite(v) || v < 0) throw new Error(`config: the login failure limit's ${name} must be a number >= 0, got ${v}`);
    }
    if (opts.burst > 0 && (opts.refillPerSecond <= 0 || opts.maxSources < 1)) {
      throw new Error('config: with a login failure limit, the refill rate and the number of sources must be positive');
    }
    this.clock = opts.clock ?? (() => performance.now());
  }

  get enabled(): boolean {
    return this.opts.burst > 0;
  }

  /** Throws TooManyRequests when `source` has no failure left to spend. */
  check(source: string): void {
    if (!this.enabled) return;
    const b = this.refilled(source);
    if (b !== undefined && b.tokens < 1) {
      const wait = Math.ceil((1 - b.tokens) / this.opts.refillPerSecond);
      throw new TooManyRequests(`Too many failed authentication attempts from this address; retry in ${wait} s.`);
    }
  }

  /** Spends one failure of `source`. */
  fail(source: string): void {
    if (!this.enabled) return;
    const b = this.refilled(source) ?? { tokens: this.opts.burst, at: this.clock() };
    b.tokens = Math.max(0, b.tokens - 1);
    this.buckets.delete(source);
    this.buckets.set(source, b); // most recently seen last
    while (this.buckets.size > this.opts.maxSources) {
      const oldest = this.buckets.keys().next().value;
      if (oldest === undefined) break;
      this.buckets.delete(oldest);
    }
  }

  /** Sources remembered now (for tests of the bound). */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(source: string): Bucket | undefined {
    const b = this.buckets.get(source);
    if (b === undefined) return undefined;
    const t = this.clock();
    // A clock set back refills nothing rather than draining the bucket.
    b.tokens = Math.min(this.opts.burst, b.tokens + (Math.max(0, t - b.at) / 1000) * this.opts.refillPerSecond);
    b.at = t;
    if (b.tokens >= this.opts.burst) {
      this.buckets.delete(source);
      return undefined;
    }
    return b;
  }
}

/**
 * The source a request is counted against: its address, IPv4-mapped IPv6 as IPv4, and IPv6 by
 * its /64 — one host commonly holds a whole /64, and counting each of its 2^64 addresses apart
 * would make the limit no limit.
 */
export function sourceOf(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4) return v4[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
