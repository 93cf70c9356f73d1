// Contract 1.4: getConsole, the remoteConsole capability with its consoleKinds and its trait, and
// the guard holding drivers to them (an older driver is never asked; a 1.4 one only for a kind it
// offers, and only a well-formed endpoint leaves the seam).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  capabilitiesAt, capabilityProblems, capabilityTraits, CONTRACT_METHODS, isDriverError, METHOD_SINCE, PowerState, prepareDriver,
  requiredMethods, type Capabilities, type ConsoleEndpoint, type InstanceInfo, type NodeInfo, type VirtDriver,
} from '@orrery/virt-api';
import { createTestContext } from '@orrery/virt-api/conformance';

const NODE: NodeInfo = {
  name: 'n1', uuid: '00000000-0000-4000-8000-000000000001', hypervisorType: 'stub', hypervisorVersion: 1,
  cpuInfo: { arch: 'x86_64', model: 'm', vendor: 'v', topology: { sockets: 1, cores: 1, threads: 1 }, features: [] },
  hostIp: '127.0.0.1', inventory: { VCPU: { total: 4, reserved: 0, minUnit: 1, maxUnit: 4, stepSize: 1, allocationRatio: null } }, traits: [],
};
const running: InstanceInfo = { uuid: 'u1', node: 'n1', powerState: PowerState.RUNNING };
const REF = { uuid: 'u1', node: 'n1' };
const SERIAL: ConsoleEndpoint = { kind: 'serial', host: '127.0.0.1', port: 10001, internalAccessPath: null };

/** A driver of contract `max` whose getConsole answers `answer` and counts its calls. */
function stub(max: '1.3' | '1.4', caps: Partial<Capabilities> = {}, answer: unknown = SERIAL) {
  const calls: string[] = [];
  const d: Record<string, unknown> = {
    version: () => ({ name: 'd', driverVersion: '0', contract: { min: '1.0', max } }),
    capabilities: () => ({
      pause: false, suspend: false, reboot: false, powerControl: false, rebuild: false, snapshot: false, consoleOutput: false,
      multiNode: false, imageFormats: ['raw'], hypervisorType: 'stub', remoteConsole: true, consoleKinds: ['serial'], ...caps,
    }),
    init: async () => {}, shutdown: async () => {}, listNodes: async () => [NODE], listInstances: async () => [],
    getInstance: async () => running, spawn: async () => running, destroy: async () => {}, reboot: async () => {},
    powerOff: async () => {}, powerOn: async () => {}, pause: async () => {}, unpause: async () => {}, suspend: async () => {},
    resume: async () => {}, rebuild: async () => running, getConsoleOutput: async () => '', snapshot: async () => {},
    onEvent: () => () => {}, onNodeEvent: () => () => {}, status: async () => ({ reachable: true, latencyMs: 0, message: 'ok' }),
    plugVifs: async () => {}, unplugVifs: async () => {},
    getConsole: async (_ref: unknown, kind: string) => (calls.push(kind), answer),
  };
  return { driver: d as unknown as VirtDriver, calls };
}

async function started(driver: VirtDriver) {
  const g = prepareDriver(driver);
  const { ctx, cleanup } = await createTestContext();
  await g.init(ctx);
  await cleanup();
  return g;
}

const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (isDriverError(e) ? e.code : String(e)));

describe('contract 1.4: the method table, the capability and its trait', () => {
  it('adds getConsole in 1.4, required only with remoteConsole', () => {
    assert.equal(METHOD_SINCE.getConsole, '1.4');
    assert.ok(!CONTRACT_METHODS['1.3']!.includes('getConsole'));
    assert.ok(!requiredMethods({ version: '1.4', groups: [] }).includes('getConsole'));
    assert.ok(requiredMethods({ version: '1.4', groups: [] }, stub('1.4').driver.capabilities()).includes('getConsole'));
  });

  it('turns remoteConsole into COMPUTE_REMOTE_CONSOLE, only under 1.4, and wants its kinds', () => {
    const caps = stub('1.4').driver.capabilities();
    assert.ok(capabilityTraits(caps).includes('COMPUTE_REMOTE_CONSOLE'));
    assert.ok(!capabilityTraits(capabilitiesAt(caps, '1.3')).includes('COMPUTE_REMOTE_CONSOLE'));
    assert.deepEqual(capabilityProblems(caps), []);
    assert.match(capabilityProblems({ ...caps, consoleKinds: undefined }).join(), /remoteConsole needs consoleKinds/);
    assert.match(capabilityProblems({ ...caps, consoleKinds: ['spice' as never] }).join(), /consoleKinds must list/);
    assert.match(capabilityProblems({ ...caps, consoleKinds: [] }).join(), /consoleKinds must list/);
    assert.deepEqual(capabilityProblems({ ...caps, remoteConsole: undefined, consoleKinds: undefined }), []);
  });
});

describe('contract 1.4: the guard', () => {
  it('passes a declared kind\'s endpoint on', async () => {
    const { driver, calls } = stub('1.4');
    const g = await started(driver);
    assert.ok(g.supports('getConsole'));
    assert.deepEqual(await g.getConsole(REF, 'serial'), SERIAL);
    assert.deepEqual(calls, ['serial']);
  });

  it('refuses a kind not declared, or not of the contract, without calling the driver', async () => {
    const { driver, calls } = stub('1.4');
    const g = await started(driver);
    assert.equal(await codeOf(g.getConsole(REF, 'vnc')), 'NotSupported');
    assert.equal(await codeOf(g.getConsole(REF, 'spice' as never)), 'NotSupported');
    assert.deepEqual(calls, []);
  });

  it('refuses getConsole to a 1.3 driver (NotInContract) and to one without remoteConsole (NotSupported)', async () => {
    const old = stub('1.3');
    const g13 = await started(old.driver);
    assert.equal(g13.supports('getConsole'), false);
    assert.equal(await codeOf(g13.getConsole(REF, 'serial')), 'NotInContract');
    const none = stub('1.4', { remoteConsole: false });
    const g = await started(none.driver);
    assert.equal(g.supports('getConsole'), false);
    assert.equal(await codeOf(g.getConsole(REF, 'serial')), 'NotSupported');
    assert.deepEqual([...old.calls, ...none.calls], []);
  });

  it('turns a malformed endpoint into DriverFault', async () => {
    for (const bad of [
      { ...SERIAL, kind: 'vnc' }, { ...SERIAL, port: 0 }, { ...SERIAL, port: 70000 }, { ...SERIAL, host: "a b'" },
      { ...SERIAL, internalAccessPath: 'x\0y' }, null, 'tcp://x',
    ]) {
      const g = await started(stub('1.4', {}, bad).driver);
      assert.equal(await codeOf(g.getConsole(REF, 'serial')), 'DriverFault', JSON.stringify(bad));
    }
  });

  it('refuses to start a 1.4 driver that declares remoteConsole without getConsole', async () => {
    const { driver } = stub('1.4');
    delete (driver as unknown as Record<string, unknown>).getConsole;
    await assert.rejects(() => started(driver), /getConsole/);
  });
});
