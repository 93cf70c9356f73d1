import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import Docker from 'dockerode';
import { launchAllInOne } from '../../harness/all-in-one.js';
import { buildBusyboxImage, docker, dockerSkip, dockerSocket, imageIdOf } from '../../test/docker/support/docker.js';
import { sleep } from '../../src/common/time.js';
import { cleanEnv, credentialsFromOpenrc } from '../deployments.js';
import { HttpClient } from '../http.js';
import { OpenStackSession } from '../openstack.js';
import { silentProgress, type ProgressSink } from '../progress.js';
import { round, summarize, type LatencySummary } from '../stats.js';

/**
 * Containers as servers (issue #15): POST /servers → ACTIVE for `boots` containers booted one
 * after another on an all-in-one whose compute runs the Docker driver, beside what Docker itself
 * takes to create and start the same container (same image, same limits, Init, no network)
 * measured through the Engine API in the same run. The difference is Orrery's own cost: the
 * API, scheduling, the build flow and the driver's checks — the image is loaded once, by the
 * first boot, which is left out of both series (`warm`: the image is on the daemon).
 */

export interface DockerBootOptions {
  /** Servers booted, one at a time (the first, which loads the image, is extra and not counted). */
  boots: number;
  /** Interval of GET /servers/{id} while waiting for ACTIVE (ms): each POST→ACTIVE is measured to within it (20 from npm run bench). */
  pollMs: number;
}

export interface DockerBootResult {
  skipped: string | null;
  boots: number;
  /** POST /servers until GET /servers/{id} shows ACTIVE, ms. */
  postToActiveMs: LatencySummary | null;
  /** The first boot, which loaded the `docker save` tarball into the daemon, ms. */
  firstBootMs: number | null;
  /** Docker's own create + start of the same container, ms. */
  dockerCreateStartMs: LatencySummary | null;
}

const MEMORY_MB = 64;

/** Docker alone: create + start through the Engine API, as the driver asks for it, then removal (not timed). */
async function dockerOwn(image: string, boots: number): Promise<number[]> {
  const api = new Docker({ socketPath: dockerSocket() });
  const out: number[] = [];
  for (let i = 0; i < boots; i++) {
    const t0 = performance.now();
    const c = await api.createContainer({
      Image: image, HostConfig: { Init: true, NetworkMode: 'none', Memory: MEMORY_MB * 2 ** 20, NanoCpus: 1e9, PidsLimit: 1024 },
    });
    await c.start();
    out.push(performance.now() - t0);
    await c.remove({ force: true });
  }
  return out;
}

