// The example driver runs the contract's conformance kit against itself:  npm test
import { createTestContext, runConformance, sampleInstanceSpec } from '@orrery/virt-api/conformance';
import createDriver from '../index.js';

runConformance({
  name: 'example',
  async create() {
    const { ctx, cleanup } = await createTestContext({ host: 'example-host' });
    const driver = createDriver();
    return {
      driver,
      ctx,
      cleanup,
      reopen: createDriver, // a new driver over the same state dir, as after a restart
      // A flavor bigger than the node: spawn must fail and leave nothing behind.
      async failSpawn(node) {
        const spec = sampleInstanceSpec(node, driver.capabilities());
        return { ...spec, flavor: { ...spec.flavor, vcpus: 1000 } };
      },
    };
  },
});
