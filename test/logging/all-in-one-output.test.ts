import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtEntry } from '../../harness/repo.js';
import { waitFor } from '../support/cloud.js';

interface Run {
  child: ChildProcess;
  stateDir: string;
  stdout: () => string;
  stderr: () => string;
}

/** The built all-in-one on free ports, its two output streams kept apart. */
async function start(env: Record<string, string> = {}): Promise<Run> {
  const stateDir = mkdtempSync(join(tmpdir(), 'orrery-aio-log-'));
  const ports = Object.fromEntries(['IDENTITY', 'IMAGE', 'COMPUTE', 'PLACEMENT', 'NETWORK', 'METADATA'].map((p) => [`ORRERY_API__${p}_PORT`, '0']));
  const child = spawn(process.execPath, [builtEntry('all-in-one')], {
    cwd: stateDir, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ORRERY_CONFIG: '', ORRERY_LOG_LEVEL: 'info', ORRERY_STATE_PATH: stateDir, ORRERY_IDENTITY__PASSWORD_HASH_ROUNDS: '1000', ...ports, ...env },
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const run = { child, stateDir, stdout: () => out, stderr: () => err };
  runs.push(run);
  await waitFor('the all-in-one to start', async () => {
    if (child.exitCode !== null) throw new Error(`the all-in-one exited: ${err}`);
    return /Credentials: \. /.test(err) || undefined;
  }, 60_000);
  return run;
}

const runs: Run[] = [];

async function stop(run: Run): Promise<void> {
  if (run.child.exitCode === null && run.child.signalCode === null) {
    const exited = new Promise((r) => run.child.once('exit', r));
    run.child.kill('SIGTERM');
    await exited;
  }
  rmSync(run.stateDir, { recursive: true, force: true });
}

describe('the all-in-one\'s output', () => {
  after(async () => {
    for (const r of runs) await stop(r);
  });

  it('is JSON lines alone on standard output, the banner on standard error', async () => {
    const run = await start();
    await waitFor('its start line', async () => run.stdout().includes('"all-in-one started"') || undefined);
    const lines = run.stdout().trim().split('\n');
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), line);
    const started = lines.map((l) => JSON.parse(l) as { msg: string; urls?: Record<string, string> }).find((l) => l.msg === 'all-in-one started')!;
    assert.match(started.urls!.compute!, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(run.stderr(), /Orrery all-in-one is running\.\n\s+identity\s+http/);
    assert.ok(!run.stdout().includes('Orrery all-in-one is running'));
    await stop(run);
  });

  it('writes to [DEFAULT] log_file instead, and reopens it on SIGHUP (logrotate)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orrery-logfile-'));
    try {
      const file = join(dir, 'logs', 'orrery.log');
      const run = await start({ ORRERY_LOG_FILE: file });
      await waitFor('its start line in the file', async () => (existsSync(file) && readFileSync(file, 'utf8').includes('"all-in-one started"')) || undefined);
      assert.equal(run.stdout(), '');
      renameSync(file, `${file}.1`);
      run.child.kill('SIGHUP');
      // The all-in-one answers SIGHUP by reloading its policy, and logs that: into the new file.
      await waitFor('a line in the reopened file', async () => (existsSync(file) && readFileSync(file, 'utf8').includes('SIGHUP: policy reloaded')) || undefined);
      assert.ok(!readFileSync(`${file}.1`, 'utf8').includes('SIGHUP'));
      for (const line of readFileSync(file, 'utf8').trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line));
      await stop(run);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
