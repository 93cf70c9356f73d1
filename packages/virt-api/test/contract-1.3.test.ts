// Contract 1.3: the VIF calls and fields, the interfaceAttach capability and its trait, and the
// guard holding drivers to them (an older driver sees neither; a 1.3 one only well-formed VIFs).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bridgeNameOf, capabilitiesAt, capabilityTraits, CONTRACT_METHODS, DriverError, guardDriver, isDriverError, METHOD_SINCE, MAX_VIFS,
  PowerState, prepareDriver, requiredMethods, tapNameOf, vifProblems,
  type Capabilities, type InstanceInfo, type InstanceSpec, type NodeInfo, type VifInfo, type VirtDriver,
} from '@orrery/virt-api';
import { createTestContext, sampleInstanceSpec, sampleVifs } from '@orrery/virt-api/conformance';

const NODE: NodeInfo = {
  name: 'n1', uuid: '00000000-0000-4000-8000-000000000001', hypervisorType: 'stub', hypervisorVersion: 1,
  cpuInfo: { arch: 'x86_64', model: 'm', vendor: 'v', topology: { sockets: 1, cores: 1, threads: 1 }, features: [] },
  hostIp: '127.0.0.1', inventory: { VCPU: { total: 4, reserved: 0, minUnit: 1, maxUnit: 4, stepSize: 1, allocationRatio: null } }, traits: [],
};
const running: InstanceInfo = { uuid: 'u1', node: 'n1', powerState: PowerState.RUNNING };
const REF = { uuid: 'u1', node: 'n1' };

/** A driver of contract `max` recording what each call was handed. */
function stub(max: '1.2' | '1.3', caps: Partial<Capabilities> = {}, over: Record<string, unknown> = {}) {
  const seen: Array<[string, unknown[]]> = [];
  const rec = (name: string, out: unknown) => async (...args: unknown[]) => (seen.push([name, args]), out);
  const d: Record<string, unknown> = {
    version: () => ({ name: 'd', driverVersion: '0', contract: { min: '1.0', max } }),
    capabilities: () => ({
      pause: false, suspend: false, reboot: false, powerControl: false, rebuild: true, snapshot: false, consoleOutput: false,
      multiNode: false, imageFormats: ['raw'], hypervisorType: 'stub', ...caps,
    }),
    init: async () => {}, shutdown: async () => {}, listNodes: async () => [NODE], listInstances: async () => [],
    getInstance: async () => running, spawn: rec('spawn', running), destroy: async () => {}, reboot: async () => {},
    powerOff: async () => {}, powerOn: async () => {}, pause: async () => {}, unpause: async () => {}, suspend: async () => {},
    resume: async () => {}, rebuild: rec('rebuild', running), getConsoleOutput: async () => '', snapshot: async () => {},
    onEvent: () => () => {}, onNodeEvent: () => () => {}, status: async () => ({ reachable: true, latencyMs: 0, message: 'ok' }),
    plugVifs: rec('plugVifs', undefined), unplugVifs: rec('unplugVifs', undefined),
    attachInterface: rec('attachInterface', undefined), detachInterface: rec('detachInterface', undefined),
    ...over,
  };
  return { driver: d as unknown as VirtDriver, seen };
}

async function started(driver: VirtDriver) {
  const g = prepareDriver(driver);
  const { ctx, cleanup } = await createTestContext();
  await g.init(ctx);
  await cleanup();
  return g;
}

const rejection = (p: Promise<unknown>) => p.then(() => assert.fail('expected a rejection'), (e: unknown) => e);

function specWith(ports: VifInfo[]): InstanceSpec {
  const s = sampleInstanceSpec(NODE, stub('1.3').driver.capabilities());
  return { ...s, network: { ports } };
}

