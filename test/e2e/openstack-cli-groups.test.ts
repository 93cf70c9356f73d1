import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backendSkip, commandExists } from '../support/backends.js';
import { startCloudProcess, type CloudProcess } from '../support/cloud-process.js';
import { openstack, openstackJson, openstackOk, waitServerStatus } from '../support/openstack-cli.js';

const skip = backendSkip('the openstack CLI (python3-openstackclient)', commandExists('openstack'));

type Row = Record<string, unknown>;

/** Server groups and the admin's reset of a server's state, through the real `openstack` CLI. */
describe('the openstack CLI: server groups and server set --state', { skip }, () => {
  let cloud: CloudProcess;
  let env: Record<string, string>;

  before(async () => {
    cloud = await startCloudProcess();
    env = cloud.openrc;
  });
  after(async () => {
    await cloud?.stop();
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
