import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backendSkip, commandExists } from '../support/backends.js';
import { startCloudProcess, type CloudProcess } from '../support/cloud-process.js';
import { cliEnv, openstack, openstackJson, openstackOk, waitServerStatus } from '../support/openstack-cli.js';

// Debian's openstacksdk is installed for Debian's python; a pyenv python3 earlier on PATH lacks it.
const SYSTEM_PYTHON = '/usr/bin/python3';
const skip = backendSkip('the openstack CLI and openstacksdk (python3-openstackclient)', commandExists('openstack'));

type Row = Record<string, unknown>;
const LATEST = ['--os-compute-api-version', '2.latest'];

describe('the real clients at the newest and at older compute microversions', { skip }, () => {
  let cloud: CloudProcess;
  let env: Record<string, string>;

  before(async () => {
    cloud = await startCloudProcess();
    env = cloud.openrc;
    const file = join(cloud.stateDir, 'latest.img');
    writeFileSync(file, Buffer.alloc(64 * 1024, 3));
    await openstackJson(['image', 'create', '--file', file, '--disk-format', 'raw', '--container-format', 'bare', 'latest-image'], env);
  });
  after(async () => {
    await cloud?.stop();
  });

  it('negotiates 2.93 and creates, lists and shows a server', async () => {
    const created = await openstackJson<Row>([...LATEST, 'server', 'create', '--image', 'latest-image', '--flavor', 'm1.tiny',
      '--nic', 'none', '--wait', 'latest-vm'], env);
    assert.equal(created.status, 'ACTIVE');
    const list = await openstackJson<Row[]>([...LATEST, 'server', 'list'], env);
    assert.deepEqual(list.map((s) => s.Name), ['latest-vm']);
    const shown = await openstackJson<Row>([...LATEST, 'server', 'show', 'latest-vm'], env);
    // From 2.47 the flavor is embedded: its name and sizes, not an id link.
    assert.equal((shown.flavor as Row).original_name, 'm1.tiny');
    const debug = await openstack([...LATEST, '--debug', 'server', 'show', 'latest-vm'], env);
    assert.match(debug.stderr, /OpenStack-API-Version: compute 2\.9[0-9]/i);
    // The status of a response, not any 406 in the output (a token's hash holds one now and then).
    assert.doesNotMatch(debug.stderr, /RESP: \[406\]|HTTP\/1\.1" 406 /);
  });

  it('sets a server to error with server set --state', async () => {
    await openstackOk([...LATEST, 'server', 'set', '--state', 'error', 'latest-vm'], env);
    await waitServerStatus(env, 'latest-vm', 'ERROR', LATEST);
    await openstackOk([...LATEST, 'server', 'set', '--state', 'active', 'latest-vm'], env);
    await waitServerStatus(env, 'latest-vm', 'ACTIVE', LATEST);
  });

  it('creates, lists, shows and deletes server groups', async () => {
    const g = await openstackJson<Row>([...LATEST, 'server', 'group', 'create', '--policy', 'anti-affinity', 'cli-group'], env);
    assert.equal(g.name, 'cli-group');
    assert.match(String(g.policy ?? g.policies), /anti-affinity/);
    const list = await openstackJson<Row[]>([...LATEST, 'server', 'group', 'list'], env);
    assert.ok(list.some((x) => x.Name === 'cli-group'));
    const shown = await openstackJson<Row>([...LATEST, 'server', 'group', 'show', 'cli-group'], env);
    assert.equal(shown.id, g.id);
    await openstackOk([...LATEST, 'server', 'group', 'delete', 'cli-group'], env);
    const after = await openstackJson<Row[]>([...LATEST, 'server', 'group', 'list'], env);
    assert.ok(!after.some((x) => x.Name === 'cli-group'));
  });

  it('reports usage', async () => {
    const usage = await openstackJson<Row[]>(['usage', 'list'], env);
    assert.ok(usage.length >= 1, 'one project has a server');
    const mine = usage.find((u) => Array.isArray(u.Servers) && (u.Servers as Row[]).some((s) => s.name === 'latest-vm'));
    assert.ok(mine, JSON.stringify(usage));
  });

  it('drives the same through openstacksdk', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(SYSTEM_PYTHON, [new URL('./sdk/compute_latest.py', import.meta.url).pathname, 'latest-image'],
        { env: cliEnv(env), timeout: 180_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${String(err)}\n${stderr}`)) : resolve(stdout)));
    });
    const seen = JSON.parse(out.trim().split('\n').pop()!) as Row;
    assert.equal(seen.max_microversion, '2.93');
    assert.equal(seen.group_policy, 'anti-affinity');
    assert.ok((seen.groups_listed as string[]).includes('sdk-group'));
    assert.equal(seen.server_status, 'ACTIVE');
    assert.equal(seen.flavor_embedded, 'm1.tiny');
    assert.ok((seen.listed as string[]).includes('sdk-vm'));
    assert.equal((seen.group_members as string[]).length, 1);
    assert.equal(seen.after_reset, 'ERROR');
    assert.ok(Number(seen.usage_projects) >= 1);
    assert.ok(!(seen.groups_after_delete as string[]).includes('sdk-group'));
  });

  it('server group create/list/show/delete, at the CLI\'s default and at 2.64', async () => {
    const g = await openstackJson<Row>(['server', 'group', 'create', '--policy', 'anti-affinity', 'cli-group'], env);
    assert.equal(g.name, 'cli-group');
    assert.match(String(g.policy ?? g.policies), /anti-affinity/);
    const list = await openstackJson<Row[]>(['server', 'group', 'list'], env);
    assert.ok(list.some((r) => r.Name === 'cli-group'), JSON.stringify(list));
    const shown = await openstackJson<Row>(['server', 'group', 'show', 'cli-group'], env);
    assert.equal(shown.id, g.id);

    const v264 = await openstackJson<Row>([
      '--os-compute-api-version', '2.64', 'server', 'group', 'create', '--policy', 'soft-anti-affinity', 'cli-group-264',
    ], env);
    assert.equal(v264.policy, 'soft-anti-affinity');
    const all = await openstackJson<Row[]>(['--os-compute-api-version', '2.64', 'server', 'group', 'list', '--all-projects'], env);
    assert.ok(all.some((r) => r.Name === 'cli-group-264'));

    // A server booted into the group is one of its members.
    await openstackOk(['server', 'create', '--image', 'orrery-tiny', '--flavor', 'm1.tiny', '--hint', `group=${String(g.id)}`,
      '--os-compute-api-version', '2.37', '--nic', 'none', 'in-group'], env);
    await waitServerStatus(env, 'in-group', 'ACTIVE');
    const withMember = await openstackJson<Row>(['server', 'group', 'show', String(g.id)], env);
    assert.match(JSON.stringify(withMember.members), /[0-9a-f-]{36}/);

    await openstackOk(['server', 'group', 'delete', 'cli-group', 'cli-group-264'], env);
    const after = await openstackJson<Row[]>(['server', 'group', 'list'], env);
    assert.ok(!after.some((r) => r.Name === 'cli-group' || r.Name === 'cli-group-264'));
    const gone = await openstack(['server', 'group', 'show', String(g.id)], env);
    assert.notEqual(gone.code, 0);
  });

  it('server set --state error, then --state active (os-resetState)', async () => {
    await openstackOk(['server', 'set', '--state', 'error', 'in-group'], env);
    await waitServerStatus(env, 'in-group', 'ERROR');
    await openstackOk(['server', 'set', '--state', 'active', 'in-group'], env);
    await waitServerStatus(env, 'in-group', 'ACTIVE');
    await openstackOk(['server', 'delete', '--wait', 'in-group'], env);
  });
});
