import { execFileSync } from 'node:child_process';
import { docker } from '../../../packages/driver-docker/test/support/docker.js';

/**
 * What the cloud tests look at on the Docker daemon from outside the cloud (the cloud reaches
 * it only through its driver): the containers and images of a test's servers and images, and a
 * container's cgroup limits. The daemon, its socket and the busybox image come from the
 * driver's own test support (packages/driver-docker/test/support).
 */
export { docker, dockerSkip, dockerSocket } from '../../../packages/driver-docker/test/support/docker.js';
export { BOOT_MARKER, buildBusyboxImage, type BusyboxImage } from '../../../packages/driver-docker/test/support/busybox-image.js';

/** The image id (sha256:…) the `docker save` tarball at `path` loads as: its manifest's config. */
export function imageIdOf(path: string): string {
  const manifest = JSON.parse(execFileSync('tar', ['-xOf', path, 'manifest.json'], { encoding: 'utf8' })) as Array<{ Config: string }>;
  const config = manifest[0]?.Config ?? '';
  return `sha256:${config.replace(/^blobs\/sha256\//, '').replace(/\.json$/, '')}`;
}

interface Inspected {
  Id: string;
  Name?: string;
  RepoTags?: string[] | null;
  Config: { Labels: Record<string, string> | null } | null;
  HostConfig?: Record<string, number | null>;
}

/** `docker inspect` of what was listed a moment ago; one removed meanwhile (the daemon is shared) is left out. */
function inspect(kind: 'container' | 'image', ids: string[]): Inspected[] {
  if (ids.length === 0) return [];
  try {
    return JSON.parse(docker([kind, 'inspect', ...new Set(ids)])) as Inspected[];
  } catch {
    return [...new Set(ids)].flatMap((id) => {
      try {
        return JSON.parse(docker([kind, 'inspect', id])) as Inspected[];
      } catch {
        return [];
      }
    });
  }
}
const mentions = (o: Inspected, names: string[]): boolean =>
  names.some((n) => (o.Name ?? '').includes(n) || (o.RepoTags ?? []).some((t) => t.includes(n)) || Object.values(o.Config?.Labels ?? {}).some((v) => v.includes(n)));

/** Containers on the daemon (running or not) whose name or any label mentions one of `ids` (servers' ids). */
export function containersOf(ids: string[]): string[] {
  const all = docker(['ps', '-aq', '--no-trunc']).split('\n').filter(Boolean);
  return inspect('container', all).filter((c) => mentions(c, ids)).map((c) => c.Id);
}

/** Images on the daemon with one of `imageIds` as their id, or a tag or label mentioning one of `names` (the cloud's image ids). */
export function imagesOf(imageIds: string[], names: string[]): string[] {
  const all = docker(['images', '-aq', '--no-trunc']).split('\n').filter(Boolean);
  return inspect('image', all).filter((i) => imageIds.includes(i.Id) || mentions(i, names)).map((i) => `${i.Id} ${(i.RepoTags ?? []).join(',')}`);
}

/** The cgroup limits `docker inspect` shows for container `id`. */
export function limitsOf(id: string): { memory: number; nanoCpus: number; cpuQuota: number; cpuPeriod: number; pidsLimit: number | null } {
  const h = inspect('container', [id])[0]!.HostConfig ?? {};
  return { memory: h.Memory ?? 0, nanoCpus: h.NanoCpus ?? 0, cpuQuota: h.CpuQuota ?? 0, cpuPeriod: h.CpuPeriod ?? 0, pidsLimit: h.PidsLimit ?? null };
}
