import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';

/**
 * The benchmark's HTTP client: plain node:http on keep-alive connections. On a two-core
 * machine the client shares the CPU with the cloud it measures, so it stays as cheap as a
 * client can be: no retries, no streams machinery, one JSON parse per response.
 */

export interface HttpResponse<T = any> {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: T;
  /** Time from sending the request to the end of the response body. */
  ms: number;
}

export class HttpError extends Error {
  constructor(readonly method: string, readonly url: string, readonly status: number, readonly body: unknown) {
    super(`${method} ${url} answered ${status}: ${typeof body === 'string' ? body.slice(0, 500) : JSON.stringify(body).slice(0, 500)}`);
  }
}

export class HttpClient {
  private readonly agents: { http: http.Agent; https: https.Agent };

  constructor(maxSockets: number) {
    const opts = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets };
    this.agents = { http: new http.Agent(opts), https: new https.Agent(opts) };
  }

  /** One request; the body is parsed as JSON when it is JSON. Any status is returned, none thrown. */
  request<T = any>(method: string, url: string, headers: Record<string, string> = {}, body?: unknown): Promise<HttpResponse<T>> {
    const u = new URL(url);
    const secure = u.protocol === 'https:';
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const allHeaders: Record<string, string | number> = { accept: 'application/json', ...headers };
    if (payload) {
      allHeaders['content-type'] = 'application/json';
      allHeaders['content-length'] = payload.length;
    }
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(u, { method, headers: allHeaders, agent: secure ? this.agents.https : this.agents.http }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const ms = performance.now() - started;
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          if (text !== '' && /json/.test(res.headers['content-type'] ?? '')) {
            try {
              parsed = JSON.parse(text);
            } catch {
              // keep the text
            }
          } else if (text === '') {
            parsed = null;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed as T, ms });
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** A request that must answer one of `ok` statuses, else throws HttpError. */
  async expect<T = any>(ok: number[], method: string, url: string, headers: Record<string, string> = {}, body?: unknown): Promise<HttpResponse<T>> {
    const res = await this.request<T>(method, url, headers, body);
    if (!ok.includes(res.status)) throw new HttpError(method, url, res.status, res.body);
    return res;
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
