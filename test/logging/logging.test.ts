import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Config } from '../../src/common/config.js';
import { createLogger, currentLogContext, isSecretKey, logLifecycle, logSettings, redact, scrubTokens, withLogContext } from '../../src/common/logging.js';

const TOKEN = `gAAAA${'x1_-'.repeat(16)}`;

/** A logger writing to a file of its own; answers the logger and a reader of its parsed lines. */
function fileLogger(format: 'json' | 'pretty' = 'json') {
  const dir = mkdtempSync(join(tmpdir(), 'orrery-log-'));
  const file = join(dir, 'sub', 'orrery.log');
  const log = createLogger('t', { level: 'debug', format, file });
  return {
    log,
    text: () => readFileSync(file, 'utf8'),
    lines: () => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>),
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

describe('logging', () => {
  it('reads level, format and file from the configuration, ORRERY_LOG_LEVEL winning, and refuses bad values with the option named', () => {
    assert.deepEqual(logSettings(new Config(undefined, {})), { level: 'info', format: 'json', file: '' });
    const c = new Config({ DEFAULT: { log_level: 'warn', log_format: 'pretty', log_file: '/var/log/orrery.log' } }, { ORRERY_LOG_LEVEL: 'DEBUG' });
    assert.deepEqual(logSettings(c), { level: 'debug', format: 'pretty', file: '/var/log/orrery.log' });
    assert.throws(() => logSettings(new Config({ DEFAULT: { log_level: 'loud' } }, {})), /\[DEFAULT\] log_level must be one of .*"loud"/);
    assert.throws(() => logSettings(new Config({ DEFAULT: { log_format: 'xml' } }, {})), /\[DEFAULT\] log_format must be json or pretty/);
  });

  it('names secrets by key, however spelled, and leaves other keys', () => {
    for (const k of ['password', 'adminPass', 'admin_password', 'X-Auth-Token', 'x-subject-token', 'X-Service-Token', 'token', 'tokenId', 'Authorization', 'secret', 'metadata_proxy_shared_secret', 'consoleToken', 'private_key']) {
      assert.ok(isSecretKey(k), k);
    }
    for (const k of ['instance', 'user_id', 'token_expiration', 'request_id', 'name', 'audit_ids']) assert.ok(!isSecretKey(k), k);
  });

  it('redacts nested secrets by key and token-shaped text, keeping everything else', () => {
    const out = redact({
      user: 'u1', auth: { identity: { password: { user: { name: 'admin', password: 'hunter2' } } } },
      headers: { 'x-auth-token': TOKEN, accept: 'json' }, servers: [{ adminPass: 'p' }], note: 'n',
    });
    assert.deepEqual(out, {
      user: 'u1', auth: { identity: { password: '[REDACTED]' } },
      headers: { 'x-auth-token': '[REDACTED]', accept: 'json' }, servers: [{ adminPass: '[REDACTED]' }], note: 'n',
    });
    assert.equal(scrubTokens(`token ${TOKEN} seen, gAAAA alone kept`), 'token gAAAA[REDACTED] seen, gAAAA alone kept');
    const uuid = '5d6c1f64-8b0e-4c47-9a0b-2f4f3d1e7a10';
    assert.equal(scrubTokens(`{"url":"ws://h:6083/?token=${uuid}","b":"http://h/vnc_lite.html?path=%3Ftoken%3D${uuid}&x=1&token=${uuid}"}`),
      '{"url":"ws://h:6083/?token=[REDACTED]","b":"http://h/vnc_lite.html?path=%3Ftoken%3D[REDACTED]&x=1&token=[REDACTED]"}');
    assert.equal(scrubTokens('the token expired; tokens=3'), 'the token expired; tokens=3');
  });

  it('writes JSON lines to the log file without secrets, in fields, messages or errors', () => {
    const f = fileLogger();
    try {
      f.log.info({ body: { server: { name: 's', adminPass: 'Sup3rSecret!' } }, headers: { 'X-Auth-Token': TOKEN } }, 'create');
      f.log.warn(`validate ${TOKEN} failed`);
      const err = Object.assign(new Error(`upstream said ${TOKEN}`), { code: 'E1' });
      f.log.error({ err }, 'call failed');
      f.log.child({ service: 'c' }).child({ password: 'child-secret', host: 'h' }).info('bound');
      const text = f.text();
      for (const secret of ['Sup3rSecret!', TOKEN, 'child-secret']) assert.ok(!text.includes(secret), `${secret} in ${text}`);
      const [create, validate, failed, bound] = f.lines();
      assert.equal(create!.msg, 'create');
      assert.deepEqual(create!.body, { server: { name: 's', adminPass: '[REDACTED]' } });
      assert.equal(validate!.msg, 'validate gAAAA[REDACTED] failed');
      assert.match(JSON.stringify(failed!.err), /upstream said gAAAA\[REDACTED\]/);
      assert.equal((failed!.err as { code: string }).code, 'E1');
      assert.deepEqual([bound!.service, bound!.host, bound!.password], ['c', 'h', '[REDACTED]']);
    } finally {
      f.close();
    }
  });

  it('puts the request ids of the work in progress on every line, also after an await and in work left running', async () => {
    const f = fileLogger();
    try {
      let later: Promise<void> | undefined;
      await withLogContext({ request_id: 'req-1' }, async () => {
        f.log.info('first');
        await new Promise((r) => setTimeout(r, 5));
        await withLogContext({ global_request_id: 'req-g' }, async () => f.log.info('nested'));
        later = new Promise<void>((r) => setTimeout(r, 20)).then(() => f.log.info('left running'));
        assert.deepEqual(currentLogContext(), { request_id: 'req-1' });
      });
      f.log.info('outside');
      await later;
      const byMsg = new Map(f.lines().map((l) => [l.msg, l]));
      assert.equal(byMsg.get('first')!.request_id, 'req-1');
      assert.equal(byMsg.get('nested')!.request_id, 'req-1');
      assert.equal(byMsg.get('nested')!.global_request_id, 'req-g');
      assert.equal(byMsg.get('left running')!.request_id, 'req-1');
      assert.equal(byMsg.get('outside')!.request_id, undefined);
    } finally {
      f.close();
    }
  });

  it('writes lifecycle lines with their event and instance, errors at warn', () => {
    const f = fileLogger();
    try {
      logLifecycle(f.log, 'spawning', 'i-1', { node: 'n1' });
      logLifecycle(f.log, 'error', 'i-1', { reason: 'No valid host' });
      logLifecycle(f.log, 'power_state', 'i-1', { from: 1, to: 4 });
      assert.deepEqual(f.lines().map((l) => [l.level, l.msg, l.lifecycle, l.instance]), [
        [30, 'instance spawning', 'spawning', 'i-1'], [40, 'instance error', 'error', 'i-1'], [30, 'instance power state changed', 'power_state', 'i-1'],
      ]);
    } finally {
      f.close();
    }
  });

  it('writes readable lines in the pretty format', () => {
    const f = fileLogger('pretty');
    try {
      f.log.info({ instance: 'i-1', adminPass: 'pw-123' }, 'instance active');
      const text = f.text();
      assert.match(text, /INFO.*instance active/);
      assert.match(text, /instance active \{"instance":"i-1",/);
      assert.ok(!text.includes('pw-123'));
      assert.throws(() => JSON.parse(text.split('\n')[0]!));
    } finally {
      f.close();
    }
  });
});
