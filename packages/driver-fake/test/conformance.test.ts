// The fake driver runs the contract's conformance kit against itself: with every capability,
// with every optional one switched off (so "undeclared operations raise NotSupported" has
// something to check), and with whole-machine nodes. Each create() is a host of its own (the
// move checks of 1.2 make two), and its move records, NICs of gone guests and ports left plugged
// count as what a host may leave behind.
import { createTestContext, runConformance, sampleInstanceSpec, type ConformanceFixture } from '@orrery/virt-api/conformance';
import { createDriver, fakeBackendPath, openFakeBackend } from '@orrery/driver-fake';

function fixture(name: string, config: Record<string, string>): ConformanceFixture {
  let hosts = 0;
  return {
    name,
    parallelSpawns: 16,
    async create() {
      const { ctx, cleanup } = await createTestContext({ host: `kit-host-${++hosts}`, config: { live_migration_ms: '50', ...config } });
      const path = fakeBackendPath(ctx.stateDir, ctx.host);
      const driver = createDriver();
      const withBackend = <T>(fn: (b: ReturnType<typeof openFakeBackend>) => T): T => {
        const b = openFakeBackend(path);
        try {
          return fn(b);
        } finally {
          b.close();
        }
      };
      return {
        driver,
        ctx,
        cleanup,
        reopen: () => createDriver(),
        // Arm a mid-build fault: the guest row exists when it strikes, so the driver must remove it.
        async failSpawn(node) {
          withBackend((b) => b.injectFault({ op: 'spawn', code: 'CapacityExceeded', message: 'injected: no room' }));
          return sampleInstanceSpec(node, driver.capabilities());
        },
        async externalLeaks() {
          return withBackend((b) => [
            ...b.listInstances().map((i) => `instance ${i.uuid} (${i.name})`),
            ...b.moves.list().map((m) => `move ${m.migrationId} ${m.role} of ${m.uuid} (${m.state})`),
            ...b.vifs.leftovers(),
          ]);
        },
        async guestMacs(ref) {
          return withBackend((b) => b.vifs.nics(ref.uuid).map((n) => n.mac));
        },
      };
    },
  };
}

runConformance(fixture('fake', { nodes: '3', watch_interval_ms: '0' }));
runConformance(
  fixture('fake, minimal capabilities', {
    unsupported: 'pause,suspend,reboot,powerControl,rebuild,snapshot,consoleOutput,multiNode,coldMigration,liveMigration,interfaceAttach',
    image_formats: 'raw',
  }),
);
// Whole machines: nodes that report a single CUSTOM_* class and none of the standard ones.
runConformance(fixture('fake, whole machines', { nodes: '2', node_resource_class: 'CUSTOM_BAREMETAL_SMALL', watch_interval_ms: '0' }));
