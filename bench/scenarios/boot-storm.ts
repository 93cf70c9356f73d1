import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import type { CloudUnderTest } from '../deployments.js';
import { HttpClient } from '../http.js';
import { OpenStackSession } from '../openstack.js';
import { ResourceMeter, readProc, type ResourceUse } from '../proc.js';
import type { Progress, ProgressSink } from '../progress.js';
import { round, summarize, type LatencySummary } from '../stats.js';
import { sleep } from '../../src/common/time.js';
import { emptyProbe, probeServer, slowestAt, type Probe } from './read-probe.js';

/**
 * The boot storm, as a user (or Rally) measures it through the public API: N servers created by
 * C concurrent clients, polled every 100 ms until all are ACTIVE, while one more client reads a
 * server booted before the storm every `probeMs` (what a user watching their own server sees
 * while someone else boots N); then listing with N servers present; then deleting them all.
 * Last, unmetered, one POST creating min(N, `multiCreate`) servers at once (min_count =
 * max_count), with the probe reading meanwhile: one request's worth of work that the cloud
 * must not do in one go.
 */

export interface BootStormOptions {
  n: number;
  concurrency: number;
  flavor: string;
  image: string;
  /** Poll interval for ACTIVE and gone (ms). */
  pollMs: number;
  /** How many GET /servers/detail to time with N servers present. */
  listSamples: number;
  /** Give up when no server changes state for this long (ms). */
  stallMs: number;
  /** Servers booted and deleted, unmeasured, before the storm: the cloud under test just started. */
  warmup: number;
  /** Interval of the probe's GET /servers/{id} during the boot (ms, start to start; 0: no probe). */
  probeMs: number;
  /** Servers of the multi-create after the storm, at most N (0: none). */
  multiCreate: number;
}

/** One POST with min_count = max_count = `count`, and the probe meanwhile. */
export interface MultiCreateResult {
  count: number;
  /** Its servers that reached ACTIVE. */
  active: number;
  /** The POST's own latency. */
  postMs: number;
  /** From the POST until the poll that saw none of them BUILD. */
  seconds: number;
  /** The probe's GET /servers/{id}, from the POST until none of them is BUILD. */
  probeGetMs: LatencySummary;
  probeMaxAtSeconds: number | null;
}

export interface BootStormResult {
  n: number;
  concurrency: number;
  flavor: string;
  /** Servers that reached ACTIVE, and those that did not (ERROR, or a refused POST). */
  active: number;
  failed: number;
  failures: string[];
  /** From the first POST until the poll that saw every server ACTIVE. */
  bootSeconds: number;
  serversPerSecond: number;
  postMs: LatencySummary;
  /** GET /servers/detail (no filter, the first page: up to 1000 servers) with N servers present. */
  listDetailMs: LatencySummary;
  /** The whole listing, following servers_links, with N servers present. */
  listAllMs: LatencySummary;
  listPages: number;
  listedServers: number;
  /**
   * GET /servers/{id} of a server booted before the storm, one request after another every
   * `probeMs`, from the first POST until the storm is ACTIVE: a stall of the cloud's event loop
   * shows here as one slow answer, which a median over POSTs hides.
   */
  probeGetMs: LatencySummary;
  /** When the slowest probe was sent, in seconds from the first POST. */
  probeMaxAtSeconds: number | null;
  /** The multi-create after the storm (null: not run, or its POST was refused: see failures). */
  multiCreate: MultiCreateResult | null;
  deleteMs: LatencySummary;
  /** From the first DELETE until the poll that found none of them left. */
  deleteSeconds: number;
  deletesPerSecond: number;
  /** The cloud's processes over the whole run (null when they are not on this machine). */
  cloud: ResourceUse | null;
  /** The cloud's resident memory with N servers ACTIVE (MB). */
  cloudRssWithNMb: number | null;
  /** CPU seconds the benchmark client itself spent. */
  clientCpuSeconds: number;
  /** servers/s of every repeat, when the storm was repeated (this result is the median one). */
  repeatRates?: number[];
}

