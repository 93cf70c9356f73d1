// The ironic driver's pure parts: options, microversion negotiation, Ironic's error body, the
// catalog lookup, and how a node becomes a contract node and an instance.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PowerState } from '@orrery/virt-api';
import {
  baremetalEndpoint, compareMicroversions, faultOf, instanceInfoOf, instanceOf, isContractNode, negotiate, nodeInfoOf,
  parseConfig, resourceClassOf, rootUrl, type IronicNode,
} from '@orrery/driver-ironic';
import { sampleInstanceSpec } from '@orrery/virt-api/conformance';

const node = (over: Partial<IronicNode> = {}): IronicNode => ({
  uuid: '0b9e1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d', name: 'n1', resource_class: 'baremetal', provision_state: 'available',
  target_provision_state: null, power_state: 'power off', target_power_state: null, maintenance: false, last_error: null,
  instance_uuid: null, properties: { cpus: 4, cpu_arch: 'x86_64' }, ...over,
});

describe('ironic driver options', () => {
  it('reads the defaults and the noauth endpoint', () => {
    const c = parseConfig({ auth_type: 'noauth', endpoint_override: 'http://127.0.0.1:6385/v1/' });
    assert.equal(c.endpointOverride, 'http://127.0.0.1:6385');
    assert.equal(c.resourceClass, 'baremetal');
    assert.deepEqual(c.imageFormats, ['ami']);
    assert.equal(c.pollIntervalMs, 2000);
  });
  it('refuses noauth without an endpoint and password auth without Keystone', () => {
    assert.throws(() => parseConfig({ auth_type: 'noauth' }), /needs endpoint_override/);
    assert.throws(() => parseConfig({}), /needs auth_url and username/);
    assert.throws(() => parseConfig({ auth_type: 'noauth', endpoint_override: 'ftp://x' }), /http\(s\) URL/);
  });
  it('never repeats a secret in a complaint', () => {
    // A password is free text, so only a NUL makes it bad; the message must not carry it.
    assert.throws(() => parseConfig({ auth_url: 'http://k:5000/v3', username: 'u', password: 'hunter2\0' }), (err: Error) => !err.message.includes('hunter2'));
  });
});

describe('microversions', () => {
  it('compares numerically, not as text', () => {
    assert.equal(compareMicroversions('1.9', '1.21'), -1);
    assert.equal(compareMicroversions('1.46', '1.46'), 0);
  });
  it('asks for 1.46 when offered, the maximum below it, and nothing under 1.21', () => {
    assert.equal(negotiate('1.1', '1.82'), '1.46');
    assert.equal(negotiate('1.1', '1.31'), '1.31');
    assert.equal(negotiate('1.1', '1.20'), null);
    assert.equal(negotiate('1.50', '1.82'), null);
  });
});

describe("Ironic's error body", () => {
  it('reads the faultstring out of the JSON-encoded error_message', () => {
    const body = JSON.stringify({ error_message: JSON.stringify({ faultcode: 'Client', faultstring: 'Node x is locked by host y', debuginfo: null }) });
    assert.equal(faultOf(body), 'Node x is locked by host y');
    assert.equal(faultOf(JSON.stringify({ error_message: 'plain' })), 'plain');
    assert.equal(faultOf('not json'), 'not json');
  });
});

describe('catalog', () => {
  const catalog = [
    { type: 'compute', endpoints: [{ interface: 'public', url: 'http://c' }] },
    { type: 'baremetal', endpoints: [{ interface: 'internal', region_id: 'r1', url: 'http://i:6385' }, { interface: 'public', region_id: 'r1', url: 'http://p:6385/v1' }] },
  ];
  it('finds the baremetal endpoint of the interface and region, as a root URL', () => {
    assert.equal(baremetalEndpoint(catalog, { interface: 'public', regionName: '' }), 'http://p:6385');
    assert.equal(baremetalEndpoint(catalog, { interface: 'internal', regionName: 'r1' }), 'http://i:6385');
    assert.equal(baremetalEndpoint(catalog, { interface: 'public', regionName: 'r2' }), null);
    assert.equal(rootUrl('http://h:6385/v1/'), 'http://h:6385');
  });
});

describe('nodes and instances', () => {
  it("names the whole-node class as Nova does", () => {
    assert.equal(resourceClassOf('baremetal'), 'CUSTOM_BAREMETAL');
    assert.equal(resourceClassOf('bm-gold.1'), 'CUSTOM_BM_GOLD_1');
    assert.equal(resourceClassOf('CUSTOM_X'), 'CUSTOM_X');
    assert.equal(resourceClassOf(' '), null);
  });
  it('serves available nodes and nodes with an instance, of its class only', () => {
    assert.ok(isContractNode(node(), 'baremetal'));
    assert.ok(!isContractNode(node(), 'gold'));
    assert.ok(!isContractNode(node({ provision_state: 'manageable' }), 'baremetal'));
    assert.ok(!isContractNode(node({ maintenance: true }), 'baremetal'));
    assert.ok(isContractNode(node({ provision_state: 'active', instance_uuid: 'i-1' }), 'baremetal'));
  });
  it('offers one whole node, reserved while it can take no instance', () => {
    const free = nodeInfoOf(node(), 'CUSTOM_BAREMETAL', '10.0.0.1');
    assert.deepEqual(Object.keys(free.inventory), ['CUSTOM_BAREMETAL']);
    assert.equal(free.inventory.CUSTOM_BAREMETAL?.total, 1);
    assert.equal(free.inventory.CUSTOM_BAREMETAL?.reserved, 0);
    assert.equal(free.name, free.uuid);
    assert.equal(nodeInfoOf(node({ provision_state: 'active', instance_uuid: 'i-1' }), 'CUSTOM_BAREMETAL', '').inventory.CUSTOM_BAREMETAL?.reserved, 0);
    assert.equal(nodeInfoOf(node({ provision_state: 'active', instance_uuid: 'i-1', maintenance: true }), 'CUSTOM_BAREMETAL', '').inventory.CUSTOM_BAREMETAL?.reserved, 0);
    assert.equal(nodeInfoOf(node({ provision_state: 'cleaning' }), 'CUSTOM_BAREMETAL', '').inventory.CUSTOM_BAREMETAL?.reserved, 1);
  });
  it("reports the node's instance with its power state", () => {
    assert.equal(instanceOf(node()), null);
    assert.deepEqual(instanceOf(node({ instance_uuid: 'i-1', power_state: 'power on' })), { uuid: 'i-1', node: node().uuid, powerState: PowerState.RUNNING });
    assert.equal(instanceOf(node({ instance_uuid: 'i-1', power_state: null }))?.powerState, PowerState.NOSTATE);
  });
  it("writes the image, the flavor's sizes and its required traits into instance_info", () => {
    const spec = sampleInstanceSpec(nodeInfoOf(node(), 'CUSTOM_BAREMETAL', ''), { imageFormats: ['ami'] } as never);
    spec.image.properties = { kernel_id: 'k', ramdisk_id: 'r' };
    spec.flavor.extraSpecs = { 'resources:CUSTOM_BAREMETAL': '1', 'trait:CUSTOM_GPU': 'required', 'trait:CUSTOM_OLD': 'forbidden' };
    const info = instanceInfoOf(spec);
    assert.equal(info['image_source'], spec.image.id);
    assert.equal(info['kernel'], 'k');
    assert.equal(info['ramdisk'], 'r');
    assert.deepEqual(info['traits'], ['CUSTOM_GPU']);
    assert.equal(info['root_gb'], 1);
  });
});
