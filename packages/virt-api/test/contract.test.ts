// Errors, capabilities, events and the version handshake: the pure parts of the contract.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ALLOWED_ERRORS, capabilityTraits, checkCompatibility, DRIVER_ERROR_CODES, DRIVER_METHODS, InstanceNotFound,
  isAllowedError, isDriverError, PowerState, supports, transitionFor, type Capabilities, type DriverVersionInfo,
} from '@orrery/virt-api';

const caps: Capabilities = {
  pause: true, suspend: false, reboot: true, powerControl: true, rebuild: false, snapshot: true, consoleOutput: false,
  multiNode: true, imageFormats: ['qcow2', 'raw'], hypervisorType: 'QEMU',
};
const driver = (min: string, max: string): DriverVersionInfo => ({ name: 'x', driverVersion: '1', contract: { min, max } });

describe('errors', () => {
  it('are recognised by their code, also when thrown by another copy of the package', () => {
    const err = new InstanceNotFound('gone');
    assert.ok(isDriverError(err));
    assert.ok(isDriverError(err, 'InstanceNotFound'));
    assert.ok(!isDriverError(err, 'Timeout'));
    // Another copy of virt-api brands its errors with the same global symbol.
    const foreign = Object.defineProperty(new Error('x'), Symbol.for('orrery.virt-api.DriverError'), { value: true });
    Object.assign(foreign, { code: 'Timeout' });
    assert.ok(isDriverError(foreign, 'Timeout'));
    // A look-alike without the brand is not one of ours.
    assert.ok(!isDriverError(Object.assign(new Error('x'), { code: 'Timeout' })));
  });

  it('ALLOWED_ERRORS covers every method with known codes; DriverFault is always allowed', () => {
    assert.deepEqual(Object.keys(ALLOWED_ERRORS).sort(), [...DRIVER_METHODS].sort());
    for (const codes of Object.values(ALLOWED_ERRORS)) for (const c of codes) assert.ok(DRIVER_ERROR_CODES.includes(c));
    assert.ok(isAllowedError('getInstance', 'InstanceNotFound'));
    assert.ok(!isAllowedError('destroy', 'InstanceNotFound'), 'destroy is idempotent');
    assert.ok(isAllowedError('version', 'DriverFault'));
  });
});

describe('capabilities', () => {
  it('become placement-style traits', () => {
    assert.deepEqual(capabilityTraits(caps), [
      'COMPUTE_IMAGE_TYPE_QCOW2', 'COMPUTE_IMAGE_TYPE_RAW', 'COMPUTE_MULTI_NODE', 'COMPUTE_PAUSE', 'COMPUTE_POWER_CONTROL',
      'COMPUTE_REBOOT', 'COMPUTE_SNAPSHOT', 'CUSTOM_HYPERVISOR_QEMU',
    ]);
    assert.ok(capabilityTraits({ ...caps, hypervisorType: 'my-hv.2' }).includes('CUSTOM_HYPERVISOR_MY_HV_2'));
  });

  it('gate the operations they name', () => {
    assert.ok(supports(caps, 'pause') && supports(caps, 'unpause'));
    assert.ok(!supports(caps, 'resume') && !supports(caps, 'getConsoleOutput'));
    assert.ok(supports(caps, 'spawn'), 'ungated methods are always supported');
  });
});

describe('events', () => {
  it('transitionFor names the change of power state', () => {
    assert.equal(transitionFor(null, PowerState.RUNNING), 'started');
    assert.equal(transitionFor(PowerState.PAUSED, PowerState.RUNNING), 'resumed');
    assert.equal(transitionFor(PowerState.RUNNING, PowerState.SHUTDOWN), 'stopped');
    assert.equal(transitionFor(PowerState.RUNNING, PowerState.SUSPENDED), 'suspended');
    assert.equal(transitionFor(PowerState.SHUTDOWN, PowerState.SHUTDOWN), null);
  });
});

describe('version handshake', () => {
  it('accepts overlapping ranges and returns the highest shared version', () => {
    assert.equal(checkCompatibility(driver('1.0', '1.0')), '1.0');
    assert.equal(checkCompatibility(driver('1.0', '1.3'), { min: '1.0', max: '1.2' }), '1.2');
    assert.equal(checkCompatibility(driver('0.9', '1.1'), { min: '1.0', max: '1.0' }), '1.0');
    assert.equal(checkCompatibility(driver('0.9', '1.1')), '1.1');
  });

  it('refuses disjoint ranges with a message naming both', () => {
    assert.throws(() => checkCompatibility({ ...driver('2.0', '2.1'), name: 'X' }), {
      code: 'IncompatibleContract',
      message: 'driver X implements contract 2.0–2.1; this compute service speaks 1.0–1.4',
    });
    assert.throws(() => checkCompatibility(driver('1.1', '1.1'), { min: '1.0', max: '1.0' }), /implements contract 1\.1; this compute service speaks 1\.0/);
    assert.throws(() => checkCompatibility(driver('one', '1.0')), /invalid contract version "one"/);
    assert.throws(() => checkCompatibility(driver('1.2', '1.0')), /empty contract range/);
  });
});
