import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtEntry } from '../../harness/repo.js';
import { freePort } from '../../harness/ports.js';

/**
 * The front door of every entry point (built JavaScript, as operators run it): `--help` prints
 * help and starts nothing; a bad value, a taken port, an unreachable database or broker each end
 * the process with exit status 1 and one line on stderr naming the option — no stack trace, no
 * password.
 */

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const API_PORTS = ['IDENTITY', 'IMAGE', 'COMPUTE', 'PLACEMENT', 'NETWORK', 'METADATA'];

let stateDir: string;

/** Runs an entry point to its end (killed after 60 s: a front-door failure is quick). */
function run(entry: 'all-in-one' | 'orrery', args: string[], env: Record<string, string> = {}): Promise<Run> {
  const ports = Object.fromEntries(API_PORTS.map((p) => [`ORRERY_API__${p}_PORT`, '0']));
  const child = spawn(process.execPath, [builtEntry(entry), ...args], {
    cwd: stateDir,
    env: { ...process.env, ORRERY_LOG_LEVEL: 'warn', ORRERY_STATE_PATH: stateDir, ORRERY_CONFIG: '', ...ports, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The one failure line: the last line of stderr, after asserting there is no stack trace. */
function failureLine(r: Run): string {
  assert.equal(r.code, 1, `exit status: ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `a stack trace on stderr:\n${r.stderr}`);
  return r.stderr.trim().split('\n').at(-1)!;
}

describe('entry points: help and start-up failures', () => {
  before(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'orrery-frontdoor-'));
  });
  after(() => {
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('--help prints help on every entry point and starts nothing', async () => {
    const cases: Array<['all-in-one' | 'orrery', string[], RegExp]> = [
      ['all-in-one', ['--help'], /Usage: all-in-one \[options\][\s\S]*--config <file>[\s\S]*docs\/configuration\.md/],
      ['orrery', ['--help'], /Usage: orrery[\s\S]*api[\s\S]*conductor[\s\S]*scheduler[\s\S]*compute[\s\S]*network-agent[\s\S]*status/],
      ['orrery', ['api', '--help'], /Usage: orrery api/],
      ['orrery', ['conductor', '--help'], /Usage: orrery conductor[\s\S]*--host/],
      ['orrery', ['scheduler', '--help'], /Usage: orrery scheduler/],
      ['orrery', ['compute', '--help'], /Usage: orrery compute[\s\S]*--host/],
      ['orrery', ['network-agent', '--help'], /Usage: orrery network-agent/],
      ['orrery', ['status', '--help'], /Usage: orrery status/],
    ];
    for (const [entry, args, expected] of cases) {
      const r = await run(entry, args);
      assert.equal(r.code, 0, `${entry} ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, expected, `${entry} ${args.join(' ')}`);
      assert.doesNotMatch(r.stdout + r.stderr, /listening|is running/i, `${entry} ${args.join(' ')} started something`);
    }
  });

  it('a bad configuration value: one line naming the option', async () => {
    const line = failureLine(await run('all-in-one', [], { ORRERY_API__COMPUTE_PORT: 'eighty' }));
    assert.equal(line, 'orrery: bad configuration value: [api] compute_port = "eighty": must be an integer');
    const agent = failureLine(await run('orrery', ['network-agent', '--host', 'h1'], { ORRERY_NETWORK_AGENT__DATAPLANE: 'ovs' }));
    assert.equal(agent, 'orrery: bad configuration value: [network_agent] dataplane = "ovs": must be one of noop, linux');
    const checked = failureLine(await run('orrery', ['config', 'check'], { ORRERY_IDENTITY__PASSWORD_HASH_ALGORITHM: 'md5' }));
    assert.equal(checked, 'orrery: bad configuration value: [identity] password_hash_algorithm = "md5": must be one of pbkdf2_sha512, scrypt');
    const valid = await run('orrery', ['config', 'check']);
    assert.deepEqual([valid.code, valid.stdout], [0, 'configuration is valid (defaults and environment; no file)\n']);
    const missing = failureLine(await run('orrery', ['--config', join(stateDir, 'nope.conf'), 'status']));
    assert.equal(missing, `orrery: cannot read the configuration file ${join(stateDir, 'nope.conf')}: no such file`);
  });

  describe('a taken port', () => {
    let squatter: Server;
    let port: number;
    before(async () => {
      squatter = createServer();
      await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
      port = (squatter.address() as { port: number }).port;
    });
    after(async () => {
      await new Promise((resolve) => squatter.close(resolve));
    });

    it('stops the all-in-one with the port and its option', async () => {
      const line = failureLine(await run('all-in-one', [], { ORRERY_API__COMPUTE_PORT: String(port), ORRERY_DEFAULT__COMPUTE_HOSTS: 'c1' }));
      assert.equal(line, `orrery: port ${port} ([api] compute_port) is in use`);
    });
  });

  it('an unreachable database: its URL without the password, and the reason', async () => {
    const dead = await freePort();
    const url = `postgresql://orrery:hunter2@127.0.0.1:${dead}/orrery`;
    for (const args of [['api'], ['status']]) {
      const r = await run('orrery', args, { ORRERY_DATABASE__CONNECTION: url, ORRERY_TRANSPORT_URL: `rabbit://u:p@127.0.0.1:${dead}/` });
      const line = failureLine(r);
      assert.equal(line, `orrery: database unreachable at postgresql://orrery:***@127.0.0.1:${dead}/orrery ([database] connection): connect ECONNREFUSED 127.0.0.1:${dead}`);
      assert.doesNotMatch(r.stdout + r.stderr, /hunter2/);
    }
    const aio = failureLine(await run('all-in-one', [], { ORRERY_DATABASE__CONNECTION: url }));
    assert.match(aio, /^orrery: database unreachable at postgresql:\/\/orrery:\*\*\*@127\.0\.0\.1:\d+\/orrery \(\[database\] connection\): connect ECONNREFUSED/);
  });

  it('an unreachable broker: the broker without the password, after [DEFAULT] broker_connect_timeout', async () => {
    const dead = await freePort();
    const r = await run('orrery', ['compute', '--host', 'c1'], { ORRERY_TRANSPORT_URL: `rabbit://orrery:hunter2@127.0.0.1:${dead}/`, ORRERY_BROKER_CONNECT_TIMEOUT: '0.5' });
    assert.equal(failureLine(r), `orrery: message broker unreachable ([DEFAULT] transport_url): Cannot reach the AMQP broker at amqp://127.0.0.1:${dead}/: connect ECONNREFUSED 127.0.0.1:${dead}`);
    assert.doesNotMatch(r.stdout + r.stderr, /hunter2/);
  });
});
