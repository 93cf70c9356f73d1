import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { backendSkip, commandExists } from '../support/backends.js';
import { launchAllInOne, type AllInOne } from '../../harness/all-in-one.js';
import { openstackJson, openstackOk } from '../support/openstack-cli.js';

// Debian's openstacksdk is installed for Debian's python; a pyenv python3 earlier on PATH lacks it.
const SYSTEM_PYTHON = '/usr/bin/python3';
const skip = backendSkip('the openstack CLI and openstacksdk (python3-openstackclient)', commandExists('openstack'));

/**
 * Issue #13's compute done-when items with the real clients against the all-in-one (built JS,
 * fake driver): `openstack server create --network … --wait` shows the address; `--nic auto`
 * for a project with no network gets one (the auto-allocated topology); openstacksdk's
 * `create_server(wait=True, auto_ip=True)` answers ACTIVE with a floating address.
 */
describe('servers on networks through the openstack CLI and openstacksdk', { skip }, () => {
  let cloud: AllInOne;
  let env: Record<string, string>;

  before(async () => {
    cloud = await launchAllInOne({
      baseEnv: { ...process.env, ORRERY_LOG_LEVEL: process.env.ORRERY_LOG_LEVEL ?? 'warn' },
      env: { ORRERY_API__NETWORK_PORT: '0' },
    });
    env = cloud.openrc;
  });
  after(async () => {
    await cloud?.stop();
  });

  it('server create --network --wait shows the address', async () => {
    await openstackOk(['network', 'create', 'e2enet'], env);
    await openstackOk(['subnet', 'create', '--network', 'e2enet', '--subnet-range', '10.30.0.0/24', 'e2esub'], env);
    const s = await openstackJson<Record<string, any>>(
      ['server', 'create', '--image', 'orrery-tiny', '--flavor', 'm1.tiny', '--network', 'e2enet', '--wait', 'e2evm'], env,
    );
    assert.equal(s.status, 'ACTIVE');
    const shown = await openstackJson<Record<string, any>>(['server', 'show', 'e2evm'], env);
    const text = JSON.stringify(shown.addresses);
    assert.match(text, /e2enet/);
    assert.match(text, /10\.30\.0\.\d+/);
    const ports = await openstackJson<Array<Record<string, any>>>(['port', 'list', '--server', 'e2evm'], env);
    assert.equal(ports.length, 1);
    await openstackOk(['server', 'delete', '--wait', 'e2evm'], env);
    assert.deepEqual(await openstackJson(['port', 'list', '--device-id', String(shown.id)], env), []);
  });

  it('server create --nic auto for a project with no network', async () => {
    await openstackOk(['project', 'create', 'autoproj'], env);
    await openstackOk(['user', 'create', '--password', 'pw', '--project', 'autoproj', 'autouser'], env);
    await openstackOk(['role', 'add', '--user', 'autouser', '--project', 'autoproj', 'member'], env);
    const user = { ...env, OS_USERNAME: 'autouser', OS_PASSWORD: 'pw', OS_PROJECT_NAME: 'autoproj' };
    assert.deepEqual(await openstackJson(['network', 'list'], user), []);
    const s = await openstackJson<Record<string, any>>(
      ['--os-compute-api-version', '2.37', 'server', 'create', '--image', 'orrery-tiny', '--flavor', 'm1.tiny', '--nic', 'auto', '--wait', 'autovm'], user,
    );
    assert.equal(s.status, 'ACTIVE');
    const shown = await openstackJson<Record<string, any>>(['server', 'show', 'autovm'], user);
    assert.match(JSON.stringify(shown.addresses), /auto_allocated_network/);
  });

  it('openstacksdk create_server(wait=True, auto_ip=True) is ACTIVE with a floating address', async () => {
    // An external network with a router to the project's network: what auto_ip needs.
    await openstackOk(['network', 'create', '--external', '--provider-network-type', 'flat', '--provider-physical-network', 'external', 'public'], env);
    await openstackOk(['subnet', 'create', '--network', 'public', '--subnet-range', '172.24.4.0/24', '--no-dhcp', 'public-sub'], env);
    await openstackOk(['router', 'create', 'r1'], env);
    await openstackOk(['router', 'set', '--external-gateway', 'public', 'r1'], env);
    await openstackOk(['router', 'add', 'subnet', 'r1', 'e2esub'], env);
    const script = [
      'import json, os, openstack',
      'c = openstack.connect(auth_url=os.environ["OS_AUTH_URL"], username=os.environ["OS_USERNAME"], password=os.environ["OS_PASSWORD"],',
      '  project_name=os.environ["OS_PROJECT_NAME"], user_domain_name="Default", project_domain_name="Default")',
      's = c.create_server("sdkvm", image="orrery-tiny", flavor="m1.tiny", network="e2enet", wait=True, auto_ip=True, timeout=120)',
      'print(json.dumps({"status": s.status, "public_v4": s.public_v4, "addresses": s.addresses}))',
    ].join('\n');
    const out = await new Promise<string>((resolve, reject) => {
      execFile(SYSTEM_PYTHON, ['-c', script], { env: { ...process.env, ...env }, timeout: 180_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
    const seen = JSON.parse(out.trim().split('\n').pop()!) as { status: string; public_v4: string; addresses: Record<string, any[]> };
    assert.equal(seen.status, 'ACTIVE');
    assert.match(seen.public_v4, /^172\.24\.4\.\d+$/);
    assert.ok(seen.addresses.e2enet!.some((a) => a['OS-EXT-IPS:type'] === 'floating' && a.addr === seen.public_v4));
  });
});
