/**
 * A minimal ustar writer: enough to hand the Engine API a few small files (PUT
 * /containers/{id}/archive, POST /images/create?fromSrc=-) without another dependency.
 */

export interface TarEntry {
  /** Relative path, '/'-separated, no leading '/'; at most 100 bytes (ustar's name field). */
  path: string;
  /** Absent: a directory. */
  data?: Uint8Array | string;
  /** A symbolic link to this target instead of a file. */
  linkTo?: string;
  mode?: number;
}

function header(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  const name = e.data === undefined && e.linkTo === undefined && !e.path.endsWith('/') ? `${e.path}/` : e.path;
  if (Buffer.byteLength(name) > 100) throw new Error(`tar: path too long: ${name}`);
  const oct = (n: number, len: number) => n.toString(8).padStart(len - 1, '0') + '\0';
  h.write(name, 0, 100, 'utf8');
  h.write(oct(e.mode ?? (e.data === undefined ? 0o755 : 0o644), 8), 100, 'ascii');
  h.write(oct(0, 8), 108, 'ascii'); // uid root
  h.write(oct(0, 8), 116, 'ascii'); // gid root
  h.write(oct(size, 12), 124, 'ascii');
  h.write(oct(Math.floor(Date.now() / 1000), 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum placeholder: spaces while summing
  h.write(e.linkTo !== undefined ? '2' : e.data === undefined ? '5' : '0', 156, 'ascii');
  if (e.linkTo !== undefined) h.write(e.linkTo, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** The archive of `entries`, in order (list a directory before what it holds). */
export function tarOf(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined || e.linkTo !== undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    parts.push(header(e, data.byteLength), data);
    const pad = (512 - (data.byteLength % 512)) % 512;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024)); // two zero blocks end the archive
  return Buffer.concat(parts);
}
