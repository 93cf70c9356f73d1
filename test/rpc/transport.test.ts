import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/common/logging.js';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';
import { createBus, parseRabbitUrl, redactTransportUrl, transportScheme } from '../../src/rpc/transport.js';

describe('transport_url', () => {
  it('inprocess:// and an empty URL give the embedded bus', async () => {
    const log = createLogger('test', 'silent');
    assert.ok((await createBus('inprocess://', log)) instanceof InProcessBus);
    assert.ok((await createBus('', log)) instanceof InProcessBus);
    assert.equal(transportScheme('rabbit://guest:guest@localhost:5672/'), 'rabbit');
  });

  it('refuses schemes it does not speak, without echoing the password', async () => {
    await assert.rejects(createBus('kafka://u:secret@h:9092/', createLogger('test', 'silent')), (err: Error) => {
      assert.match(err.message, /Unsupported transport_url/);
      assert.doesNotMatch(err.message, /secret/);
      return true;
    });
  });

  it("parses Nova's rabbit:// form: credentials, port, virtual host", () => {
    assert.deepEqual(parseRabbitUrl('rabbit://nova:s3cr%40t@rabbit.example:5673/openstack'), [
      { protocol: 'amqp', hostname: 'rabbit.example', port: 5673, username: 'nova', password: 's3cr@t', vhost: 'openstack' },
    ]);
    assert.equal(parseRabbitUrl('rabbit://guest:guest@localhost:5672/')[0]!.vhost, '/');
    assert.equal(parseRabbitUrl('rabbit://guest:guest@localhost')[0]!.vhost, '/');
    assert.equal(parseRabbitUrl('rabbit://guest:guest@localhost/%2Fprod')[0]!.vhost, '/prod');
    assert.deepEqual(parseRabbitUrl('rabbit://localhost')[0], {
      protocol: 'amqp', hostname: 'localhost', port: 5672, username: 'guest', password: 'guest', vhost: '/',
    });
  });

  it('parses several brokers, IPv6 addresses and ssl=1', () => {
    const eps = parseRabbitUrl('rabbit://a:pa@h1:5672,b:pb@[::1]:5671/v?ssl=1');
    assert.deepEqual(
      eps.map((e) => [e.protocol, e.hostname, e.port, e.username, e.password, e.vhost]),
      [
        ['amqps', 'h1', 5672, 'a', 'pa', 'v'],
        ['amqps', '::1', 5671, 'b', 'pb', 'v'],
      ],
    );
    assert.equal(parseRabbitUrl('rabbit://u:p@h/?ssl=true')[0]!.port, 5671);
  });

  it('masks passwords for logs', () => {
    assert.equal(redactTransportUrl('rabbit://nova:secret@h1:5672,nova:other@h2/v'), 'rabbit://nova:***@h1:5672,nova:***@h2/v');
    assert.throws(() => parseRabbitUrl('rabbit://u:p@/v'), /bad broker address/);
  });
});
