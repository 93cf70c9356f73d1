import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backendSkip, commandExists } from '../support/backends.js';
import { openstackJson, openstackOk } from '../support/openstack-cli.js';
import { startServices, type Services } from '../identity/harness.js';

/**
 * The real `openstack` client against the identity and image APIs: what it sends and expects
 * must be what Keystone and Glance do. Independent commands run in parallel (each CLI start
 * costs a second or two).
 */
describe('openstack CLI against identity and image', { skip: backendSkip('openstack CLI', commandExists('openstack')) }, () => {
  let s: Services;
  let env: Record<string, string>;
  before(async () => {
    s = await startServices();
    env = {
      OS_AUTH_URL: `${s.identityUrl}/v3`,
      OS_USERNAME: 'admin',
      OS_PASSWORD: 'secret',
      OS_PROJECT_NAME: 'admin',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_REGION_NAME: s.config.str('DEFAULT', 'region_name'),
      OS_INTERFACE: 'public',
      OS_IDENTITY_API_VERSION: '3',
    };
  });
  after(async () => s.close());

  it('issues tokens, manages projects, users and roles, and creates, lists, shows and saves images', async () => {
    const file = join(s.stateDir, 'disk.raw');
    const data = randomBytes(200 * 1024);
    writeFileSync(file, data);

    const [token, project, user, image] = await Promise.all([
      openstackJson<Record<string, string>>(['token', 'issue'], env),
      openstackJson<Record<string, string>>(['project', 'create', 'cli-proj'], env),
      openstackJson<Record<string, string>>(['user', 'create', '--password', 'cli-pw', 'cli-user'], env),
      openstackJson<Record<string, string>>(['image', 'create', '--file', file, '--disk-format', 'raw', '--container-format', 'bare', 'cli-img'], env),
    ]);
    assert.match(token.id!, /^gAAAA/);
    assert.equal(project.name, 'cli-proj');
    assert.equal(project.domain_id, 'default');
    assert.equal(user.name, 'cli-user');
    assert.equal(image.name, 'cli-img');

    const saved = join(s.stateDir, 'saved.raw');
    const [, list, shown] = await Promise.all([
      openstackOk(['role', 'add', '--project', 'cli-proj', '--user', 'cli-user', 'member'], env),
      openstackJson<Array<Record<string, string>>>(['image', 'list'], env),
      openstackJson<Record<string, unknown>>(['image', 'show', 'cli-img'], env),
      openstackOk(['image', 'save', '--file', saved, 'cli-img'], env),
    ]);
    assert.deepEqual(list.map((i) => [i.Name, i.Status]), [['cli-img', 'active']]);
    assert.equal(shown.id, image.id);
    assert.equal(shown.status, 'active');
    assert.equal(shown.size, data.length);
    assert.equal(shown.checksum, createHash('md5').update(data).digest('hex'));
    assert.ok(readFileSync(saved).equals(data));

    const memberEnv = { ...env, OS_USERNAME: 'cli-user', OS_PASSWORD: 'cli-pw', OS_PROJECT_NAME: 'cli-proj' };
    const [assignments, memberToken, memberImages] = await Promise.all([
      openstackJson<Array<Record<string, string>>>(['role', 'assignment', 'list', '--names', '--project', 'cli-proj'], env),
      openstackJson<Record<string, string>>(['token', 'issue'], memberEnv),
      openstackJson<Array<Record<string, string>>>(['image', 'list'], memberEnv),
    ]);
    assert.deepEqual(assignments.map((a) => [a.Role, a.User, a.Project]), [['member', 'cli-user@Default', 'cli-proj@Default']]);
    assert.equal(memberToken.project_id, project.id);
    assert.deepEqual(memberImages, [], "the admin project's shared image is not the member's");
  });
});
