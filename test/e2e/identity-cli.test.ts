import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { backendSkip, commandExists } from '../support/backends.js';
import { startCloudProcess, type CloudProcess } from '../support/cloud-process.js';
import { openstack, openstackJson, openstackOk } from '../support/openstack-cli.js';

const skip = backendSkip('the openstack CLI (python3-openstackclient)', commandExists('openstack'));

type Row = Record<string, unknown>;

/** Issue #22's done-when, driven by the real `openstack` CLI against the all-in-one process. */
describe('the openstack CLI: domains, groups, application credentials, project tags', { skip }, () => {
  let cloud: CloudProcess;
  let admin: Record<string, string>;
  let user: Record<string, string>;

  before(async () => {
    cloud = await startCloudProcess();
    admin = cloud.openrc;
    user = {
      ...admin, OS_USERNAME: 'e2e-user', OS_PASSWORD: 'e2e-pw', OS_USER_DOMAIN_NAME: 'e2e-dom',
      OS_PROJECT_NAME: 'e2e-proj', OS_PROJECT_DOMAIN_NAME: 'e2e-dom',
    };
  });
  after(async () => {
    await cloud?.stop();
  });

  it('a domain with a user and a group; the group\'s role on a project is in the user\'s token', async () => {
    const d = await openstackJson<Row>(['domain', 'create', '--description', 'e2e', 'e2e-dom'], admin);
    assert.equal(d.name, 'e2e-dom');
    assert.equal(d.enabled, true);
    const p = await openstackJson<Row>(['project', 'create', '--domain', 'e2e-dom', 'e2e-proj'], admin);
    assert.equal(p.domain_id, d.id);
    const u = await openstackJson<Row>(['user', 'create', '--domain', 'e2e-dom', '--password', 'e2e-pw', 'e2e-user'], admin);
    assert.equal(u.domain_id, d.id);
    const g = await openstackJson<Row>(['group', 'create', '--domain', 'e2e-dom', 'e2e-group'], admin);
    assert.equal(g.domain_id, d.id);
    await openstackOk(['group', 'add', 'user', '--group-domain', 'e2e-dom', '--user-domain', 'e2e-dom', 'e2e-group', 'e2e-user'], admin);
    assert.match(await openstackOk(['group', 'contains', 'user', '--group-domain', 'e2e-dom', '--user-domain', 'e2e-dom', 'e2e-group', 'e2e-user'], admin), /e2e-user in group e2e-group/);
    await openstackOk(['role', 'add', '--group', 'e2e-group', '--group-domain', 'e2e-dom', '--project', 'e2e-proj', '--project-domain', 'e2e-dom', 'member'], admin);

    const assignments = await openstackJson<Row[]>(['role', 'assignment', 'list', '--effective', '--names', '--user', 'e2e-user', '--user-domain', 'e2e-dom'], admin);
    const roles = assignments.map((a) => a.Role).sort();
    assert.deepEqual(roles, ['member', 'reader']);
    assert.ok(assignments.every((a) => a.Project === 'e2e-proj@e2e-dom'), JSON.stringify(assignments));

    // The user's own token (user and project found by name in the new domain) carries the group's role.
    const token = await openstackJson<Row>(['token', 'issue'], user);
    assert.equal(token.project_id, p.id);
    assert.equal(token.user_id, u.id);
    const res = await fetch(`${admin.OS_AUTH_URL}/auth/tokens`, {
      headers: { 'x-auth-token': String((await openstackJson<Row>(['token', 'issue'], admin)).id), 'x-subject-token': String(token.id) },
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { token: { roles: Array<{ name: string }> } };
    assert.ok(body.token.roles.some((r) => r.name === 'member'), JSON.stringify(body.token.roles));
    assert.deepEqual(await openstackJson<Row[]>(['server', 'list'], user), []);
  });

  it('an application credential authenticates (v3applicationcredential), lists servers, and is refused once deleted', async () => {
    const ac = await openstackJson<Row>(['application', 'credential', 'create', '--description', 'robot', 'e2e-ac'], user);
    assert.ok(typeof ac.secret === 'string' && ac.secret.length >= 20);
    assert.ok(typeof ac.id === 'string');
    const listed = await openstackJson<Row[]>(['application', 'credential', 'list'], user);
    assert.deepEqual(listed.map((x) => x.Name), ['e2e-ac']);
    const shown = await openstackJson<Row>(['application', 'credential', 'show', 'e2e-ac'], user);
    assert.equal(shown.secret, undefined, 'the secret is shown once');

    const acEnv: Record<string, string> = {
      OS_AUTH_TYPE: 'v3applicationcredential', OS_AUTH_URL: admin.OS_AUTH_URL!, OS_APPLICATION_CREDENTIAL_ID: String(ac.id),
      OS_APPLICATION_CREDENTIAL_SECRET: String(ac.secret), OS_IDENTITY_API_VERSION: '3', OS_REGION_NAME: admin.OS_REGION_NAME!,
      OS_INTERFACE: admin.OS_INTERFACE!, OS_COMPUTE_API_VERSION: admin.OS_COMPUTE_API_VERSION!,
    };
    assert.deepEqual(await openstackJson<Row[]>(['server', 'list'], acEnv), []);
    const token = await openstackJson<Row>(['token', 'issue'], acEnv);
    assert.equal(token.project_id, (await openstackJson<Row>(['project', 'show', '--domain', 'e2e-dom', 'e2e-proj'], admin)).id);

    await openstackOk(['application', 'credential', 'delete', 'e2e-ac'], user);
    const refused = await openstack(['server', 'list'], acEnv);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /401|authenticat/i);
  });

  it('project tags are set and filtered', async () => {
    await openstackOk(['project', 'set', '--domain', 'e2e-dom', '--tag', 'red', '--tag', 'big', 'e2e-proj'], admin);
    const shown = await openstackJson<Row>(['project', 'show', '--domain', 'e2e-dom', 'e2e-proj'], admin);
    assert.deepEqual([...(shown.tags as string[])].sort(), ['big', 'red']);
    const names = async (args: string[]) => (await openstackJson<Row[]>(['project', 'list', ...args], admin)).map((x) => x.Name);
    assert.deepEqual(await names(['--tags', 'red']), ['e2e-proj']);
    assert.deepEqual(await names(['--tags', 'red,big']), ['e2e-proj']);
    assert.deepEqual(await names(['--tags-any', 'blue,big']), ['e2e-proj']);
    assert.ok(!(await names(['--not-tags', 'red'])).includes('e2e-proj'));
    assert.ok((await names(['--not-tags', 'red'])).includes('admin'));
    await openstackOk(['project', 'set', '--domain', 'e2e-dom', '--remove-tag', 'red', 'e2e-proj'], admin);
    assert.deepEqual(await names(['--tags', 'red']), []);
  });

  it('nested projects, domain and inherited role assignments, a user\'s groups', async () => {
    const child = await openstackJson<Row>(['project', 'create', '--domain', 'e2e-dom', '--parent', 'e2e-proj', 'e2e-child'], admin);
    const parent = await openstackJson<Row>(['project', 'show', '--domain', 'e2e-dom', 'e2e-proj'], admin);
    assert.equal(child.parent_id, parent.id);
    const shown = await openstackJson<Row>(['project', 'show', '--domain', 'e2e-dom', '--parents', '--children', 'e2e-child'], admin);
    assert.ok(JSON.stringify(shown.parents).includes(String(parent.id)), JSON.stringify(shown));
    await openstackOk(['role', 'add', '--user', 'e2e-user', '--user-domain', 'e2e-dom', '--domain', 'e2e-dom', 'reader'], admin);
    await openstackOk(['role', 'add', '--user', 'e2e-user', '--user-domain', 'e2e-dom', '--project', 'e2e-proj', '--project-domain', 'e2e-dom', '--inherited', 'member'], admin);
    const onDomain = await openstackJson<Row[]>(['role', 'assignment', 'list', '--domain', 'e2e-dom', '--names'], admin);
    assert.deepEqual(onDomain.map((a) => a.Role), ['reader']);
    const inherited = await openstackJson<Row[]>(['role', 'assignment', 'list', '--inherited', '--names'], admin);
    assert.ok(inherited.some((a) => a.Role === 'member' && a.Inherited === true), JSON.stringify(inherited));
    // The inherited role scopes the user to the child project.
    const token = await openstackJson<Row>(['token', 'issue'], { ...user, OS_PROJECT_NAME: 'e2e-child' });
    assert.equal(token.project_id, child.id);
    const groups = await openstackJson<Row[]>(['group', 'list', '--user', 'e2e-user', '--user-domain', 'e2e-dom'], admin);
    assert.deepEqual(groups.map((g) => g.Name), ['e2e-group']);
  });

  it('a domain is deleted only once disabled, with what it holds', async () => {
    const refused = await openstack(['domain', 'delete', 'e2e-dom'], admin);
    assert.notEqual(refused.code, 0);
    await openstackOk(['domain', 'set', '--disable', 'e2e-dom'], admin);
    await openstackOk(['domain', 'delete', 'e2e-dom'], admin);
    const domains = await openstackJson<Row[]>(['domain', 'list'], admin);
    assert.deepEqual(domains.map((x) => x.Name), ['Default']);
    assert.notEqual((await openstack(['token', 'issue'], user)).code, 0);
  });
});
