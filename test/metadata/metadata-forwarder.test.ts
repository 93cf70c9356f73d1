import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetworkClient } from '../../src/clients/network-client.js';
import { createLogger } from '../../src/common/logging.js';
import { MetadataForwarder } from '../../src/netagent/metadata-forwarder.js';

/** What the forwarder answers before it reaches any API, and its socket's lifetime. */
describe('the metadata forwarder', () => {
  const get = (socketPath: string, headers: Record<string, string>): Promise<number> => new Promise((resolve, reject) => {
    const r = request({ socketPath, path: '/openstack/latest/meta_data.json', headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    r.on('error', reject);
    r.end();
  });
  const forwarder = (socketPath: string): MetadataForwarder => new MetadataForwarder({
    // No credentials: every lookup fails, as when the Network API is away.
    socketPath, network: new NetworkClient('http://127.0.0.1:9'), metadataUrl: 'http://127.0.0.1:9', secret: 's', log: createLogger('test', 'silent'),
  });

  it('refuses a request without the proxy headers (400), answers 503 when the Network API fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orrery-mdf-'));
    const socketPath = join(dir, 'metadata_proxy');
    const f = forwarder(socketPath);
    try {
      await f.start();
      assert.equal(await get(socketPath, {}), 400);
      assert.equal(await get(socketPath, { 'x-forwarded-for': '10.0.0.5' }), 400);
      assert.equal(await get(socketPath, { 'x-forwarded-for': '10.0.0.5, 10.0.0.6', 'x-neutron-network-id': 'n' }), 400);
      assert.equal(await get(socketPath, { 'x-forwarded-for': '10.0.0.5', 'x-neutron-network-id': 'n' }), 503);
    } finally {
      await f.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('forwarders of one process on one socket share it until the last stops', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orrery-mdf-'));
    const socketPath = join(dir, 'metadata_proxy');
    const [a, b] = [forwarder(socketPath), forwarder(socketPath)];
    try {
      await Promise.all([a.start(), b.start()]);
      await a.stop();
      assert.equal(await get(socketPath, {}), 400);
      await b.stop();
      assert.equal(existsSync(socketPath), false);
    } finally {
      await a.stop();
      await b.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