export async function runDockerBoot(o: DockerBootOptions, progress: ProgressSink): Promise<DockerBootResult> {
  const empty = { boots: 0, postToActiveMs: null, firstBootMs: null, dockerCreateStartMs: null };
  let reason: string | false;
  try {
    reason = dockerSkip();
  } catch (err) {
    reason = err instanceof Error ? err.message : String(err);
  }
  if (reason) {
    progress.note(`docker boot: skipped: ${reason}`);
    return { skipped: reason, ...empty };
  }
  const scratch = mkdtempSync(join(tmpdir(), 'orrery-bench-docker-'));
  const bar = progress.start('docker boot', 2 * o.boots + 1);
  const guest = await buildBusyboxImage();
  const guestId = imageIdOf(guest.path);
  const cloud = await launchAllInOne({
    baseEnv: cleanEnv(), logToFile: true,
    env: { ORRERY_COMPUTE_DRIVER: 'docker', ORRERY_COMPUTE_HOSTS: 'docker1', ORRERY_DOCKER__SOCKET: dockerSocket() },
  });
  const http = new HttpClient(4);
  try {
    // Docker's own first, on the tarball loaded by its id (removed again below).
    docker(['load', '-i', guest.path]);
    const own: number[] = [];
    try {
      own.push(...await dockerOwn(guestId, o.boots));
    } finally {
      try {
        docker(['rmi', guestId]);
      } catch {
        // gone already
      }
    }
    bar.update(o.boots, `docker create+start p50 ${round(summarize(own).p50, 0)} ms`);

    const s = await OpenStackSession.login(http, credentialsFromOpenrc(cloud.openrc));
    const img = await http.expect<{ id: string }>([201], 'POST', `${s.imageUrl}/v2/images`, { 'x-auth-token': s.token },
      { name: 'bench-busybox', container_format: 'docker', disk_format: 'raw' });
    const put = await fetch(`${s.imageUrl}/v2/images/${img.body.id}/file`, {
      method: 'PUT', headers: { 'x-auth-token': s.token, 'content-type': 'application/octet-stream' }, body: readFileSync(guest.path),
    });
    if (put.status !== 204) throw new Error(`image upload: ${put.status} ${await put.text()}`);
    // Every server stays until the end: the default quota (10 instances) would refuse the later ones.
    await s.setQuota({ instances: o.boots + 1, cores: o.boots + 1 });
    await s.computeOk([200], 'POST', '/flavors', { flavor: { name: 'bench.ct', id: 'bench.ct', ram: MEMORY_MB, vcpus: 1, disk: 1 } });

    const bootOne = async (name: string): Promise<{ id: string; ms: number }> => {
      const t0 = performance.now();
      const r = await s.computeOk<{ server: { id: string } }>([202], 'POST', '/servers', {
        server: { name, imageRef: img.body.id, flavorRef: 'bench.ct', networks: 'none' },
      });
      const id = r.body.server.id;
      for (;;) {
        const g = await s.computeOk<{ server: { status: string; fault?: { message: string } } }>([200], 'GET', `/servers/${id}`);
        if (g.body.server.status === 'ACTIVE') return { id, ms: performance.now() - t0 };
        if (g.body.server.status === 'ERROR') throw new Error(`${name} went to ERROR: ${g.body.server.fault?.message ?? '?'}`);
        await sleep(o.pollMs);
      }
    };
    const ids: string[] = [];
    const first = await bootOne('bench-ct-first');
    ids.push(first.id);
    const samples: number[] = [];
    for (let i = 0; i < o.boots; i++) {
      const b = await bootOne(`bench-ct-${i}`);
      ids.push(b.id);
      samples.push(b.ms);
      bar.update(o.boots + 1 + i, `POST→ACTIVE ${round(b.ms, 0)} ms`);
    }
    for (const id of ids) await s.computeOk([204], 'DELETE', `/servers/${id}`);
    for (;;) {
      const { servers } = await s.listAll('/servers');
      if (servers.length === 0) break;
      await sleep(200);
    }
    await http.expect([204], 'DELETE', `${s.imageUrl}/v2/images/${img.body.id}`, { 'x-auth-token': s.token });
    bar.finish();
    return {
      skipped: null, boots: o.boots, postToActiveMs: summarize(samples), firstBootMs: round(first.ms), dockerCreateStartMs: summarize(own),
    };
  } finally {
    http.close();
    await cloud.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The scenario's section of the bench report (markdown). */
export function dockerBootMarkdown(r: DockerBootResult): string {
  const out = ['', '### Docker boot', ''];
  if (r.skipped) return [...out, `- skipped: ${r.skipped}`].join('\n');
  const fmt = (s: LatencySummary | null) => (s ? `${round(s.p50, 0)} | ${round(s.p95, 0)} | ${round(s.max, 0)}` : 'n/a | n/a | n/a');
  out.push(`${r.boots} containers (busybox, ${MEMORY_MB} MiB, 1 vCPU, no network) booted one at a time on the all-in-one with the ` +
    `Docker driver, beside Docker's own create + start of the same container; ms. The first boot, which loaded the image, took ` +
    `${r.firstBootMs ?? 'n/a'} ms and is not counted.`, '');
  out.push('| | median | p95 | max |', '|---|---|---|---|');
  out.push(`| POST /servers → ACTIVE | ${fmt(r.postToActiveMs)} |`);
  out.push(`| Docker create + start | ${fmt(r.dockerCreateStartMs)} |`);
  return out.join('\n');
}

// Run on its own: node --import tsx bench/scenarios/docker-boot.ts [boots]
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const boots = Number(process.argv[2] ?? 20);
  const r = await runDockerBoot({ boots, pollMs: 20 }, silentProgress);
  process.stdout.write(`${dockerBootMarkdown(r)}\n\n${JSON.stringify(r, null, 2)}\n`);
}