describe('contract 1.3: the method table, the capability and its trait', () => {
  it('adds the VIF calls in 1.3; the interface calls are required only with interfaceAttach', () => {
    assert.equal(METHOD_SINCE.plugVifs, '1.3');
    assert.equal(METHOD_SINCE.attachInterface, '1.3');
    assert.ok(!CONTRACT_METHODS['1.2']!.includes('plugVifs'));
    const plain = requiredMethods({ version: '1.3', groups: [] });
    assert.ok(plain.includes('plugVifs') && plain.includes('unplugVifs') && !plain.includes('attachInterface'));
    const attach = requiredMethods({ version: '1.3', groups: [] }, { ...(stub('1.3').driver.capabilities()), interfaceAttach: true });
    assert.ok(attach.includes('attachInterface') && attach.includes('detachInterface'));
    assert.ok(!requiredMethods({ version: '1.2', groups: [] }).includes('plugVifs'));
  });

  it('turns interfaceAttach into COMPUTE_NET_ATTACH_DETACH, only under 1.3', () => {
    const caps = { ...stub('1.3').driver.capabilities(), interfaceAttach: true };
    assert.ok(capabilityTraits(caps).includes('COMPUTE_NET_ATTACH_DETACH'));
    assert.ok(!capabilityTraits(capabilitiesAt(caps, '1.2')).includes('COMPUTE_NET_ATTACH_DETACH'));
    assert.ok(!capabilityTraits({ ...caps, interfaceAttach: false }).includes('COMPUTE_NET_ATTACH_DETACH'));
  });

  it('names bridges and taps as linuxbridge does', () => {
    assert.equal(bridgeNameOf('3f2a9c1e-0b7d-4e55-9a11-222233334444'), 'brq3f2a9c1e-0b');
    assert.equal(tapNameOf('9d8c7b6a-5f4e-4d3c-8b2a-111122223333'), 'tap9d8c7b6a-5f');
  });

  it('finds what is wrong with a VIF: names unsafe for a command line, bad MACs and MTUs, unknown types', () => {
    const [ok] = sampleVifs(1) as [VifInfo];
    assert.deepEqual(vifProblems(ok), []);
    assert.deepEqual(vifProblems({ id: 'p', mac: 'fa:16:3e:00:00:01', networkId: 'n', fixedIps: [] }), []);
    assert.equal(vifProblems({ ...ok, devName: 'tap; rm -rf /' }).length, 1);
    assert.equal(vifProblems({ ...ok, bridge: 'brq-much-too-long-name' }).length, 1);
    assert.equal(vifProblems({ ...ok, mac: 'fa:16:3e:00:00' }).length, 1);
    assert.equal(vifProblems({ ...ok, mtu: 20 }).length, 1);
    assert.equal(vifProblems({ ...ok, vifType: 'ovs' as unknown as 'bridge' }).length, 1);
    assert.equal(vifProblems({ ...ok, id: 'a\u0000b' }).length, 1);
    assert.equal(vifProblems({ ...ok, subnets: [{ cidr: '10.0.0.0/24', gateway: null, version: 5 as 4 }] }).length, 1);
    assert.equal(vifProblems({ ...ok, fixedIps: Array.from({ length: 65 }, () => '10.0.0.1') }).length, 1);
  });
});

