import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { backendSkip, commandExists } from '../../support/backends.js';

/**
 * The Docker daemon the cloud tests use, through the `docker` CLI (Debian's docker.io ships it):
 * to build and `docker save` the guest image before the cloud sees it, and to look at what the
 * driver left on the daemon afterwards. The cloud itself reaches the daemon only through its
 * driver, on `[docker] socket`.
 */
export const DOCKER_SOCKET = process.env.ORRERY_DOCKER_SOCKET ?? '/var/run/docker.sock';

const run = promisify(execFile);
const host = ['-H', `unix://${DOCKER_SOCKET}`];

/** Runs the docker CLI against the test daemon; its stdout, trimmed. */
export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', [...host, ...args], { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

function daemonAnswers(): boolean {
  if (!commandExists('docker')) return false;
  try {
    execFileSync('docker', [...host, 'version', '--format', '{{.Server.Version}}'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** Skip reason without a daemon answering on DOCKER_SOCKET (a failure under ORRERY_REQUIRE_BACKENDS=1); scripts/ci-docker.sh starts one. */
export function dockerSkip(): string | false {
  return backendSkip(`the Docker daemon at ${DOCKER_SOCKET} (scripts/ci-docker.sh)`, daemonAnswers());
}

/** What the guest prints each time its container starts. */
export const CONTAINER_MARKER = 'ORRERY-CONTAINER-BOOTED';

/**
 * The guest's init: prints the marker and its hostname, writes a token on its first start (or
 * prints the one it finds), then idles. PID 1 is the driver's init (Init: true), which passes
 * SIGTERM on: the shell dies at once, so a stop never waits for its timeout.
 */
const GUEST_INIT = `#!/bin/sh
echo "${CONTAINER_MARKER} $(hostname)"
if [ -f /var/lib/orrery-token ]; then
  echo "token found $(cat /var/lib/orrery-token)"
else
  mkdir -p /var/lib
  head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /var/lib/orrery-token
  echo "token written $(cat /var/lib/orrery-token)"
fi
while true; do sleep 3600; done
`;

const BUSYBOX = '/bin/busybox';

/** Whether the ELF executable at `path` has no program interpreter (PT_INTERP), i.e. is statically linked. */
function isStatic(path: string): boolean {
  const elf = readFileSync(path);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false; // 64-bit ELF only
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (elf.readUInt32LE(phoff + i * phentsize) === 3) return false;
  return true;
}

export interface GuestImage {
  /** The `docker save` tarball. */
  file: string;
  /** The tag it was built under (removed from the daemon again: the cloud loads the tarball itself). */
  tag: string;
  /** Docker's image id (sha256:…), to look for on the daemon afterwards. */
  id: string;
}

/**
 * A busybox guest image built on the daemon without a registry (`docker import` of a root with
 * busybox-static and its applet links, CMD the init above), saved with `docker save` into `dir`,
 * then removed from the daemon: what an operator uploads to the image service.
 */
export async function buildGuestImage(dir: string, name = 'orrery-test-guest'): Promise<GuestImage> {
  if (!isStatic(BUSYBOX)) throw new Error(`${BUSYBOX} is dynamically linked: install busybox-static (an image FROM scratch has no libc)`);
  const tag = `${name}:${randomBytes(4).toString('hex')}`;
  const root = mkdtempSync(join(tmpdir(), 'orrery-guest-root-'));
  try {
    mkdirSync(join(root, 'bin'));
    for (const d of ['tmp', 'var/lib', 'etc', 'proc', 'sys', 'dev', 'root']) mkdirSync(join(root, d), { recursive: true });
    copyFileSync(BUSYBOX, join(root, 'bin/busybox'));
    chmodSync(join(root, 'bin/busybox'), 0o755);
    const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox');
    for (const a of applets) symlinkSync('busybox', join(root, 'bin', a));
    writeFileSync(join(root, 'init'), GUEST_INIT, { mode: 0o755 });
    const tarball = join(root, '..', `${tag.replace(/[:/]/g, '-')}.rootfs.tar`);
    execFileSync('tar', ['-C', root, '-cf', tarball, '.']);
    try {
      await docker('import', '--change', 'CMD ["/bin/sh", "/init"]', tarball, tag);
    } finally {
      rmSync(tarball, { force: true });
    }
    const id = await docker('image', 'inspect', '--format', '{{.Id}}', tag);
    const file = join(dir, `${tag.replace(/[:/]/g, '-')}.tar`);
    await docker('save', '-o', file, tag);
    await docker('rmi', tag);
    return { file, tag, id };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Containers on the daemon (running or not) whose name or any label mentions one of `ids`. */
export async function containersOf(ids: string[]): Promise<Array<{ id: string; name: string; labels: Record<string, string> }>> {
  const all = (await docker('ps', '-aq', '--no-trunc')).split('\n').filter(Boolean);
  if (all.length === 0) return [];
  const seen = JSON.parse(await docker('inspect', ...all)) as Array<{ Id: string; Name: string; Config: { Labels: Record<string, string> | null } }>;
  return seen.filter((c) => ids.some((id) => c.Name.includes(id) || Object.values(c.Config.Labels ?? {}).some((v) => v.includes(id))))
    .map((c) => ({ id: c.Id, name: c.Name, labels: c.Config.Labels ?? {} }));
}

/** Images on the daemon with one of `dockerIds` as their id, or a tag or label mentioning one of `names` (the cloud's image ids, a build tag). */
export async function imagesOf(dockerIds: string[], names: string[]): Promise<string[]> {
  const all = (await docker('images', '-aq', '--no-trunc')).split('\n').filter(Boolean);
  if (all.length === 0) return [];
  const seen = JSON.parse(await docker('image', 'inspect', ...new Set(all))) as Array<{ Id: string; RepoTags: string[] | null; Config: { Labels: Record<string, string> | null } | null }>;
  return seen.filter((i) => dockerIds.includes(i.Id) ||
    names.some((n) => (i.RepoTags ?? []).some((t) => t.includes(n)) || Object.values(i.Config?.Labels ?? {}).some((v) => v.includes(n))))
    .map((i) => `${i.Id} ${(i.RepoTags ?? []).join(',')}`);
}

/** The HostConfig limits `docker inspect` shows for container `id`. */
export async function limitsOf(id: string): Promise<{ memory: number; nanoCpus: number; cpuQuota: number; cpuPeriod: number; cpuShares: number; pidsLimit: number | null }> {
  const [c] = JSON.parse(await docker('inspect', id)) as Array<{ HostConfig: Record<string, number | null> }>;
  const h = c!.HostConfig;
  return {
    memory: h.Memory ?? 0, nanoCpus: h.NanoCpus ?? 0, cpuQuota: h.CpuQuota ?? 0, cpuPeriod: h.CpuPeriod ?? 0,
    cpuShares: h.CpuShares ?? 0, pidsLimit: h.PidsLimit ?? null,
  };
}
