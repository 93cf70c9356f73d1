import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backendSkip, commandExists } from '../support/backends.js';
import { startCloudProcess, type CloudProcess } from '../support/cloud-process.js';
import { openstack, openstackJson, openstackOk } from '../support/openstack-cli.js';

const skip = backendSkip('the openstack CLI (python3-openstackclient)', commandExists('openstack'));

type Row = Record<string, unknown>;

/** Issue #22's done-when: region, service and endpoint create with the real CLI, the endpoint in `openstack catalog list`. */
describe('the openstack CLI manages the catalog', { skip }, () => {
  let cloud: CloudProcess;
  let env: Record<string, string>;

  before(async () => {
    cloud = await startCloudProcess();
    env = cloud.openrc;
  });
  after(async () => {
    await cloud?.stop();
  });

  it('creates a child region, a service and its endpoint, which `catalog list` then shows', async () => {
    const region = await openstackJson<Row>(['region', 'create', '--parent-region', 'RegionOne', '--description', 'the east', 'RegionOne-east'], env);
    assert.equal(region.region, 'RegionOne-east');
    assert.equal(region.parent_region, 'RegionOne');
    const regions = await openstackJson<Row[]>(['region', 'list'], env);
    assert.deepEqual(regions.map((r) => r.Region).sort(), ['RegionOne', 'RegionOne-east']);

    const service = await openstackJson<Row>(['service', 'create', '--name', 'swift', '--description', 'Object storage', 'object-store'], env);
    assert.equal(service.type, 'object-store');
    assert.equal(service.enabled, true);
    const endpoint = await openstackJson<Row>(['endpoint', 'create', '--region', 'RegionOne-east', 'swift', 'public', 'https://swift.example.net:8080/v1'], env);
    assert.equal(endpoint.service_name, 'swift');
    assert.equal(endpoint.region, 'RegionOne-east');
    assert.equal(endpoint.url, 'https://swift.example.net:8080/v1');

    const catalog = await openstackJson<Row[]>(['catalog', 'list'], env);
    const swift = catalog.find((c) => c.Type === 'object-store');
    assert.ok(swift, `catalog: ${JSON.stringify(catalog)}`);
    assert.equal(swift.Name, 'swift');
    assert.deepEqual((swift.Endpoints as Row[]).map((e) => [e.region, e.interface, e.url]), [['RegionOne-east', 'public', 'https://swift.example.net:8080/v1']]);
    const shown = await openstackOk(['catalog', 'show', 'object-store'], env);
    assert.match(shown, /swift\.example\.net/);
    // The services the cloud runs are rows too, and a client still finds them.
    const endpoints = await openstackJson<Row[]>(['endpoint', 'list', '--service', 'compute', '--interface', 'public'], env);
    assert.equal(endpoints.length, 1);
    assert.match(String(endpoints[0]!.URL), /^http:\/\/127\.0\.0\.1:\d+\/v2\.1$/);
    await openstackJson(['server', 'list'], env);

    // Deleting a region that holds an endpoint is refused; with the service gone, it goes.
    const refused = await openstack(['region', 'delete', 'RegionOne-east'], env);
    assert.notEqual(refused.code, 0);
    await openstackOk(['service', 'delete', 'swift'], env);
    await openstackOk(['region', 'delete', 'RegionOne-east'], env);
    const after = await openstackJson<Row[]>(['catalog', 'list'], env);
    assert.equal(after.find((c) => c.Type === 'object-store'), undefined);
  });

  it('stores EC2 credentials (as credentials and through OS-EC2) and shows them back to their user', async () => {
    const blob = JSON.stringify({ access: 'AKIA-CLI', secret: 'cli-secret' });
    const created = await openstackJson<Row>(['credential', 'create', '--type', 'ec2', '--project', 'admin', 'admin', blob], env);
    assert.equal(created.type, 'ec2');
    const list = await openstackJson<Row[]>(['credential', 'list', '--user', 'admin'], env);
    assert.ok(list.some((c) => c.ID === created.id && String(c.Data).includes('cli-secret')), JSON.stringify({ created, list }));
    await openstackOk(['credential', 'delete', String(created.id)], env);
    // The OS-EC2 calls: keys made by the cloud for the current project.
    const ec2 = await openstackJson<Row>(['ec2', 'credentials', 'create'], env);
    assert.match(String(ec2.access), /^[0-9a-f]{32}$/);
    assert.match(String(ec2.secret), /^[0-9a-f]{32}$/);
    const keys = await openstackJson<Row[]>(['ec2', 'credentials', 'list'], env);
    assert.deepEqual(keys.map((k) => k.Access), [ec2.access]);
    const shown = await openstackJson<Row>(['ec2', 'credentials', 'show', String(ec2.access)], env);
    assert.equal(shown.secret, ec2.secret);
    await openstackOk(['ec2', 'credentials', 'delete', String(ec2.access)], env);
    assert.deepEqual(await openstackJson<Row[]>(['ec2', 'credentials', 'list'], env), []);
  });
});
