import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCloudProcess, type CloudProcess } from '../support/cloud-process.js';
import { api, type Session } from '../support/http.js';

/**
 * policy.yaml overrides the defaults, and SIGHUP re-reads it in the running process: a member is
 * refused the hypervisor list until the file allows it; a bad file keeps the rules in force.
 */

async function token(identity: string, user: string, password: string, project: string): Promise<Session> {
  const res = await fetch(`${identity}/auth/tokens`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: {
      identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password } } },
      scope: { project: { name: project, domain: { id: 'default' } } },
    } }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  const body = (await res.json()) as { token: { project: { id: string }; user: { id: string } } };
  return { token: res.headers.get('x-subject-token')!, projectId: body.token.project.id, userId: body.token.user.id };
}

describe('policy.yaml on SIGHUP (a real all-in-one process)', { timeout: 120_000 }, () => {
  let cloud: CloudProcess;
  let compute: string;
  let member: Session;
  const policyFile = (): string => join(cloud.stateDir, 'policy.yaml');

  /** Sends SIGHUP and waits until the hypervisor list answers the member `want`. */
  async function hupUntil(want: number): Promise<number> {
    process.kill(cloud.pid, 'SIGHUP');
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await api(member, 'GET', `${compute}/os-hypervisors`)).status;
      if (status === want) return status;
      await new Promise((r) => setTimeout(r, 100));
    }
    return status;
  }

  before(async () => {
    cloud = await startCloudProcess();
    const identity = cloud.openrc.OS_AUTH_URL!;
    compute = /compute\s+(\S+)/.exec(cloud.output())![1]!;
    const admin = await token(identity, cloud.openrc.OS_USERNAME!, cloud.openrc.OS_PASSWORD!, cloud.openrc.OS_PROJECT_NAME!);
    const project = await api(admin, 'POST', `${identity}/projects`, { project: { name: 'p1', domain_id: 'default' } });
    const user = await api(admin, 'POST', `${identity}/users`, { user: { name: 'mia', password: 'pw', domain_id: 'default' } });
    const role = await api(admin, 'GET', `${identity}/roles?name=member`);
    assert.equal((await api(admin, 'PUT', `${identity}/projects/${project.body.project.id}/users/${user.body.user.id}/roles/${role.body.roles[0].id}`)).status, 204);
    member = await token(identity, 'mia', 'pw', 'p1');
  });
  after(async () => {
    await cloud?.stop();
  });

  it('a member lists hypervisors only once policy.yaml allows it, and a bad file changes nothing', async () => {
    const refused = await api(member, 'GET', `${compute}/os-hypervisors`);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.forbidden.message, "Policy doesn't allow os_compute_api:os-hypervisors:list to be performed.");

    writeFileSync(policyFile(), '# members may list hypervisors\n"os_compute_api:os-hypervisors:list": "role:member"\n');
    assert.equal(await hupUntil(200), 200);
    // Only that rule changed.
    assert.equal((await api(member, 'GET', `${compute}/os-hypervisors/detail`)).status, 403);

    // A file that does not parse is logged and the overrides in force stay.
    writeFileSync(policyFile(), '"os_compute_api:os-hypervisors:list": "role:member and"\n');
    process.kill(cloud.pid, 'SIGHUP');
    const deadline = Date.now() + 10_000;
    while (!/policy file not reloaded/.test(cloud.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.match(cloud.output(), /policy file not reloaded/);
    assert.equal((await api(member, 'GET', `${compute}/os-hypervisors`)).status, 200);

    // Removing the override restores the default.
    writeFileSync(policyFile(), '{}\n');
    assert.equal(await hupUntil(403), 403);
  });
});
