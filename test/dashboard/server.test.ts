import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/common/logging.js';
import { startDashboard, type RunningDashboard } from '../../src/dashboard/server.js';
import { targetUrl } from '../../src/dashboard/pass-through.js';
import { api, login, startTestCloud, type TestCloud } from '../support/cloud.js';

/** The dashboard's server: the built files, and the pass-through that reaches only the cloud's own APIs. */
describe('dashboard server', () => {
  const log = createLogger('test', 'silent');
  let webRoot: string;
  let upstream: Server;
  let upstreamUrl: string;
  let dash: RunningDashboard;
  const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders; bytes: number }> = [];

  before(async () => {
    webRoot = mkdtempSync(join(tmpdir(), 'orrery-dash-'));
    mkdirSync(join(webRoot, 'assets'));
    writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>app</title>');
    writeFileSync(join(webRoot, 'assets', 'app-abc.js'), 'console.log(1)');
    upstream = createServer((req, res) => {
      let bytes = 0;
      req.on('data', (c: Buffer) => { bytes += c.length; });
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, bytes });
        res.writeHead(201, { 'content-type': 'application/json', 'x-subject-token': 'tok-from-api' }).end(JSON.stringify({ bytes }));
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    dash = await startDashboard({ host: '127.0.0.1', port: 0, targets: new Map([['compute', upstreamUrl], ['identity', 'http://127.0.0.1:1']]), log, webRoot });
  });

  after(async () => {
    await dash.stop();
    await new Promise<void>((r) => upstream.close(() => r()));
    rmSync(webRoot, { recursive: true, force: true });
  });

  it('serves the app for every page path, hashed assets as immutable, with its security headers', async () => {
    for (const path of ['/', '/servers/x']) {
      const r = await fetch(`${dash.url}${path}`);
      assert.equal(r.status, 200);
      assert.equal(await r.text(), '<!doctype html><title>app</title>');
      assert.match(r.headers.get('content-security-policy')!, /default-src 'self'/);
      assert.equal(r.headers.get('cache-control'), 'no-cache');
    }
    const js = await fetch(`${dash.url}/assets/app-abc.js`);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(js.headers.get('cache-control')!, /immutable/);
    assert.equal((await fetch(`${dash.url}/`, { method: 'POST' })).status, 405);
  });

  it("passes /api/<service>/ through to that service with the user's token, and streams bodies both ways", async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, 1);
    const r = await fetch(`${dash.url}/api/compute/v2.1/servers?limit=2`, {
      method: 'PUT', body, headers: { 'x-auth-token': 'user-token', cookie: 'a=b', 'content-type': 'application/octet-stream' },
    });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get('x-subject-token'), 'tok-from-api');
    assert.deepEqual(await r.json(), { bytes: body.length });
    const got = seen.at(-1)!;
    assert.equal(got.url, '/v2.1/servers?limit=2');
    assert.equal(got.headers['x-auth-token'], 'user-token');
    assert.equal(got.headers.cookie, undefined, 'browser cookies stay with the browser');
    assert.equal(got.headers.host, new URL(upstreamUrl).host);
  });

  it('reaches only the configured services: anything else is 404, a dead API 502', async () => {
    const unknown = await fetch(`${dash.url}/api/metadata/latest`);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { code: number } }).error.code, 404);
    const targets = new Map([['compute', 'http://127.0.0.1:8774']]);
    assert.equal(targetUrl(targets, '/api/compute//evil.example/x')!.host, '127.0.0.1:8774');
    assert.equal(targetUrl(targets, '/api/compute@evil.example/x'), null);
    assert.equal(targetUrl(targets, '/api/__proto__/x'), null);
    const dead = await fetch(`${dash.url}/api/identity/v3`);
    assert.equal(dead.status, 502);
    assert.equal(((await dead.json()) as { error: { code: number } }).error.code, 502);
  });

  it('says how to build it when the app is not built', async () => {
    const bare = await startDashboard({ host: '127.0.0.1', port: 0, targets: new Map(), log, webRoot: join(webRoot, 'none') });
    try {
      const r = await fetch(`${bare.url}/`);
      assert.equal(r.status, 503);
      assert.match(await r.text(), /npm run build/);
    } finally {
      await bare.stop();
    }
  });

  it('is in the catalog as dashboard on [api] dashboard_port, and off when the port is empty', async () => {
    const dashboardEndpoint = async (cloud: TestCloud): Promise<string | undefined> => {
      const admin = await login(cloud, 'admin', cloud.config.str('identity', 'admin_password'), 'admin');
      const catalog = (await api(admin, 'GET', `${cloud.urls.identity}/v3/auth/catalog`)).body.catalog as Array<{ type: string; endpoints: Array<{ interface: string; url: string }> }>;
      return catalog.find((c) => c.type === 'dashboard')?.endpoints.find((e) => e.interface === 'public')?.url;
    };
    const cloud = await startTestCloud({ DEFAULT: { compute_hosts: '' } });
    try {
      assert.ok(cloud.dashboardUrl);
      assert.equal(await dashboardEndpoint(cloud), cloud.dashboardUrl);
    } finally {
      await cloud.close();
    }
    const off = await startTestCloud({ DEFAULT: { compute_hosts: '' }, api: { dashboard_port: '' } });
    try {
      assert.equal(off.dashboardUrl, null);
      assert.equal(await dashboardEndpoint(off), undefined);
    } finally {
      await off.close();
    }
  });

  it('names its option in one line when its port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as AddressInfo).port;
    try {
      await assert.rejects(startTestCloud({ DEFAULT: { compute_hosts: '' }, api: { dashboard_port: String(port) } }), { message: `port ${port} ([api] dashboard_port) is in use` });
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });
});
