import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FairQueue } from '../../src/auth/fair-queue.js';
import { FailureLimiter, sourceOf } from '../../src/auth/failure-limit.js';
import { TooManyRequests } from '../../src/common/errors.js';

/** A job that records when it starts and finishes when the test opens it. */
function gate(started: string[], name: string): { job: () => Promise<string>; open: () => void } {
  let open!: () => void;
  const done = new Promise<void>((r) => (open = r));
  return { job: async () => { started.push(name); await done; return name; }, open };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe('FairQueue', () => {
  it('serves waiting sources round-robin: a flood from one source delays another by one job, not by the flood', async () => {
    const q = new FairQueue(1);
    const started: string[] = [];
    const plan: Array<[string, string]> = [['flood', 'f0'], ['flood', 'f1'], ['flood', 'f2'], ['flood', 'f3'], ['flood', 'f4'], ['other', 'o0'], ['flood', 'f5']];
    const jobs = plan.map(([source, name]) => ({ source, ...gate(started, name) }));
    const results = jobs.map((j) => q.run(j.source, j.job));
    await settle();
    assert.deepEqual(started, ['f0']);
    assert.equal(q.queued, 6);
    for (const j of jobs) {
      j.open();
      await settle();
    }
    assert.deepEqual(await Promise.all(results), plan.map(([, name]) => name));
    assert.deepEqual(started, ['f0', 'f1', 'o0', 'f2', 'f3', 'f4', 'f5']);
    assert.equal(q.queued, 0);
  });

  it('runs up to its concurrency at once and refuses a source with too many jobs waiting (429), not the others', async () => {
    const q = new FairQueue(2, 2);
    const started: string[] = [];
    const gates = ['a', 'b', 'c', 'd'].map((n) => gate(started, n));
    const running = gates.map((g) => q.run('s', g.job));
    await settle();
    assert.deepEqual(started, ['a', 'b']);
    await assert.rejects(q.run('s', async () => 'e'), TooManyRequests);
    const other = q.run('t', async () => 't');
    for (const g of gates) g.open();
    assert.deepEqual(await Promise.all(running), ['a', 'b', 'c', 'd']);
    assert.equal(await other, 't');
  });

  it('frees its slot when a job fails', async () => {
    const q = new FairQueue(1);
    await assert.rejects(q.run('s', async () => { throw new Error('boom'); }), /boom/);
    assert.equal(await q.run('s', async () => 'next'), 'next');
  });
});

describe('FailureLimiter', () => {
  const limiter = (clock: { t: number }, o: Partial<{ burst: number; refillPerSecond: number; maxSources: number }> = {}): FailureLimiter =>
    new FailureLimiter({ burst: 3, refillPerSecond: 1, maxSources: 100, ...o, clock: () => clock.t });

  it('lets a source fail `burst` times, then refuses it with 429 until a failure refills', () => {
    const clock = { t: 0 };
    const l = limiter(clock);
    for (let i = 0; i < 3; i++) {
      l.check('a');
      l.fail('a');
    }
    assert.throws(() => l.check('a'), (e: unknown) => e instanceof TooManyRequests && /retry in 1 s/.test(e.message));
    l.check('b'); // another source has its own bucket
    clock.t += 999;
    assert.throws(() => l.check('a'), TooManyRequests);
    clock.t += 1;
    l.check('a');
    l.fail('a');
    assert.throws(() => l.check('a'), TooManyRequests);
    clock.t += 3000; // full again: forgotten
    l.check('a');
    assert.equal(l.size, 0);
  });

  it('remembers a bounded number of sources, the least recently failing forgotten first', () => {
    const clock = { t: 0 };
    const l = limiter(clock, { burst: 1, refillPerSecond: 0.001, maxSources: 2 });
    for (const s of ['a', 'b', 'c']) l.fail(s);
    assert.equal(l.size, 2);
    l.check('a'); // forgotten: a fresh bucket
    assert.throws(() => l.check('b'), TooManyRequests);
    assert.throws(() => l.check('c'), TooManyRequests);
  });

  it('is off with a burst of 0, and refuses nonsense settings at start', () => {
    const l = new FailureLimiter({ burst: 0, refillPerSecond: 0, maxSources: 0 });
    for (let i = 0; i < 100; i++) l.fail('a');
    l.check('a');
    assert.equal(l.size, 0);
    assert.throws(() => new FailureLimiter({ burst: -1, refillPerSecond: 1, maxSources: 1 }), /burst must be a number >= 0/);
    assert.throws(() => new FailureLimiter({ burst: 10, refillPerSecond: 0, maxSources: 1 }), /refill rate/);
  });

  it('counts IPv4-mapped addresses as IPv4 and IPv6 addresses by their /64', () => {
    assert.equal(sourceOf('192.0.2.7'), '192.0.2.7');
    assert.equal(sourceOf('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(sourceOf('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(sourceOf('2001:0db8:0001:0002:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
    assert.equal(sourceOf('2001:db8::5'), '2001:db8:0:0::/64');
    assert.equal(sourceOf('::1'), '0:0:0:0::/64');
  });
});
