// `openstack console url show --novnc` and `--serial` against the all-in-one (fake driver), at
// the microversion of the openrc (remote-consoles) and at 2.1 (the legacy actions); each URL
// is followed to the guest's console.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readOpenrc } from '../../harness/openrc.js';
import { backendSkip, commandExists } from '../support/backends.js';
import { startTestCloud, type TestCloud } from '../support/cloud.js';
import { openstackJson, openstackOk } from '../support/openstack-cli.js';
import { ConsoleClient, novncSocketUrl } from './support.js';

const skip = backendSkip('the openstack CLI (python3-openstackclient)', commandExists('openstack'));

describe('openstack console url show', { skip }, () => {
  let cloud: TestCloud;
  let env: Record<string, string>;

  before(async () => {
    cloud = await startTestCloud();
    env = readOpenrc(cloud.openrcPath);
    await openstackOk(['server', 'create', '--image', 'orrery-tiny', '--flavor', '1', '--network', 'none', '--wait', 'cli-console'], env);
  });
  after(async () => cloud?.close());

  for (const mv of ['2.37', '2.1']) {
    it(`--novnc and --serial at compute ${mv} give URLs that reach the guest`, async () => {
      const vars = { ...env, OS_COMPUTE_API_VERSION: mv };
      const novnc = await openstackJson<{ type: string; url: string }>(['console', 'url', 'show', '--novnc', 'cli-console'], vars);
      assert.equal(novnc.type, 'novnc');
      assert.match(novnc.url, /\/vnc_lite\.html\?path=%3Ftoken%3D/);
      const vnc = new ConsoleClient(novncSocketUrl(novnc.url));
      await vnc.until(/^RFB 003\.008\n/);
      vnc.close();
      const serial = await openstackJson<{ type: string; url: string }>(['console', 'url', 'show', '--serial', 'cli-console'], vars);
      assert.equal(serial.type, 'serial');
      const tty = new ConsoleClient(serial.url);
      await tty.until(/cli-console login: $/);
      tty.close();
    });
  }
});
