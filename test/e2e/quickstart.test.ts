import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { backendSkip, commandExists } from '../support/backends.js';
import { startCloudProcess, type CloudProcess } from '../support/cloud-process.js';
import { cliEnv } from '../support/openstack-cli.js';

const skip = backendSkip('the openstack CLI (python3-openstackclient)', commandExists('openstack'));

/** The README's quick start, as a user types it: the generated openrc is sourced unchanged. */
describe('README quick start', { skip }, () => {
  let cloud: CloudProcess;
  before(async () => {
    // State under ./data of the working directory, as `npm start` keeps it.
    cloud = await startCloudProcess({ ORRERY_STATE_PATH: './data' });
  });
  after(async () => {
    await cloud?.stop();
  });

  it('prints where its openrc is, and the openstack CLI boots a server with it', async () => {
    assert.ok(existsSync(join(cloud.stateDir, 'data', 'openrc')));
    assert.match(cloud.output(), /Credentials: \. .*data\/openrc/);
    const script = [
      '. ./data/openrc',
      'openstack image list',
      'openstack flavor list',
      'openstack server create --image orrery-tiny --flavor m1.tiny --nic none --wait vm1 -f value -c status',
    ].join(' && ');
    const out = await new Promise<string>((resolve, reject) => {
      execFile('bash', ['-c', script], { cwd: cloud.stateDir, env: cliEnv({}), timeout: 120_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${String(err)}\n${stderr}\n${stdout}`));
        else resolve(stdout);
      });
    });
    assert.match(out, /orrery-tiny/);
    assert.match(out, /m1\.tiny/);
    assert.match(out.trim().split('\n').at(-1)!, /^ACTIVE$/);
  });
});
