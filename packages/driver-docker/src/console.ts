/**
 * The console log (the container's stdout and stderr, as Docker's json-file log keeps them)
 * and snapshots: `docker commit` of the container, `docker save` of the commit streamed into
 * the image the API created, the commit removed from the daemon once uploaded.
 */
import { abortError, ImageError, isDriverError, type InstanceRef, type SnapshotRequest } from '@orrery/virt-api';
import { engineError, messageOf, onContainer, statusOf } from './engine.js';
import type { DockerHost } from './host.js';

/** The last lines of the log a console request returns (the API trims further by `length`). */
const LOG_TAIL_LINES = 10_000;
/** And at most this many bytes, the most recent kept. */
const LOG_MAX_BYTES = 1024 * 1024;

/**
 * The payloads of Docker's multiplexed log stream (a container without a TTY): frames of an
 * 8-byte header (stream type, 3 zero bytes, big-endian length) and the data.
 */
export function demux(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const type = buf[i]!;
    const len = buf.readUInt32BE(i + 4);
    if (type > 2 || buf[i + 1] !== 0 || buf[i + 2] !== 0 || buf[i + 3] !== 0) return buf; // not multiplexed after all
    out.push(buf.subarray(i + 8, Math.min(buf.length, i + 8 + len)));
    i += 8 + len;
  }
  return Buffer.concat(out);
}

export async function consoleOutput(h: DockerHost, ref: InstanceRef): Promise<string> {
  const c = h.container(ref);
  const raw = await onContainer(ref.uuid, `logs of ${ref.uuid}`, () => c.logs({ stdout: true, stderr: true, follow: false, tail: LOG_TAIL_LINES }));
  const text = demux(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)));
  return text.subarray(Math.max(0, text.length - LOG_MAX_BYTES)).toString('utf8');
}

export async function snapshot(h: DockerHost, req: SnapshotRequest, signal?: AbortSignal): Promise<void> {
  const ref = req.instance;
  await h.locked(ref.uuid, async () => {
    const c = h.container(ref);
    await h.inspect(ref);
    if (signal?.aborted) throw abortError(signal);
    // The commit freezes a running container for the copy (Docker's default): its own pause and
    // unpause events are not the server's transitions.
    h.frozenByCommit.add(ref.uuid);
    let committed: string;
    try {
      const res = (await onContainer(ref.uuid, `commit ${ref.uuid}`, () => c.commit({ pause: true, comment: `snapshot ${req.imageId} of ${ref.uuid}` }))) as { Id?: string };
      if (!res.Id) throw new ImageError(`commit of ${ref.uuid} returned no image id`);
      committed = res.Id;
    } finally {
      // Events of the freeze arrive just after the call returns.
      setTimeout(() => h.frozenByCommit.delete(ref.uuid), 1000).unref();
    }
    const image = h.requireEngine().getImage(committed);
    try {
      if (signal?.aborted) throw abortError(signal);
      let data: NodeJS.ReadableStream;
      try {
        data = await image.get();
      } catch (err) {
        throw engineError(err, `save the snapshot of ${ref.uuid}`);
      }
      try {
        await h.ctx!.images.upload(req.imageId, data as unknown as AsyncIterable<Uint8Array>);
      } catch (err) {
        throw isDriverError(err) ? err : new ImageError(`upload of snapshot ${req.imageId} failed: ${messageOf(err)}`, { cause: err });
      }
    } finally {
      await image.remove().catch((err: unknown) => {
        if (statusOf(err) !== 404) h.ctx!.log.warn('docker: cannot remove a snapshot\'s commit', { image: committed, err: messageOf(err) });
      });
    }
  });
}
