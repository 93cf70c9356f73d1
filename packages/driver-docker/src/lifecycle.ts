/**
 * Spawn, destroy, rebuild and the power calls over the Engine API. Every call on one server
 * holds its lock (DockerHost.locked); power states are read from the daemon, never assumed.
 *
 *   spawn: image loaded → container created → seed files put in → started → VIFs plugged in
 *   its network namespace. Any failure removes the container (and an image only it used).
 *   powerOff: docker stop (SIGTERM, SIGKILL after the timeout); soft reboot: docker restart;
 *   hard reboot: restart with no grace; pause/unpause: the cgroup freezer.
 */
import type Docker from 'dockerode';
import {
  abortError, ImageError, InstanceExists, isDriverError, InvalidState, NodeNotFound, NotSupported, PowerState, imageTypeOf,
  type InstanceInfo, type InstanceRef, type InstanceSpec, type RebootType, type RebuildRequest,
} from '@orrery/virt-api';
import { createOptionsOf, SEED_DIR, seedArchive } from './container-spec.js';
import { engineError, messageOf, onContainer, statusOf } from './engine.js';
import { powerStateOf, UUID, type DockerHost } from './host.js';
import { VIFS_LABEL, vifsLabel, type DockerVifs } from './vifs.js';

/** The disk formats a container image may be stored with: its data is the tarball as it is. */
const CONTAINER_DISK_FORMATS = new Set(['raw', 'docker']);

const IMAGE_TAG_LABEL = 'org.orrery.image-tag';

export function notSupported(what: string): Promise<never> {
  return Promise.reject(new NotSupported(`the docker driver cannot ${what} (no checkpoint/restore)`));
}

