import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, login, memberOfNewProject, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { userWithRole } from '../support/tenants.js';

/**
 * Rules about a server are checked on the server (its project and user), not only on the
 * caller: with `user_id:%(user_id)s` in policy.yaml, one member of a project may no longer
 * delete or rename another member's server, and the reader stays read-only.
 */
describe('policy rules on the server acted on', () => {
  let cloud: TestCloud;
  let dir: string;
  let alice: Session;
  let amy: Session;
  let serverId: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'orrery-policy-targets-'));
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, [
      '"owner": "rule:context_is_admin or (role:member and user_id:%(user_id)s)"',
      '"os_compute_api:servers:delete": "rule:owner"',
      '"os_compute_api:servers:update": "rule:owner"',
      '"os_compute_api:servers:stop": "rule:owner"',
    ].join('\n'));
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' }, oslo_policy: { policy_file: file } });
    const admin = await login(cloud, 'admin', 'secret', 'admin');
    alice = await memberOfNewProject(cloud, admin, 'shared', 'alice');
    amy = await userWithRole(cloud, admin, { project: 'shared', user: 'amy', role: 'member' });
    const image = await api(alice, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`);
    const created = await api(alice, 'POST', `${cloud.urls.compute}/v2.1/servers`, {
      server: { name: 'alices', imageRef: image.body.images[0].id, flavorRef: '1', networks: 'none' },
    }, { 'openstack-api-version': 'compute 2.37' });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    serverId = created.body.server.id;
    await waitFor('ACTIVE', async () => ((await api(alice, 'GET', `${cloud.urls.compute}/v2.1/servers/${serverId}`)).body.server.status === 'ACTIVE' ? true : undefined));
  });
  after(async () => {
    await cloud?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("another member of the project may read, but not change, delete or stop the owner's server", async () => {
    const c = cloud.urls.compute;
    assert.equal((await api(amy, 'GET', `${c}/v2.1/servers/${serverId}`)).status, 200);
    const del = await api(amy, 'DELETE', `${c}/v2.1/servers/${serverId}`);
    assert.equal(del.status, 403);
    assert.equal(del.body.forbidden.message, "Policy doesn't allow os_compute_api:servers:delete to be performed.");
    assert.equal((await api(amy, 'PUT', `${c}/v2.1/servers/${serverId}`, { server: { name: 'mine' } })).status, 403);
    assert.equal((await api(amy, 'POST', `${c}/v2.1/servers/${serverId}/action`, { 'os-stop': null })).status, 403);
    assert.equal((await api(alice, 'GET', `${c}/v2.1/servers/${serverId}`)).body.server.name, 'alices');
    assert.equal((await api(alice, 'PUT', `${c}/v2.1/servers/${serverId}`, { server: { name: 'renamed' } })).status, 200);
    assert.equal((await api(alice, 'DELETE', `${c}/v2.1/servers/${serverId}`)).status, 204);
  });
});