describe('the guard and contract 1.3', () => {
  it('hands a 1.2 driver its ports with the 1.0 fields only, and refuses it the VIF calls', async () => {
    const { driver, seen } = stub('1.2', { interfaceAttach: true });
    const g = await started(driver);
    assert.equal(g.contract.version, '1.2');
    assert.equal(g.supports('plugVifs'), false);
    assert.equal(g.supports('attachInterface'), false);
    assert.ok(!capabilityTraits(g.capabilities()).includes('COMPUTE_NET_ATTACH_DETACH'), 'no trait for a capability it cannot be called for');
    const ports = sampleVifs(2);
    await g.spawn(specWith(ports));
    const handed = (seen.find(([m]) => m === 'spawn')![1][0] as InstanceSpec).network.ports;
    assert.deepEqual(handed, ports.map((p) => ({ id: p.id, mac: p.mac, networkId: p.networkId, fixedIps: p.fixedIps })));
    await g.rebuild({ instance: specWith(ports), image: specWith([]).image });
    assert.deepEqual(Object.keys((seen.find(([m]) => m === 'rebuild')![1][0] as { instance: InstanceSpec }).instance.network.ports[0]!).sort(),
      ['fixedIps', 'id', 'mac', 'networkId']);
    for (const call of [g.plugVifs(REF, ports), g.unplugVifs(REF, ports), g.attachInterface(REF, ports[0]!), g.detachInterface(REF, ports[0]!)]) {
      assert.ok(isDriverError(await rejection(call), 'NotInContract'));
    }
    assert.deepEqual(seen.map(([m]) => m), ['spawn', 'rebuild']);
  });

  it('hands a 1.3 driver the whole VIFs, copied, and its VIF calls', async () => {
    const { driver, seen } = stub('1.3', { interfaceAttach: true });
    const g = await started(driver);
    assert.equal(g.contract.version, '1.3');
    const ports = sampleVifs(2);
    await g.plugVifs(REF, ports);
    await g.spawn(specWith(ports));
    await g.attachInterface(REF, ports[1]!);
    await g.detachInterface(REF, ports[1]!);
    await g.unplugVifs(REF, ports);
    assert.deepEqual(seen.map(([m]) => m), ['plugVifs', 'spawn', 'attachInterface', 'detachInterface', 'unplugVifs']);
    assert.deepEqual(seen[0]![1][1], ports);
    assert.notEqual(seen[0]![1][1], ports, 'a copy: the driver cannot change the caller\'s ports');
    assert.deepEqual((seen[1]![1][0] as InstanceSpec).network.ports, ports);
    assert.ok(capabilityTraits(g.capabilities()).includes('COMPUTE_NET_ATTACH_DETACH'));
  });

  it('refuses a malformed VIF (and too many) with NotSupported before the driver sees it', async () => {
    const { driver, seen } = stub('1.3', { interfaceAttach: true });
    const g = await started(driver);
    const [p] = sampleVifs(1) as [VifInfo];
    const bad = { ...p, devName: 'tap$(reboot)' };
    for (const call of [g.plugVifs(REF, [bad]), g.spawn(specWith([bad])), g.attachInterface(REF, bad), g.detachInterface(REF, bad),
      g.plugVifs(REF, sampleVifs(MAX_VIFS + 1))]) {
      const err = await rejection(call);
      assert.ok(isDriverError(err, 'NotSupported'), String(err));
    }
    assert.match(String(await rejection(g.plugVifs(REF, [bad]))), /port 0: devName must be an interface name/);
    assert.deepEqual(seen, []);
  });

  it('refuses the interface calls of a 1.3 driver without interfaceAttach (NotSupported), never reaching it', async () => {
    const { driver, seen } = stub('1.3');
    const g = await started(driver);
    assert.equal(g.supports('plugVifs'), true);
    assert.equal(g.supports('attachInterface'), false);
    const [p] = sampleVifs(1) as [VifInfo];
    assert.ok(isDriverError(await rejection(g.attachInterface(REF, p)), 'NotSupported'));
    assert.ok(isDriverError(await rejection(g.detachInterface(REF, p)), 'NotSupported'));
    assert.deepEqual(seen, []);
  });

  it('passes the allowed errors of the VIF calls, and wraps the others as DriverFault', async () => {
    const boom = (code: ConstructorParameters<typeof DriverError>[0]) => async () => {
      throw new DriverError(code, `stub ${code}`);
    };
    const g = await started(stub('1.3', { interfaceAttach: true }, {
      plugVifs: boom('NotSupported'), unplugVifs: boom('InstanceNotFound'), attachInterface: boom('InvalidState'), detachInterface: boom('MigrationFailed'),
    }).driver);
    const [p] = sampleVifs(1) as [VifInfo];
    assert.ok(isDriverError(await rejection(g.plugVifs(REF, [p])), 'NotSupported'));
    const unplug = await rejection(g.unplugVifs(REF, [p]));
    assert.ok(isDriverError(unplug, 'DriverFault'), 'an unplug of what is gone succeeds: InstanceNotFound is not allowed');
    assert.ok(isDriverError(await rejection(g.attachInterface(REF, p)), 'InvalidState'));
    assert.ok(isDriverError(await rejection(g.detachInterface(REF, p)), 'DriverFault'));
  });

  it('loads a 1.3 driver only with its VIF calls, and with the interface calls when it declares interfaceAttach', () => {
    assert.throws(() => prepareDriver(stub('1.3', {}, { plugVifs: undefined }).driver), /lacks contract methods: plugVifs \(agreed contract 1\.3\)/);
    assert.throws(() => prepareDriver(stub('1.3', { interfaceAttach: true }, { detachInterface: undefined }).driver),
      /lacks contract methods: detachInterface \(agreed contract 1\.3 with capability interfaceAttach\)/);
    assert.equal(prepareDriver(stub('1.3', {}, { attachInterface: undefined, detachInterface: undefined }).driver).contract.version, '1.3');
    assert.equal(prepareDriver(stub('1.2', {}, { plugVifs: undefined, unplugVifs: undefined }).driver).contract.version, '1.2');
  });
});
