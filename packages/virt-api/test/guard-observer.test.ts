// guardDriver's onCallSettled: every call that reached the driver, with its outcome, for metrics.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  guardDriver, InstanceNotFound, isDriverError, PowerState, type SettledCall, type VirtDriver,
} from '@orrery/virt-api';
import { sampleInstanceSpec } from '@orrery/virt-api/conformance';

const ref = { uuid: 'u1', node: 'n1' };
const node = { name: 'n1', uuid: '00000000-0000-4000-8000-000000000001' } as Parameters<typeof sampleInstanceSpec>[0];
const info = { uuid: 'u1', node: 'n1', powerState: PowerState.RUNNING };

function driver(over: Partial<VirtDriver>): VirtDriver {
  const none = async () => undefined;
  return {
    version: () => ({ name: 'observed', driverVersion: '0', contract: { min: '1.0', max: '1.0' } }),
    capabilities: () => ({
      pause: false, suspend: false, reboot: true, powerControl: true, rebuild: false, snapshot: false, consoleOutput: false,
      multiNode: false, imageFormats: ['raw'], hypervisorType: 'stub',
    }),
    init: none, shutdown: none, listNodes: async () => [], listInstances: async () => [], getInstance: async () => info,
    spawn: async () => info, destroy: none, reboot: none, powerOff: none, powerOn: none, pause: none, unpause: none,
    suspend: none, resume: none, rebuild: async () => info, getConsoleOutput: async () => '', snapshot: none, onEvent: () => () => {},
    ...over,
  };
}

describe('guardDriver onCallSettled', () => {
  it('reports each call that reached the driver: its method, duration and error code', async () => {
    const seen: SettledCall[] = [];
    const g = guardDriver(driver({
      getInstance: async () => { throw new InstanceNotFound('gone'); },
      powerOn: async () => { throw new Error('segfault'); },
    }), { onCallSettled: (c) => seen.push(c), timeoutMs: { reboot: 10 } });
    await g.spawn(sampleInstanceSpec(node, g.capabilities()));
    await assert.rejects(g.getInstance(ref), (e) => isDriverError(e, 'InstanceNotFound'));
    await assert.rejects(g.powerOn(ref), (e) => isDriverError(e, 'DriverFault'));
    // Refused at the seam (an undeclared capability): never reached the driver, not reported.
    await assert.rejects(g.pause(ref), (e) => isDriverError(e, 'NotSupported'));
    assert.deepEqual(seen.map((c) => [c.driver, c.method, c.error ?? 'ok']), [
      ['observed', 'spawn', 'ok'], ['observed', 'getInstance', 'InstanceNotFound'], ['observed', 'powerOn', 'DriverFault'],
    ]);
    for (const c of seen) assert.ok(c.durationMs >= 0 && Number.isFinite(c.durationMs));
  });

  it('reports a deadline passed as Timeout, and an observer that throws changes no outcome', async () => {
    const seen: SettledCall[] = [];
    const g = guardDriver(driver({ reboot: () => new Promise(() => {}) }), {
      timeoutMs: { reboot: 20 },
      onCallSettled: (c) => {
        seen.push(c);
        throw new Error('observer broke');
      },
    });
    await assert.rejects(g.reboot(ref, 'SOFT'), (e) => isDriverError(e, 'Timeout'));
    assert.deepEqual(await g.getInstance(ref), info);
    assert.deepEqual(seen.map((c) => [c.method, c.error ?? 'ok']), [['reboot', 'Timeout'], ['getInstance', 'ok']]);
  });
});
