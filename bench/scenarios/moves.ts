import { performance } from 'node:perf_hooks';
import type { Deployment } from '../deployments.js';
import { HttpClient } from '../http.js';
import { OpenStackSession } from '../openstack.js';
import type { ProgressSink } from '../progress.js';
import { round, summarize, type LatencySummary } from '../stats.js';

/**
 * Moves (issue #12) on the fake driver: `n` servers booted on a fresh all-in-one (two compute
 * hosts), then each resized to a bigger flavor and confirmed, then each live-migrated to the
 * other host (the scheduler picks it), `concurrency` moves at a time. Measured per move, from
 * the POST to the state the user waits for (polled every `pollMs`): resize → VERIFY_RESIZE,
 * confirm → ACTIVE, live migration → ACTIVE on another host. The fake driver's own time is in
 * these: a live migration's simulated copy takes `[fake] live_migration_ms` (300 ms by default).
 */

export interface MovesOptions {
  n: number;
  concurrency: number;
  pollMs: number;
  /** A move not done after this long counts as failed. */
  timeoutMs: number;
}

export interface MovesResult {
  skipped: string | null;
  n: number;
  concurrency: number;
  target: string;
  /** POST resize → VERIFY_RESIZE. */
  resizeMs: LatencySummary | null;
  /** POST confirmResize → ACTIVE, no task. */
  confirmMs: LatencySummary | null;
  /** POST os-migrateLive → ACTIVE, no task, on another host. */
  liveMs: LatencySummary | null;
  /** Moves per second over each phase (n / the phase's wall time). */
  resizePerSecond: number | null;
  livePerSecond: number | null;
  failures: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `work` over `items`, `concurrency` at a time. */
async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

type View = { status: string; 'OS-EXT-STS:task_state'?: string | null; 'OS-EXT-SRV-ATTR:host'?: string | null; fault?: { message: string } };

export async function runMoves(deployment: Deployment, o: MovesOptions, progress: ProgressSink): Promise<MovesResult> {
  const empty = { n: o.n, concurrency: o.concurrency, resizeMs: null, confirmMs: null, liveMs: null, resizePerSecond: null, livePerSecond: null };
  const reason = await deployment.unavailable();
  if (reason) {
    progress.note(`moves: skipped: ${reason}`);
    return { ...empty, skipped: reason, target: deployment.name, failures: [] };
  }
  // Every server fits on either host at the bigger flavor, twice over (source and destination claims during a move).
  const per = 2 * (o.n + 1);
  const cloud = await deployment.start({ capacity: { vcpus: 2 * per, memoryMb: 1024 * per, diskGb: 2 * per }, nodeArgs: [], env: {}, keepState: false });
  const http = new HttpClient(Math.max(4, o.concurrency * 2));
  const failures: string[] = [];
  const fail = (what: string): void => {
    if (failures.length < 10) failures.push(what);
  };
  try {
    const s = await OpenStackSession.login(http, cloud.credentials);
    await s.setQuota({ instances: o.n + 10, cores: 4 * (o.n + 10), ram: 2048 * (o.n + 10) });
    const image = await s.findImage('orrery-tiny');
    const small = await s.findFlavor('m1.nano');
    const big = (await s.computeOk([200], 'POST', '/flavors', { flavor: { name: 'bench.moves', ram: 256, vcpus: 2, disk: 2 } })).body.flavor.id as string;

    const settled = (v: View): boolean => v.status === 'ACTIVE' && !v['OS-EXT-STS:task_state'];
    const view = async (id: string): Promise<View> => (await s.computeOk<{ server: View }>([200], 'GET', `/servers/${id}`)).body.server;
    /** Polls until `done(view)`; answers the elapsed ms, or null (and a failure) on ERROR or timeout. */
    const waitUntil = async (id: string, what: string, t0: number, done: (v: View) => boolean): Promise<number | null> => {
      for (;;) {
        const v = await view(id);
        if (done(v)) return performance.now() - t0;
        // ERROR, or back to ACTIVE with no task without reaching the goal: the move failed (and was undone).
        if (v.status === 'ERROR' || settled(v)) {
          fail(`${what} of ${id}: ${v.status}${v.fault ? ` (${v.fault.message})` : ''}`);
          return null;
        }
        if (performance.now() - t0 > o.timeoutMs) {
          fail(`${what} of ${id}: still ${v.status}/${v['OS-EXT-STS:task_state']} after ${o.timeoutMs / 1000} s`);
          return null;
        }
        await sleep(o.pollMs);
      }
    };

    const boots = progress.start(`moves: booting ${o.n}`, o.n);
    const ids: string[] = [];
    await pool(Array.from({ length: o.n }, (_, i) => i), o.concurrency, async (i) => {
      const r = await s.computeOk([202], 'POST', '/servers', { server: { name: `mv${i}`, imageRef: image, flavorRef: small.id, networks: 'none' } });
      const id = r.body.server.id as string;
      if ((await waitUntil(id, 'boot', performance.now(), settled)) !== null) ids.push(id);
      boots.update(ids.length);
    });
    boots.finish();

    const resizeMs: number[] = [];
    const confirmMs: number[] = [];
    const resizes = progress.start(`moves: resize + confirm, ${o.concurrency} at a time`, ids.length);
    const r0 = performance.now();
    await pool([...ids], o.concurrency, async (id) => {
      const t0 = performance.now();
      const r = await s.compute('POST', `/servers/${id}/action`, { resize: { flavorRef: big } });
      if (r.status !== 202) return fail(`resize of ${id}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      const ms = await waitUntil(id, 'resize', t0, (v) => v.status === 'VERIFY_RESIZE' && !v['OS-EXT-STS:task_state']);
      if (ms === null) return;
      resizeMs.push(ms);
      const t1 = performance.now();
      const c = await s.compute('POST', `/servers/${id}/action`, { confirmResize: null });
      if (c.status !== 204 && c.status !== 202) return fail(`confirm of ${id}: ${c.status} ${JSON.stringify(c.body).slice(0, 200)}`);
      const cms = await waitUntil(id, 'confirm', t1, settled);
      if (cms !== null) confirmMs.push(cms);
      resizes.update(confirmMs.length);
    });
    const resizeWall = performance.now() - r0;
    resizes.finish();

    const liveMs: number[] = [];
    const lives = progress.start(`moves: live migration, ${o.concurrency} at a time`, ids.length);
    const l0 = performance.now();
    await pool([...ids], o.concurrency, async (id) => {
      const from = (await view(id))['OS-EXT-SRV-ATTR:host'];
      const t0 = performance.now();
      const r = await s.compute('POST', `/servers/${id}/action`, { 'os-migrateLive': { host: null, block_migration: 'auto' } });
      if (r.status !== 202) return fail(`live migration of ${id}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      const ms = await waitUntil(id, 'live', t0, (v) => settled(v) && v['OS-EXT-SRV-ATTR:host'] !== from);
      if (ms !== null) liveMs.push(ms);
      lives.update(liveMs.length);
    });
    const liveWall = performance.now() - l0;
    lives.finish();

    return {
      skipped: null, n: o.n, concurrency: o.concurrency, target: cloud.description, failures,
      resizeMs: resizeMs.length ? summarize(resizeMs) : null,
      confirmMs: confirmMs.length ? summarize(confirmMs) : null,
      liveMs: liveMs.length ? summarize(liveMs) : null,
      resizePerSecond: confirmMs.length ? round(confirmMs.length / (resizeWall / 1000), 2) : null,
      livePerSecond: liveMs.length ? round(liveMs.length / (liveWall / 1000), 2) : null,
    };
  } finally {
    http.close();
    await cloud.stop();
  }
}

/** The Markdown section of the report ("Moves"). */
export function movesMarkdown(results: MovesResult[]): string {
  const lines = ['## Moves (fake driver)', ''];
  const ms = (l: LatencySummary | null): string => (l ? `${l.p50} / ${l.p95} / ${l.p99} / ${l.max}` : '—');
  lines.push('| n | clients | resize → VERIFY_RESIZE ms (p50/p95/p99/max) | confirm → ACTIVE ms | resize+confirm /s | live migration ms | live /s | failures |');
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    if (r.skipped) {
      lines.push(`| ${r.n} | ${r.concurrency} | skipped: ${r.skipped} | | | | | |`);
      continue;
    }
    lines.push(`| ${r.n} | ${r.concurrency} | ${ms(r.resizeMs)} | ${ms(r.confirmMs)} | ${r.resizePerSecond ?? '—'} | ${ms(r.liveMs)} | ${r.livePerSecond ?? '—'} | ${r.failures.length} |`);
  }
  const failed = results.flatMap((r) => r.failures);
  if (failed.length > 0) lines.push('', 'Failures (first ones):', ...failed.map((f) => `- ${f}`));
  lines.push('', `Target: ${results.find((r) => !r.skipped)?.target ?? '—'}.`, '');
  return lines.join('\n');
}