function checkpoint(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** Refuses what is not a container image before anything is made. */
function checkImage(spec: InstanceSpec): void {
  const { image } = spec;
  if (imageTypeOf(image) !== 'docker' || (image.containerFormat.toLowerCase() === 'docker' && !CONTAINER_DISK_FORMATS.has(image.diskFormat.toLowerCase()))) {
    throw new NotSupported(`the docker driver boots container images (container_format docker, disk_format raw), not ${image.containerFormat}/${image.diskFormat}`);
  }
}

function checkSpec(h: DockerHost, spec: InstanceSpec): void {
  h.requireEngine();
  if (spec.node !== h.nodeName) throw new NodeNotFound(`node ${spec.node} is not managed by this driver (it manages ${h.nodeName})`);
  if (!UUID.test(spec.uuid)) throw new NotSupported(`instance uuid ${JSON.stringify(spec.uuid)} is not a UUID`);
  checkImage(spec);
}

/** A create or start the daemon refused because of what the image or flavor is. */
function refused(err: unknown, what: string): Error {
  const s = statusOf(err);
  const msg = messageOf(err);
  if (s === 409) return new InstanceExists(`${what}: ${msg}`, { cause: err });
  // The pinned image gone from under the create: removed on the daemon by hand.
  if (s === 404) return new ImageError(`${what}: ${msg}`, { cause: err });
  if (/no command specified|executable file not found|exec format error|no such file or directory|OCI runtime|unable to find (user|group)/i.test(msg)) {
    return new ImageError(`${what}: the image cannot run: ${msg}`, { cause: err });
  }
  if (s === 400) return new NotSupported(`${what}: ${msg}`, { cause: err });
  return engineError(err, what);
}

/** Creates, seeds, starts and wires `spec`'s container from the loaded image; on failure removes it. */
async function build(h: DockerHost, vifs: DockerVifs, spec: InstanceSpec, imageId: string, signal?: AbortSignal): Promise<void> {
  const engine = h.requireEngine();
  const opts = createOptionsOf(spec, h.ctx!.host, imageId, h.requireCfg());
  // Always set, even when empty: a snapshot's image carries the labels of the container it was
  // committed from (docker commit keeps them), and the new container must not inherit its ports.
  opts.Labels = { ...opts.Labels, [IMAGE_TAG_LABEL]: h.images!.tagOf(spec.image), [VIFS_LABEL]: vifsLabel(spec.network.ports) };
  let container: Docker.Container;
  try {
    container = await engine.createContainer(opts);
  } catch (err) {
    throw refused(err, `create the container of ${spec.uuid}`);
  }
  try {
    try {
      await container.putArchive(seedArchive(spec), { path: '/' });
    } catch (err) {
      const e = engineError(err, `put the seed files into ${spec.uuid}`);
      // A 4xx: the image's file system cannot take them (e.g. /root is not a directory).
      throw isDriverError(e) ? e : new ImageError(`the image cannot take the seed files (/${SEED_DIR}, /root/.ssh): ${messageOf(err)}`, { cause: err });
    }
    checkpoint(signal);
    try {
      await container.start();
    } catch (err) {
      throw refused(err, `start the container of ${spec.uuid}`);
    }
    await vifs.wire(spec, container);
  } catch (err) {
    await container.remove({ force: true, v: true }).catch((e: unknown) => h.ctx!.log.warn('docker: cannot remove a failed container', { instance: spec.uuid, err: messageOf(e) }));
    throw err;
  }
}

/**
 * Runs `fn` with `image`'s cache tag pinned (no destroy elsewhere removes it before the
 * container holds it), loading it first; a failure releases the image when nothing uses it.
 */
async function withImage<T>(h: DockerHost, image: InstanceSpec['image'], signal: AbortSignal | undefined, fn: (id: string) => Promise<T>): Promise<T> {
  const store = h.images!;
  const tag = store.tagOf(image);
  store.pin(tag);
  let failed = false;
  try {
    return await fn(await store.ensure(image, signal));
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    store.unpin(tag);
    if (failed) await store.releaseIfUnused(tag);
  }
}

export async function spawn(h: DockerHost, vifs: DockerVifs, spec: InstanceSpec, signal?: AbortSignal): Promise<InstanceInfo> {
  checkSpec(h, spec);
  checkpoint(signal);
  return h.locked(spec.uuid, async () => {
    if (await h.exists(spec.uuid)) throw new InstanceExists(`instance ${spec.uuid} already exists`);
    checkpoint(signal);
    await withImage(h, spec.image, signal, async (imageId) => {
      checkpoint(signal);
      await build(h, vifs, spec, imageId, signal);
    });
    return { uuid: spec.uuid, node: spec.node, powerState: PowerState.RUNNING };
  });
}

/** Removes the container (force: a running one is killed) and, when unused, its image. */
async function removeContainer(h: DockerHost, ref: InstanceRef): Promise<string | undefined> {
  let info: Docker.ContainerInspectInfo;
  try {
    info = await h.inspect(ref);
  } catch (err) {
    if (isDriverError(err, 'InstanceNotFound')) return undefined;
    throw err;
  }
  try {
    await h.container(ref).remove({ force: true, v: true });
  } catch (err) {
    // 404: gone meanwhile; 409: the daemon is already removing it.
    if (statusOf(err) !== 404 && statusOf(err) !== 409) throw engineError(err, `remove the container of ${ref.uuid}`);
  }
  return info.Config.Labels?.[IMAGE_TAG_LABEL];
}

export async function destroy(h: DockerHost, ref: InstanceRef, signal?: AbortSignal): Promise<void> {
  h.requireEngine();
  if (!UUID.test(ref.uuid)) return; // nothing of ours can have that name
  await h.locked(ref.uuid, async () => {
    checkpoint(signal);
    await h.images!.releaseIfUnused(await removeContainer(h, { uuid: ref.uuid, node: h.nodeName }));
  });
}

/** A new container from the (new) image under the same name and labels; the old one goes only once the image is there. */
export async function rebuild(h: DockerHost, vifs: DockerVifs, req: RebuildRequest): Promise<InstanceInfo> {
  const spec: InstanceSpec = { ...req.instance, image: req.image };
  checkImage(spec);
  return h.locked(spec.uuid, async () => {
    const old = await h.inspect(spec);
    const oldTag = old.Config.Labels?.[IMAGE_TAG_LABEL];
    try {
      await withImage(h, spec.image, undefined, async (imageId) => {
        await removeContainer(h, spec);
        await build(h, vifs, spec, imageId);
      });
    } finally {
      // Still held by the old container when the new image could not be had (the daemon refuses).
      if (oldTag !== h.images!.tagOf(spec.image)) await h.images!.releaseIfUnused(oldTag);
    }
    return { uuid: spec.uuid, node: h.nodeName, powerState: PowerState.RUNNING };
  });
}

/** Runs a container call on `ref`, the daemon's 409 (a state it refuses) as InvalidState. */
async function act(h: DockerHost, ref: InstanceRef, what: string, fn: (c: Docker.Container) => Promise<unknown>): Promise<void> {
  const c = h.container(ref);
  try {
    await onContainer(ref.uuid, `${what} instance ${ref.uuid}`, () => fn(c));
  } catch (err) {
    if (statusOf((err as { cause?: unknown }).cause ?? err) === 409) throw new InvalidState(`${what} of ${ref.uuid}: ${messageOf(err)}`, { cause: err });
    throw err;
  }
}

/** A paused container is thawed first: signals wait in the freezer until it is. */
async function thaw(h: DockerHost, ref: InstanceRef, state: PowerState): Promise<void> {
  if (state === PowerState.PAUSED) await act(h, ref, 'unpause', (c) => c.unpause());
}

export function powerOff(h: DockerHost, ref: InstanceRef, timeoutSec: number): Promise<void> {
  return h.locked(ref.uuid, async () => {
    const state = await h.powerState(ref);
    if (state === PowerState.SHUTDOWN || state === PowerState.CRASHED) return;
    await thaw(h, ref, state);
    await act(h, ref, 'stop', (c) => c.stop({ t: Math.max(0, Math.floor(timeoutSec)) }).catch((err: unknown) => {
      if (statusOf(err) !== 304) throw err; // 304: already stopped
    }));
  });
}

export function powerOn(h: DockerHost, vifs: DockerVifs, ref: InstanceRef): Promise<void> {
  return h.locked(ref.uuid, async () => {
    const info = await h.inspect(ref);
    const state = powerStateOf(info.State);
    if (state === PowerState.RUNNING) return;
    if (state !== PowerState.SHUTDOWN && state !== PowerState.CRASHED) throw new InvalidState(`instance ${ref.uuid} is paused: power on needs it stopped`);
    await act(h, ref, 'start', (c) => c.start());
    await vifs.rewire(ref, info);
  });
}

export function reboot(h: DockerHost, vifs: DockerVifs, ref: InstanceRef, type: RebootType): Promise<void> {
  return h.locked(ref.uuid, async () => {
    const info = await h.inspect(ref);
    const state = powerStateOf(info.State);
    if (type === 'soft') {
      if (state !== PowerState.RUNNING) throw new InvalidState(`instance ${ref.uuid} is not running: a soft reboot needs it running`);
      await act(h, ref, 'restart', (c) => c.restart({ t: h.requireCfg().stopTimeout }));
    } else {
      await thaw(h, ref, state);
      await act(h, ref, 'restart', (c) => c.restart({ t: 0 }));
    }
    // A restarted container has a new network namespace: its veths went with the old one.
    await vifs.rewire(ref, info);
  });
}

async function transitionOp(h: DockerHost, ref: InstanceRef, from: PowerState, what: 'pause' | 'unpause'): Promise<void> {
  await h.locked(ref.uuid, async () => {
    const state = await h.powerState(ref);
    if (state !== from) throw new InvalidState(`instance ${ref.uuid} is ${PowerState.PAUSED === state ? 'paused' : state === PowerState.RUNNING ? 'running' : 'stopped'}: cannot ${what}`);
    await act(h, ref, what, (c) => (what === 'pause' ? c.pause() : c.unpause()));
  });
}

export const pause = (h: DockerHost, ref: InstanceRef) => transitionOp(h, ref, PowerState.RUNNING, 'pause');
export const unpause = (h: DockerHost, ref: InstanceRef) => transitionOp(h, ref, PowerState.PAUSED, 'unpause');
