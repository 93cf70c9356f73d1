import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isResourceClass, requestedResources, resourceSpecProblem } from '../../src/common/resource-classes.js';
import { anchorClass } from '../../src/db/host-candidates.js';

const flavor = (extraSpecs: Record<string, string> = {}) => ({ vcpus: 2, memoryMb: 512, rootGb: 1, ephemeralGb: 1, swap: 1025, extraSpecs });

describe('resource classes', () => {
  it('knows the standard classes and the CUSTOM_ rule, bounded in length', () => {
    for (const rc of ['VCPU', 'MEMORY_MB', 'DISK_GB', 'PCPU', 'VGPU', 'CUSTOM_BAREMETAL_SMALL', 'CUSTOM_1', `CUSTOM_${'A'.repeat(248)}`]) {
      assert.equal(isResourceClass(rc), true, rc);
    }
    for (const rc of ['', 'vcpu', 'CUSTOM_', 'CUSTOM_lower', 'CUSTOM_A-B', 'GOLD', '__proto__', 'CUSTOM_A\u0000', `CUSTOM_${'A'.repeat(249)}`]) {
      assert.equal(isResourceClass(rc), false, rc);
    }
  });

  it('a flavor asks for its size, overridden and extended by resources:<CLASS> specs', () => {
    assert.deepEqual(requestedResources(flavor()), { VCPU: 2, MEMORY_MB: 512, DISK_GB: 4 });
    assert.deepEqual(requestedResources(flavor({ 'resources:VCPU': '0', 'resources:MEMORY_MB': '0', 'resources:DISK_GB': '0', 'resources:CUSTOM_BAREMETAL_SMALL': '1' })),
      { CUSTOM_BAREMETAL_SMALL: 1 });
    assert.deepEqual(requestedResources(flavor({ 'resources:VCPU': '6', 'resources:CUSTOM_GPU': '0', 'hw:cpu_policy': 'dedicated' })),
      { VCPU: 6, MEMORY_MB: 512, DISK_GB: 4 });
    // A spec written before validation existed is not asked for.
    assert.deepEqual(requestedResources(flavor({ 'resources:GOLD': '1', 'resources:VCPU': 'lots' })), { VCPU: 2, MEMORY_MB: 512, DISK_GB: 4 });
  });

  it('explains what is wrong with a resources spec, and ignores other keys', () => {
    assert.equal(resourceSpecProblem('resources:CUSTOM_X', '0'), null);
    assert.equal(resourceSpecProblem('resources:VCPU', '2147483647'), null);
    assert.equal(resourceSpecProblem('trait:CUSTOM_X', 'required'), null);
    assert.equal(resourceSpecProblem('hw:resources:x', 'y'), null);
    assert.match(resourceSpecProblem('resources:VCPU', '2147483648')!, /integer from 0/);
    assert.match(resourceSpecProblem('resources:VCPU', '-1')!, /integer from 0/);
    assert.match(resourceSpecProblem('resources:NOPE', '1')!, /not a standard resource class/);
    assert.match(resourceSpecProblem('resources2:VCPU', '1')!, /granular/);
    assert.match(resourceSpecProblem('resources_gpu:VCPU', '1')!, /granular/);
  });

  it('the scheduler walks the memory index when memory is asked, else the first class asked', () => {
    assert.equal(anchorClass({ VCPU: 1, MEMORY_MB: 512, DISK_GB: 1 }), 'MEMORY_MB');
    assert.equal(anchorClass({ VCPU: 1, CUSTOM_BAREMETAL_SMALL: 1 }), 'CUSTOM_BAREMETAL_SMALL');
    assert.equal(anchorClass({ VCPU: 2 }), 'VCPU');
    assert.equal(anchorClass({}), null);
  });
});
