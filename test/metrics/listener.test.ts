import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Config } from '../../src/common/config.js';
import { createLogger } from '../../src/common/logging.js';
import { startMetricsListener } from '../../src/cmd/metrics-listener.js';
import { scrapeUrl, valueOf } from './support.js';

const log = createLogger('test', 'silent');
const configWith = (metrics: Record<string, string>) => new Config({ metrics }, {});
const services = [{ service: 'scheduler', host: 'listener-test' }];

describe('the metrics listener', () => {
  it('listens on an ephemeral port by default, shows the services it was given, and forgets them when stopped', async () => {
    const m = await startMetricsListener(new Config(undefined, {}), log, { services });
    try {
      assert.match(m.url ?? '', /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      assert.equal(valueOf(await scrapeUrl(m.url!), 'orrery_process_service', { service: 'scheduler', host: 'listener-test' }), 1);
      const head = await fetch(m.url!, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(await head.text(), '');
    } finally {
      await m.stop();
    }
    const again = await startMetricsListener(new Config(undefined, {}), log, { services: [] });
    try {
      assert.equal((await scrapeUrl(again.url!)).samples.has('orrery_process_service{host="listener-test",service="scheduler"}'), false);
    } finally {
      await again.stop();
    }
  });

  it('an empty port is no listener', async () => {
    const m = await startMetricsListener(configWith({ port: '' }), log, { services });
    assert.equal(m.url, null);
    await m.stop();
  });

  it('refuses a port that is not one, and says in one line when the port is taken', async () => {
    for (const port of ['http', '-1', '65536', '1.5']) {
      await assert.rejects(startMetricsListener(configWith({ port }), log, { services }), /\[metrics\] port must be a TCP port/);
    }
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      await assert.rejects(startMetricsListener(configWith({ port: String(port), bind_host: '127.0.0.1' }), log, { services }), {
        message: `port ${port} ([metrics] port) is in use`,
      });
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});
