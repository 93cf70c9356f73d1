// The out-of-tree example driver (examples/driver-example): loadable by path, and conformant.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { importDriverFactory, isDriverError, loadDriver, PowerState } from '@orrery/virt-api';
import { createTestContext, runConformance, sampleInstanceSpec } from '@orrery/virt-api/conformance';
import { repoRoot } from '../../harness/repo.js';

const root = repoRoot();
const spec = './examples/driver-example';

describe('examples/driver-example', () => {
  it('loads by path relative to baseDir, guarded, and boots a guest', async () => {
    const driver = await loadDriver(spec, { bundled: { fake: '@orrery/driver-fake' }, baseDir: root });
    assert.equal(driver.version().name, 'example');
    const { ctx, cleanup } = await createTestContext({ host: 'ex' });
    await driver.init(ctx);
    const [node] = await driver.listNodes();
    assert.equal(node!.name, 'ex');
    const s = sampleInstanceSpec(node!, driver.capabilities());
    await driver.spawn(s);
    assert.equal((await driver.getInstance(s)).powerState, PowerState.RUNNING);
    const err = await driver.suspend(s).catch((e: unknown) => e);
    assert.ok(isDriverError(err, 'NotSupported'), 'suspend is not declared');
    await driver.shutdown();
    await cleanup();
  });
});

const createDriver = await importDriverFactory(spec, { baseDir: root });
runConformance({
  name: 'examples/driver-example',
  async create() {
    const { ctx, cleanup } = await createTestContext({ host: 'ex' });
    const driver = await createDriver();
    return {
      driver,
      ctx,
      cleanup,
      reopen: createDriver,
      async failSpawn(node) {
        const s = sampleInstanceSpec(node, driver.capabilities());
        return { ...s, flavor: { ...s.flavor, vcpus: 1000 } };
      },
    };
  },
});