/** Runs `count` jobs on `concurrency` workers, in order of index. */
async function pool(count: number, concurrency: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await job(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** Polls `check` every `intervalMs` (from the start of one poll to the next) until it returns true. */
async function pollUntil(intervalMs: number, stallMs: number, what: string, check: () => Promise<{ done: boolean; progress: number }>): Promise<number> {
  let lastProgress = -1;
  let lastChange = performance.now();
  for (;;) {
    const started = performance.now();
    const { done, progress } = await check();
    const t = performance.now();
    if (done) return t;
    if (progress !== lastProgress) {
      lastProgress = progress;
      lastChange = t;
    } else if (t - lastChange > stallMs) {
      throw new Error(`${what}: no progress for ${stallMs / 1000} s`);
    }
    await sleep(Math.max(0, intervalMs - (t - started)));
  }
}

interface Phase {
  label: string;
  concurrency: number;
  pollMs: number;
  stallMs: number;
}

interface Booted {
  ids: string[];
  postMs: number[];
  failures: string[];
  /** From the first POST until the poll that saw none of them BUILD. */
  seconds: number;
}

/** Polls every `pollMs` until none of the `count` servers named `^prefix` is BUILD; returns when (performance.now()). */
function untilNoneBuilding(session: OpenStackSession, p: Phase, bar: Progress, prefix: string, count: number): Promise<number> {
  return pollUntil(p.pollMs, p.stallMs, `${p.label}: waiting for ACTIVE`, async () => {
    const { servers } = await session.listAll(`/servers?status=BUILD&name=${encodeURIComponent(`^${prefix}`)}`);
    bar.update(count - servers.length, `building ${servers.length}`);
    return { done: servers.length === 0, progress: count - servers.length };
  });
}

interface MultiCreated {
  result: MultiCreateResult | null;
  ids: string[];
  failures: string[];
}

/** One POST creating `count` servers named `<prefix>m-<i>`, with the probe reading meanwhile, until none of them is BUILD. */
async function multiCreate(
  session: OpenStackSession, p: Phase, bar: Progress, prefix: string, count: number, server: Record<string, unknown>,
  probeId: string | null, probeMs: number,
): Promise<MultiCreated> {
  const probing = probeId ? probeServer(session, probeId, probeMs) : null;
  const t0 = performance.now();
  const run = (async () => {
    const res = await session.compute('POST', '/servers', { server: { ...server, name: `${prefix}m`, min_count: count, max_count: count } });
    return { res, tDone: res.status === 202 ? await untilNoneBuilding(session, p, bar, prefix, count) : performance.now() };
  })();
  const { res, tDone } = await run.finally(() => probing?.stop());
  const probe: Probe = (await probing?.stop()) ?? emptyProbe();
  const failures = probe.failures.map((f) => `multi-create: ${f}`);
  const { servers } = await session.listAll(`/servers/detail?name=${encodeURIComponent(`^${prefix}`)}`);
  const ids = servers.map((s) => s.id);
  if (res.status !== 202) {
    failures.push(`multi-create of ${count}: POST /servers ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`);
    return { result: null, ids, failures };
  }
  const active = servers.filter((s) => s.status === 'ACTIVE').length;
  if (active < count) failures.push(`multi-create of ${count}: ${active} ACTIVE`);
  const probeGetMs = summarize(probe.ms);
  bar.finish(`${active} ACTIVE in ${((tDone - t0) / 1000).toFixed(2)} s (POST ${round(res.ms)} ms)` +
    (probe.ms.length > 0 ? `; GET /servers/{id} p99 ${probeGetMs.p99} ms, max ${probeGetMs.max} ms` : ''));
  return {
    result: { count, active, postMs: round(res.ms), seconds: round((tDone - t0) / 1000, 3), probeGetMs, probeMaxAtSeconds: slowestAt(probe) },
    ids, failures,
  };
}

/** C clients POST `count` servers; one poller waits, every `pollMs`, until none of them is BUILD. */
async function bootServers(
  session: OpenStackSession, p: Phase, bar: Progress, prefix: string, count: number, server: Record<string, unknown>,
): Promise<Booted> {
  const postMs: number[] = [];
  const failures: string[] = [];
  const ids: string[] = [];
  let posted = 0;
  let allPosted = false;
  const t0 = performance.now();
  const posting = pool(count, p.concurrency, async (i) => {
    const res = await session.compute('POST', '/servers', { server: { ...server, name: `${prefix}${i}` } });
    postMs.push(res.ms);
    if (res.status === 202) ids.push((res.body as { server: { id: string } }).server.id);
    else failures.push(`POST /servers ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`);
    posted++;
  }).then(() => {
    allPosted = true;
  });
  const tActive = await pollUntil(p.pollMs, p.stallMs, `${p.label}: waiting for ACTIVE`, async () => {
    const postedBefore = allPosted;
    // The poll only counts servers in BUILD: the brief listing says as much as the detailed one.
    const { servers } = await session.listAll(`/servers?status=BUILD&name=${encodeURIComponent(`^${prefix}`)}`);
    const done = posted - servers.length;
    bar.update(done, `posted ${posted}, building ${servers.length}`);
    return { done: postedBefore && servers.length === 0, progress: done };
  });
  await posting;
  return { ids, postMs, failures, seconds: (tActive - t0) / 1000 };
}

interface Deleted {
  deleteMs: number[];
  failures: string[];
  /** From the first DELETE until the poll that found none of them left. */
  seconds: number;
}

/** C clients DELETE the servers; one poller waits until the listing has none of them. */
async function deleteServers(session: OpenStackSession, p: Phase, bar: Progress, prefix: string, ids: string[]): Promise<Deleted> {
  const deleteMs: number[] = [];
  const failures: string[] = [];
  let sent = 0;
  let allSent = false;
  const t0 = performance.now();
  const deleting = pool(ids.length, p.concurrency, async (i) => {
    const res = await session.compute('DELETE', `/servers/${ids[i]}`);
    deleteMs.push(res.ms);
    if (res.status !== 204) failures.push(`DELETE /servers ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`);
    sent++;
  }).then(() => {
    allSent = true;
  });
  const tGone = await pollUntil(p.pollMs, p.stallMs, `${p.label}: waiting for deletes`, async () => {
    const sentBefore = allSent;
    const { servers } = await session.listAll(`/servers?name=${encodeURIComponent(`^${prefix}`)}`);
    bar.update(ids.length - servers.length, `sent ${sent}`);
    return { done: sentBefore && servers.length === 0, progress: servers.length };
  });
  await deleting;
  return { deleteMs, failures, seconds: (tGone - t0) / 1000 };
}

const NO_BAR: Progress = { update() {}, finish() {} };

export async function runBootStorm(cloud: CloudUnderTest, o: BootStormOptions, progress: ProgressSink): Promise<BootStormResult> {
  const http = new HttpClient(o.concurrency + 2);
  try {
    const session = await OpenStackSession.login(http, cloud.credentials);
    const flavor = await session.findFlavor(o.flavor);
    const imageRef = await session.findImage(o.image);
    // The storm's N, and the probe's server.
    const restoreQuota = await raiseQuota(session, Math.max(o.n, o.warmup) + 1, flavor, progress);
    const label = `boot storm N=${o.n} C=${o.concurrency}`;
    const phase: Phase = { label, concurrency: o.concurrency, pollMs: o.pollMs, stallMs: o.stallMs };
    const server = { imageRef, flavorRef: flavor.id, networks: 'none' };
    const newPrefix = (): string => `bench-${randomBytes(4).toString('hex')}-`;

    // ---- warm-up, not measured: a cloud that has just started runs cold code
    if (o.warmup > 0) {
      const prefix = newPrefix();
      const warm = await bootServers(session, phase, NO_BAR, prefix, o.warmup, server);
      await deleteServers(session, phase, NO_BAR, prefix, warm.ids);
    }

    // ---- the probe's server, booted before the storm (its own prefix: the storm's polls do not see it)
    const probePrefix = newPrefix();
    const probed = o.probeMs > 0 ? await bootServers(session, phase, NO_BAR, probePrefix, 1, server) : null;
    const probeId = probed?.ids[0] ?? null;

    const cpu0 = process.cpuUsage();
    const meter = new ResourceMeter(cloud.pids);
    const prefix = newPrefix();

    // ---- boot N, with the probe reading its server meanwhile
    const bar = progress.start(`${label}: boot`, o.n);
    const probing = probeId ? probeServer(session, probeId, o.probeMs) : null;
    const boot = await bootServers(session, phase, bar, prefix, o.n, server).finally(() => probing?.stop());
    const probe: Probe = (await probing?.stop()) ?? emptyProbe();
    const failures = [...(probed?.failures ?? []), ...boot.failures, ...probe.failures];
    if (o.probeMs > 0 && !probeId) failures.push('the probe\'s server did not boot: no GET /servers/{id} measured');
    const final = await session.listAll(`/servers/detail?name=${encodeURIComponent(`^${prefix}`)}`);
    const active = final.servers.filter((s) => s.status === 'ACTIVE').length;
    for (const s of final.servers) if (s.status !== 'ACTIVE') failures.push(`server ${s.id} is ${s.status}`);
    const probeMs = summarize(probe.ms);
    bar.finish(`${active} ACTIVE in ${boot.seconds.toFixed(2)} s (${(active / boot.seconds).toFixed(1)}/s)` +
      (probe.ms.length > 0 ? `; GET /servers/{id} p99 ${probeMs.p99} ms, max ${probeMs.max} ms` : ''));
    const cloudRssWithN = cloud.pids.reduce((sum, pid) => sum + (readProc(pid)?.rssBytes ?? 0), 0);

    // ---- list with N present
    const listBar = progress.start(`${label}: list`, o.listSamples);
    const firstPage: number[] = [];
    const whole: number[] = [];
    let pages = 0;
    let listed = 0;
    for (let i = 0; i < o.listSamples; i++) {
      const t = performance.now();
      const res = await session.listAll('/servers/detail');
      whole.push(performance.now() - t);
      firstPage.push(res.pageMs[0]!);
      pages = res.pageMs.length;
      listed = res.servers.length;
      listBar.update(i + 1);
    }
    listBar.finish(`median ${summarize(firstPage).p50} ms for ${Math.min(listed, 1000)} servers`);

    // ---- delete them all
    const delBar = progress.start(`${label}: delete`, boot.ids.length);
    const del = await deleteServers(session, phase, delBar, prefix, boot.ids);
    failures.push(...del.failures);
    delBar.finish(`gone in ${del.seconds.toFixed(2)} s`);

    const use = meter.stop();
    const cpu = process.cpuUsage(cpu0);

    // ---- the multi-create, unmetered (the storm's servers are gone: the quota has room for it)
    let multi: MultiCreateResult | null = null;
    const multiCount = Math.min(o.n, o.multiCreate);
    if (multiCount > 0) {
      const multiPrefix = newPrefix();
      const made = await multiCreate(session, phase, progress.start(`${label}: one POST of ${multiCount}`, multiCount), multiPrefix, multiCount, server, probeId, o.probeMs);
      multi = made.result;
      failures.push(...made.failures);
      if (made.ids.length > 0) failures.push(...(await deleteServers(session, phase, NO_BAR, multiPrefix, made.ids)).failures);
    }
    if (probed && probed.ids.length > 0) failures.push(...(await deleteServers(session, phase, NO_BAR, probePrefix, probed.ids)).failures);
    await restoreQuota();
    return {
      n: o.n,
      concurrency: o.concurrency,
      flavor: flavor.name,
      active,
      failed: o.n - active,
      failures: failures.slice(0, 20),
      bootSeconds: round(boot.seconds, 3),
      serversPerSecond: round(active / boot.seconds, 1),
      postMs: summarize(boot.postMs),
      listDetailMs: summarize(firstPage),
      listAllMs: summarize(whole),
      listPages: pages,
      listedServers: listed,
      probeGetMs: probeMs,
      probeMaxAtSeconds: slowestAt(probe),
      multiCreate: multi,
      deleteMs: summarize(del.deleteMs),
      deleteSeconds: round(del.seconds, 3),
      deletesPerSecond: round(boot.ids.length / del.seconds, 1),
      cloud: use,
      cloudRssWithNMb: cloud.pids.length > 0 ? round(cloudRssWithN / 1024 / 1024, 1) : null,
      clientCpuSeconds: round((cpu.user + cpu.system) / 1e6, 2),
    };
  } finally {
    http.close();
  }
}

/**
 * Raises the project's instances, cores and ram quotas (through os-quota-sets) so that N more
 * servers fit, and returns how to put them back. Quotas stay on: they are checked on every boot.
 */
async function raiseQuota(
  session: OpenStackSession, n: number, flavor: { vcpus: number; ram: number }, progress: ProgressSink,
): Promise<() => Promise<void>> {
  const detail = await session.quotaDetail();
  const want: Record<string, number> = { instances: n, cores: n * flavor.vcpus, ram: n * flavor.ram };
  const raised: Record<string, number> = {};
  const original: Record<string, number> = {};
  for (const [resource, amount] of Object.entries(want)) {
    const q = detail[resource];
    if (!q || q.limit === -1 || q.limit >= q.in_use + amount) continue;
    original[resource] = q.limit;
    raised[resource] = q.in_use + amount;
  }
  if (Object.keys(raised).length === 0) return async () => undefined;
  try {
    await session.setQuota(raised);
  } catch (err) {
    progress.note(`warning: could not raise the quota (${err instanceof Error ? err.message : String(err)}); the storm may be refused`);
    return async () => undefined;
  }
  return async () => {
    await session.setQuota(original).catch(() => undefined);
  };
}
