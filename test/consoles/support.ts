import WebSocket from 'ws';

/**
 * A websocket client of a console proxy: connects to `url` with websockify's `binary`
 * subprotocol and gathers what the console sends. `until` resolves once the gathered text
 * matches; `send` types into the console.
 */
export class ConsoleClient {
  readonly ws: WebSocket;
  #received = Buffer.alloc(0);
  #waiters: Array<() => void> = [];
  readonly opened: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, ['binary'], { headers });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
    });
    this.opened.catch(() => undefined);
    this.ws.on('message', (data: Buffer) => {
      this.#received = Buffer.concat([this.#received, data]);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.ws.on('close', () => {
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  get text(): string {
    return this.#received.toString('latin1');
  }

  get bytes(): Buffer {
    return this.#received;
  }

  /** Resolves with everything received once it matches `re`; rejects after `ms` or on close without a match. */
  async until(re: RegExp, ms = 10_000): Promise<string> {
    await this.opened;
    const deadline = Date.now() + ms;
    while (!re.test(this.text)) {
      if (this.ws.readyState !== WebSocket.OPEN) throw new Error(`the console closed before ${re}: ${JSON.stringify(this.text)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${re} from the console within ${ms} ms: ${JSON.stringify(this.text)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.text;
  }

  send(data: string | Buffer): void {
    this.ws.send(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Resolves once the proxy closed the websocket (or it was never opened). */
  closed(ms = 10_000): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the console stayed open')), ms);
      this.ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

/** The status a proxy answers a websocket upgrade with: 101 when it opens, else the refusal's. */
export function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, ['binary'], { headers });
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', () => resolve(0));
  });
}

/** The websocket URL noVNC's page connects to, from a novnc console URL (Nova's `?path=%3Ftoken%3D…`). */
export function novncSocketUrl(consoleUrl: string): string {
  const u = new URL(consoleUrl);
  const path = u.searchParams.get('path') ?? '';
  return `ws://${u.host}/${path.replace(/^\//, '')}`;
}
