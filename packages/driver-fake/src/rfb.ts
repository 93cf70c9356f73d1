/**
 * A small RFB (VNC) server for the fake driver's guests: RFB 3.8 with security type None, one
 * raw-encoded framebuffer at 32 bits per pixel (in the pixel format the client sets), keys and
 * pointer read and ignored. Enough for noVNC to connect, draw the guest's screen and stay
 * connected — so the console proxy and the browser console run for real without a hypervisor.
 */
import type { Socket } from 'node:net';

/** Size of the fake screen, in pixels. */
export const SCREEN = { width: 640, height: 400 } as const;

/** RFB client-to-server message lengths that do not depend on their content (RFC 6143 §7.5). */
const FIXED: Readonly<Record<number, number>> = { 0: 20, 3: 10, 4: 8, 5: 6 };

/** The most bytes a client may have sent that form no whole message yet (a cut text, mostly). */
const MAX_PENDING = 1 << 20;

interface PixelFormat { bigEndian: boolean; redShift: number; greenShift: number; blueShift: number }

/** Serves one RFB client on `sock`: the screen shows `paint`'s pixels, as (x, y) → 0xRRGGBB. */
export function serveRfb(sock: Socket, name: string, paint: (x: number, y: number) => number): void {
  let pending = Buffer.alloc(0);
  let phase: 'version' | 'security' | 'init' | 'normal' = 'version';
  let fmt: PixelFormat = { bigEndian: false, redShift: 16, greenShift: 8, blueShift: 0 };
  sock.setNoDelay(true);
  sock.on('error', () => sock.destroy());
  sock.write('RFB 003.008\n');

  const frame = (): Buffer => {
    const { width, height } = SCREEN;
    const head = Buffer.alloc(16);
    head.writeUInt8(0, 0); // FramebufferUpdate
    head.writeUInt16BE(1, 2); // one rectangle
    head.writeUInt16BE(width, 8);
    head.writeUInt16BE(height, 10);
    head.writeInt32BE(0, 12); // raw encoding
    const px = Buffer.alloc(width * height * 4);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const c = paint(x, y);
        const v = ((((c >> 16) & 255) << fmt.redShift) | (((c >> 8) & 255) << fmt.greenShift) | ((c & 255) << fmt.blueShift)) >>> 0;
        if (fmt.bigEndian) px.writeUInt32BE(v, (y * width + x) * 4);
        else px.writeUInt32LE(v, (y * width + x) * 4);
      }
    }
    return Buffer.concat([head, px]);
  };

  const serverInit = (): Buffer => {
    const n = Buffer.from(name, 'utf8');
    const b = Buffer.alloc(24 + n.length);
    b.writeUInt16BE(SCREEN.width, 0);
    b.writeUInt16BE(SCREEN.height, 2);
    // pixel format: 32 bpp, depth 24, little-endian, true colour, 255 per channel, shifts 16/8/0
    Buffer.from([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]).copy(b, 4);
    b.writeUInt32BE(n.length, 20);
    n.copy(b, 24);
    return b;
  };

  /** The length of the whole message at the head of `buf`, or 0 while it is incomplete. */
  const messageLength = (buf: Buffer): number => {
    const type = buf[0]!;
    if (FIXED[type] !== undefined) return buf.length >= FIXED[type]! ? FIXED[type]! : 0;
    if (type === 2) return buf.length >= 4 ? 4 + 4 * buf.readUInt16BE(2) : 0;
    if (type === 6) return buf.length >= 8 ? 8 + buf.readUInt32BE(4) : 0;
    return -1;
  };

  const handle = (msg: Buffer): void => {
    if (msg[0] === 0) {
      // SetPixelFormat: only 32 bits per pixel true colour is served.
      if (msg[4] !== 32 || msg[7] !== 1) return void sock.destroy();
      fmt = { bigEndian: msg[6] !== 0, redShift: msg[14]!, greenShift: msg[15]!, blueShift: msg[16]! };
    } else if (msg[0] === 3 && msg[1] === 0) {
      // A full update asked for; incremental ones wait for a change, which never comes.
      sock.write(frame());
    }
  };

  sock.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    if (pending.length > MAX_PENDING) return void sock.destroy();
    for (;;) {
      if (phase === 'version') {
        if (pending.length < 12) return;
        if (!/^RFB 003\.00[378]\n$/.test(pending.subarray(0, 12).toString('latin1'))) return void sock.destroy();
        pending = pending.subarray(12);
        phase = 'security';
        sock.write(Buffer.from([1, 1])); // one security type: None
      } else if (phase === 'security') {
        if (pending.length < 1) return;
        if (pending[0] !== 1) return void sock.destroy();
        pending = pending.subarray(1);
        phase = 'init';
        sock.write(Buffer.from([0, 0, 0, 0])); // SecurityResult OK
      } else if (phase === 'init') {
        if (pending.length < 1) return;
        pending = pending.subarray(1); // ClientInit's shared flag: every client shares the screen
        phase = 'normal';
        sock.write(serverInit());
      } else {
        if (pending.length === 0) return;
        const len = messageLength(pending);
        if (len < 0) return void sock.destroy();
        if (len === 0 || pending.length < len) return;
        handle(pending.subarray(0, len));
        pending = pending.subarray(len);
      }
    }
  });
}
