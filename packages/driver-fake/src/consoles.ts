/**
 * The fake driver's remote consoles (contract 1.4): each running guest gets, on first ask, a TCP
 * endpoint on 127.0.0.1 per kind — a serial console that greets with a login prompt and
 * answers like a getty, and a VNC console (rfb.ts) whose screen shows a login prompt
 * (screen-font.ts). They close when the guest stops or goes
 * (connected clients are dropped, as a real guest's would be) and at shutdown.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { ConsoleEndpoint, ConsoleKind } from '@orrery/virt-api';
import { serveRfb } from './rfb.js';
import { textScreen } from './screen-font.js';

/** The most clients one console serves at once (each is a socket and a little memory). */
const MAX_CLIENTS = 16;

/** The most bytes of one typed line the serial console keeps before it answers. */
const MAX_LINE = 256;

interface Listening { server: Server; port: number; clients: Set<Socket> }

export class FakeConsoles {
  readonly #open = new Map<string, Map<ConsoleKind, Promise<Listening>>>();

  /** The endpoint of `kind` for the guest `uuid` named `name` (listening once asked). */
  async endpoint(uuid: string, name: string, kind: ConsoleKind): Promise<ConsoleEndpoint> {
    let kinds = this.#open.get(uuid);
    if (!kinds) this.#open.set(uuid, (kinds = new Map()));
    let l = kinds.get(kind);
    if (!l) {
      l = listen((sock) => (kind === 'vnc' ? serveRfb(sock, name, screenOf(name)) : serveSerial(sock, name)));
      kinds.set(kind, l);
      l.catch(() => kinds.delete(kind));
    }
    return { kind, host: '127.0.0.1', port: (await l).port, internalAccessPath: null };
  }

  /** Closes the guest's consoles and drops their clients. */
  close(uuid: string): void {
    const kinds = this.#open.get(uuid);
    if (!kinds) return;
    this.#open.delete(uuid);
    for (const l of kinds.values()) {
      void l.then((x) => {
        for (const c of x.clients) c.destroy();
        x.server.close();
      }, () => undefined);
    }
  }

  closeAll(): void {
    for (const uuid of [...this.#open.keys()]) this.close(uuid);
  }
}

function listen(serve: (sock: Socket) => void): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const clients = new Set<Socket>();
    const server = createServer((sock) => {
      if (clients.size >= MAX_CLIENTS) return void sock.destroy();
      clients.add(sock);
      sock.on('close', () => clients.delete(sock));
      serve(sock);
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      resolve({ server, port: (server.address() as { port: number }).port, clients });
    });
  });
}

/** The fake guest's screen: what its text console shows before anyone logs in. */
function screenOf(name: string): (x: number, y: number) => number {
  return textScreen([`Orrery fake guest ${name} tty1`, '', `${name} login:`], 0xd7dde8, 0x101820);
}

/**
 * A getty on the guest's ttyS0, in miniature: it greets, asks for a login and a password (not
 * echoed), refuses every password, and asks again — what a user of a real guest sees first.
 */
function serveSerial(sock: Socket, name: string): void {
  let line = '';
  let asking: 'login' | 'password' = 'login';
  const prompt = (): void => void sock.write(`\r\n${name} login: `);
  sock.on('error', () => sock.destroy());
  sock.write(`\r\nOrrery fake guest ${name} ttyS0\r\n`);
  prompt();
  sock.on('data', (chunk: Buffer) => {
    for (const ch of chunk.toString('latin1')) {
      if (ch === '\r' || ch === '\n') {
        if (ch === '\n' && line === '') continue;
        sock.write('\r\n');
        if (asking === 'login' && line !== '') {
          asking = 'password';
          sock.write('Password: ');
        } else if (asking === 'password') {
          asking = 'login';
          sock.write('\r\nLogin incorrect\r\n');
          prompt();
        } else {
          prompt();
        }
        line = '';
      } else if (ch === '\x7f' || ch === '\b') {
        if (line !== '') {
          line = line.slice(0, -1);
          if (asking === 'login') sock.write('\b \b');
        }
      } else if (ch >= ' ' && line.length < MAX_LINE) {
        line += ch;
        if (asking === 'login') sock.write(ch);
      }
    }
  });
}
