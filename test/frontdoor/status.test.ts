import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { builtEntry } from '../../harness/repo.js';
import { heartbeatAge, statusTable } from '../../src/cmd/status.js';
import { startTestCloud, type TestCloud } from '../support/cloud.js';

const exec = promisify(execFile);

describe('orrery status', () => {
  let cloud: TestCloud;
  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1,compute2' } });
  });
  after(async () => {
    await cloud?.close();
  });

  it('lists every service of the running cloud with its state, version and last heartbeat', async () => {
    const { stdout } = await exec(process.execPath, [builtEntry('orrery'), 'status'], {
      env: { ...process.env, ORRERY_CONFIG: '', ORRERY_STATE_PATH: cloud.stateDir, ORRERY_LOG_LEVEL: 'warn' },
    });
    const lines = stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^BINARY\s+HOST\s+STATE\s+STATUS\s+VERSION\s+LAST HEARTBEAT$/);
    const rows = lines.slice(1, -1).map((l) => l.split(/\s{2,}/));
    const byName = new Map(rows.map((r) => [`${r[0]}@${r[1]}`, r]));
    for (const name of ['nova-compute@compute1', 'nova-compute@compute2', 'nova-conductor@localhost', 'nova-scheduler@localhost']) {
      const r = byName.get(name);
      assert.ok(r, `${name} missing from\n${stdout}`);
      assert.deepEqual(r.slice(2, 4), ['up', 'enabled'], name);
      assert.match(r[4]!, /^\d+\.\d+/, `${name} version`);
      assert.match(r[5]!, /^\d{4}-\d\d-\d\dT.* \(\d+ s ago\)$/, `${name} heartbeat`);
    }
    assert.match(lines.at(-1)!, new RegExp(`^${rows.length} services: ${rows.length} up, 0 down$`));
  });

  it('says how long ago in the unit that reads best, and when a service never reported', () => {
    const now = Date.parse('2026-01-02T00:00:00Z');
    assert.equal(heartbeatAge('2026-01-01T23:59:55Z', now), '5 s ago');
    assert.equal(heartbeatAge('2026-01-01T23:50:00Z', now), '10 min ago');
    assert.equal(heartbeatAge('2026-01-01T21:00:00Z', now), '3 h ago');
    assert.equal(heartbeatAge('2025-12-29T00:00:00Z', now), '4 d ago');
    const table = statusTable([{ binary: 'nova-compute', host: 'c9', state: 'down', status: 'disabled', version: '1.4', last_heartbeat: null }], now);
    assert.equal(table, 'BINARY        HOST  STATE  STATUS    VERSION  LAST HEARTBEAT\nnova-compute  c9    down   disabled  1.4      never\n1 service: 0 up, 1 down\n');
  });
});
