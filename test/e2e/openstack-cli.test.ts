import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { backendSkip, commandExists } from '../support/backends.js';
import { startCloudProcess, type CloudProcess } from '../support/cloud-process.js';
import { openstack, openstackJson, openstackOk, waitServerStatus } from '../support/openstack-cli.js';

const skip = backendSkip('the openstack CLI (python3-openstackclient)', commandExists('openstack'));

type Row = Record<string, unknown>;

describe('the openstack CLI drives the all-in-one', { skip }, () => {
  let cloud: CloudProcess;
  let env: Record<string, string>;

  before(async () => {
    cloud = await startCloudProcess();
    env = cloud.openrc;
  });
  after(async () => {
    await cloud?.stop();
  });

  it('issues a token and lists the catalog', async () => {
    const token = await openstackJson<Row>(['token', 'issue'], env);
    assert.match(String(token.id), /.{20,}/);
    assert.ok(token.project_id);
    const catalog = await openstackJson<Row[]>(['catalog', 'list'], env);
    const types = catalog.map((c) => c.Type).sort();
    for (const t of ['compute', 'identity', 'image']) assert.ok(types.includes(t), `catalog lacks ${t}: ${types.join(',')}`);
  });

  it('uploads and lists images, lists flavors, creates a keypair', async () => {
    const file = join(cloud.stateDir, 'disk.img');
    writeFileSync(file, Buffer.alloc(64 * 1024, 7));
    await openstackJson<Row>(['image', 'create', '--file', file, '--disk-format', 'raw', '--container-format', 'bare', 'cli-image'], env);
    const img = await openstackJson<Row>(['image', 'show', 'cli-image'], env);
    assert.equal(img.status, 'active');
    assert.equal(img.size, 64 * 1024);
    assert.equal(img.checksum, createHash('md5').update(readFileSync(file)).digest('hex'));
    const images = await openstackJson<Row[]>(['image', 'list'], env);
    assert.ok(images.some((i) => i.Name === 'cli-image'));
    assert.ok(images.some((i) => i.Name === 'orrery-tiny'));
    const flavors = await openstackJson<Row[]>(['flavor', 'list'], env);
    assert.ok(flavors.some((f) => f.Name === 'm1.tiny'));
    const kp = await openstackOk(['keypair', 'create', 'kp1'], env);
    assert.match(kp, /BEGIN (RSA |OPENSSH )?PRIVATE KEY/);
  });

  it('creates servers, one in an aggregate zone, and drives their lifecycle', async () => {
    await openstackJson(['aggregate', 'create', '--zone', 'az2', 'agg2'], env);
    await openstackJson(['aggregate', 'add', 'host', 'agg2', 'compute2'], env);

    const create = (name: string, extra: string[] = []): Promise<Row> =>
      openstackJson<Row>(['server', 'create', '--image', 'cli-image', '--flavor', 'm1.tiny', '--nic', 'none', '--key-name', 'kp1', '--wait', ...extra, name], env);
    const [vm1, vm2, vm3] = await Promise.all([create('vm1'), create('vm2'), create('vm3', ['--availability-zone', 'az2'])]);
    for (const vm of [vm1!, vm2!, vm3!]) assert.equal(vm.status, 'ACTIVE');
    assert.equal(vm3!['OS-EXT-AZ:availability_zone'], 'az2');
    assert.equal(vm3!['OS-EXT-SRV-ATTR:host'], 'compute2');

    const list = await openstackJson<Row[]>(['server', 'list'], env);
    assert.deepEqual(list.map((s) => s.Name).sort(), ['vm1', 'vm2', 'vm3']);
    const shown = await openstackJson<Row>(['server', 'show', 'vm1'], env);
    assert.equal(shown.name, 'vm1');
    assert.equal(shown.key_name, 'kp1');

    await openstackOk(['server', 'stop', 'vm1'], env);
    await waitServerStatus(env, 'vm1', 'SHUTOFF');
    await openstackOk(['server', 'start', 'vm1'], env);
    await waitServerStatus(env, 'vm1', 'ACTIVE');
    await openstackOk(['server', 'reboot', '--wait', 'vm1'], env);
    assert.equal((await openstackJson<Row>(['server', 'show', 'vm1'], env)).status, 'ACTIVE');
    await openstackOk(['server', 'pause', 'vm1'], env);
    await waitServerStatus(env, 'vm1', 'PAUSED');
    await openstackOk(['server', 'unpause', 'vm1'], env);
    await waitServerStatus(env, 'vm1', 'ACTIVE');

    const actions = await openstackJson<Row[]>(['server', 'event', 'list', 'vm1'], env);
    const names = actions.map((a) => a.Action);
    for (const a of ['create', 'stop', 'start', 'reboot', 'pause', 'unpause']) assert.ok(names.includes(a), `no ${a} action in ${names.join(',')}`);

    await openstackOk(['server', 'delete', '--wait', 'vm2'], env);
    const after = await openstackJson<Row[]>(['server', 'list'], env);
    assert.deepEqual(after.map((s) => s.Name).sort(), ['vm1', 'vm3']);
  });

  it('lists hypervisors, compute services and availability zones', async () => {
    const hv = await openstackJson<Row[]>(['hypervisor', 'list'], env);
    assert.deepEqual(hv.map((h) => h['Hypervisor Hostname']).sort(), ['compute1', 'compute2']);
    const services = await openstackJson<Row[]>(['compute', 'service', 'list'], env);
    const computes = services.filter((s) => s.Binary === 'nova-compute');
    assert.deepEqual(computes.map((s) => s.Host).sort(), ['compute1', 'compute2']);
    for (const s of computes) assert.equal(s.State, 'up');
    const zones = await openstackJson<Row[]>(['availability', 'zone', 'list', '--compute'], env);
    // As for Nova's admin, the internal zone of the control services is listed too.
    const names = zones.map((z) => z['Zone Name']).sort();
    assert.deepEqual([...new Set(names)], ['az2', 'internal', 'nova']);
  });

  it("keeps a second project's member out of the first project's servers", async () => {
    await openstackJson(['project', 'create', 'p2'], env);
    await openstackJson(['user', 'create', '--project', 'p2', '--password', 'pw2', 'u2'], env);
    await openstackOk(['role', 'add', '--project', 'p2', '--user', 'u2', 'member'], env);
    const env2 = { ...env, OS_USERNAME: 'u2', OS_PASSWORD: 'pw2', OS_PROJECT_NAME: 'p2' };
    const theirs = await openstackJson<Row[]>(['server', 'list'], env2);
    assert.deepEqual(theirs, []);
    const vm1 = await openstackJson<Row>(['server', 'show', 'vm1'], env);
    const del = await openstack(['server', 'delete', String(vm1.id)], env2);
    assert.notEqual(del.code, 0);
    assert.match(del.stderr + del.stdout, /No server with a name or ID|could not be found|404/i);
    // The server is still there for its owner.
    assert.equal((await openstackJson<Row>(['server', 'show', 'vm1'], env)).status, 'ACTIVE');
  });
});
