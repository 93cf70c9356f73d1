// A busybox container image built locally (no registry is reachable): busybox-static in a
// FROM-scratch root file system, `docker import`ed with a small init as its command, then
// `docker save`d to a tarball — what an image with container_format docker holds — and removed
// from the daemon again, so a driver test starts with a daemon that has never seen it.
//
// The init prints BOOT_MARKER and the hostname, the contents of every file in /root (a snapshot
// test's evidence), runs the user data when it is a script (#!), then idles until SIGTERM.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, createWriteStream } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Docker from 'dockerode';
import { tarOf, type TarEntry } from '@orrery/driver-docker';
import { dockerSocket } from './docker.js';

/** What the image's init prints first (followed by the hostname). */
export const BOOT_MARKER = 'ORRERY-CONTAINER-BOOTED';
/** What it prints on SIGTERM, before it exits. */
export const STOP_MARKER = 'ORRERY-CONTAINER-STOPPING';

const INIT = `#!/bin/sh
echo "${BOOT_MARKER} $(hostname)"
for f in /root/*; do [ -f "$f" ] && echo "FILE $f $(cat "$f")"; done
ud=/var/lib/cloud/seed/nocloud/user-data
if [ -f "$ud" ] && [ "$(head -c 2 "$ud")" = '#!' ]; then sh "$ud"; fi
trap 'echo ${STOP_MARKER}; exit 0' TERM
while :; do sleep 3600 & wait $!; done
`;

export interface BusyboxImage {
  /** The `docker save` tarball. */
  path: string;
  bytes: number;
  /** Its md5 (the image service's checksum). */
  md5: string;
}

/** Which image: the working one, or one whose container cannot start (its user does not exist). */
export type BusyboxVariant = 'ok' | 'broken';

function busyboxPath(): string {
  for (const p of ['/bin/busybox', '/usr/bin/busybox']) if (existsSync(p)) return p;
  throw new Error('busybox-static is not installed (apt-get install busybox-static)');
}

/** The root file system: busybox and a symlink per applet, /etc/passwd, /root, /tmp and the init. */
function rootfs(): Buffer {
  const bb = busyboxPath();
  const applets = execFileSync(bb, ['--list'], { encoding: 'utf8' }).split('\n').map((s) => s.trim())
    .filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox');
  const entries: TarEntry[] = [
    { path: 'bin' }, { path: 'sbin' }, { path: 'etc' }, { path: 'root', mode: 0o700 }, { path: 'tmp', mode: 0o1777 },
    { path: 'proc' }, { path: 'sys' }, { path: 'dev' }, { path: 'var' },
    { path: 'bin/busybox', data: readFileSync(bb), mode: 0o755 },
    ...applets.map((a) => ({ path: `bin/${a}`, linkTo: 'busybox' })),
    { path: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\n' },
    { path: 'etc/group', data: 'root:x:0:\n' },
    { path: 'sbin/orrery-init', data: INIT, mode: 0o755 },
  ];
  return tarOf(entries);
}

const built = new Map<BusyboxVariant, BusyboxImage>();

/**
 * Builds (or finds, cached in $ORRERY_DOCKER_IMAGE_DIR or the temp directory) the busybox image's
 * tarball. The daemon is left without it.
 */
export async function buildBusyboxImage(variant: BusyboxVariant = 'ok', socket = dockerSocket()): Promise<BusyboxImage> {
  const hit = built.get(variant);
  if (hit && existsSync(hit.path)) return hit;
  const dir = process.env.ORRERY_DOCKER_IMAGE_DIR ?? join(tmpdir(), 'orrery-docker-images');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `busybox-${variant}.tar`);
  if (!existsSync(path)) {
    const docker = new Docker({ socketPath: socket });
    const tag = `build-${randomBytes(4).toString('hex')}`;
    const repo = 'orrery-busybox';
    // The broken one names a user its /etc/passwd lacks: the container is created, its start fails.
    const changes = ['CMD ["/sbin/orrery-init"]', ...(variant === 'broken' ? ['USER nosuchuser'] : [])];
    const progress = await docker.importImage(Readable.from([rootfs()]), { repo, tag, changes });
    for await (const _ of progress as AsyncIterable<unknown>) { /* drain */ }
    const image = docker.getImage(`${repo}:${tag}`);
    const part = `${path}.part-${randomBytes(4).toString('hex')}`;
    try {
      // Saved by id: the tarball carries no name, so loading it adds none to the daemon.
      const { Id } = await image.inspect();
      await pipeline((await docker.getImage(Id).get()) as unknown as Readable, createWriteStream(part));
      renameSync(part, path);
    } finally {
      rmSync(part, { force: true });
      await image.remove({ force: true }).catch(() => undefined);
    }
  }
  const data = readFileSync(path);
  const img = { path, bytes: data.byteLength, md5: createHash('md5').update(data).digest('hex') };
  built.set(variant, img);
  return img;
}
