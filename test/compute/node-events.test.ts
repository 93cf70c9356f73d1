// A 1.1 driver's node events reach the conductor: a served node whose inventory grows is
// reported again at once; a node removed from the back-end is not dropped by the compute
// service (its record stays until the service next starts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NodeEventHub, type DriverStatus, type DriverVersionInfo, type NodeEventListener, type NodeInfo } from '@orrery/virt-api';
import { createLogger } from '../../src/common/logging.js';
import { ComputeService } from '../../src/compute/manager.js';
import { MemoryDriver } from '../drivers/memory-driver.js';
import { startTestCloud, waitFor, type TestCloud } from '../support/cloud.js';

/** The memory driver at contract 1.1, whose nodes a test can resize or remove at run time. */
class LivingNodesDriver extends MemoryDriver {
  readonly hub = new NodeEventHub();
  override version(): DriverVersionInfo {
    return { name: 'living', driverVersion: '1.1.0', contract: { min: '1.0', max: '1.1' } };
  }
  override async init(...args: Parameters<MemoryDriver['init']>): Promise<void> {
    await super.init(...args);
    this.hub.reset(await super.listNodes());
  }
  override async listNodes(): Promise<NodeInfo[]> {
    const nodes = await super.listNodes();
    this.hub.seen(nodes);
    return nodes;
  }
  async status(): Promise<DriverStatus> {
    return { reachable: true, latencyMs: 0, message: 'in memory' };
  }
  onNodeEvent(listener: NodeEventListener): () => void {
    return this.hub.add(listener);
  }
  /** Changes the back-end, then re-reads it as a watcher would (emitting the events). */
  async change(fn: () => void): Promise<void> {
    fn();
    await this.listNodes();
  }
  resize(vcpus: number): Promise<void> {
    return this.change(() => (this.maxVcpus = vcpus));
  }
  remove(name: string): Promise<void> {
    return this.change(() => this.nodeUuids.delete(name));
  }
}

describe('node events of a 1.1 driver', () => {
  let cloud: TestCloud;
  let compute: ComputeService;
  const driver = new LivingNodesDriver();
  const vcpuTotals = () => cloud.db.selectFrom('inventories as i').innerJoin('compute_nodes as n', 'n.uuid', 'i.node_uuid')
    .select(['n.hypervisor_hostname as node', 'i.total']).where('n.host', '=', 'living').where('n.deleted', '=', 0)
    .where('i.resource_class', '=', 'VCPU').orderBy('n.hypervisor_hostname').execute();

  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: '' } });
    compute = new ComputeService(cloud.bus, { config: cloud.config, host: 'living', driver, log: createLogger('test', 'silent'), images: {} as never });
    await compute.start();
  });
  after(async () => {
    await compute?.stop();
    await cloud?.close();
  });

  it('reports a served node’s new inventory without a restart', async () => {
    assert.deepEqual((await vcpuTotals()).map((r) => r.total), [16, 16]);
    await driver.resize(32);
    await waitFor('the new VCPU inventory', async () => ((await vcpuTotals()).every((r) => r.total === 32) ? true : undefined), 10_000);
  });

  it('drops a removed node that has no instances at once (the node tracker follows removals)', async () => {
    await driver.remove('mem-b');
    await driver.resize(8); // a change after the removal is still reported, for the served nodes
    await waitFor('the resize after the removal', async () => ((await vcpuTotals()).find((r) => r.node === 'mem-a')?.total === 8 ? true : undefined), 10_000);
    assert.deepEqual((await vcpuTotals()).map((r) => r.node), ['mem-a']);
  });
});
