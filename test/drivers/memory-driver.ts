// A small, correct in-memory driver: the base the deliberately broken drivers in ./broken
// each break in one way. Protected hooks are the seams they override.
import { randomUUID } from 'node:crypto';
import {
  CapacityExceeded, InstanceExists, InstanceNotFound, InvalidState, METHOD_CAPABILITY, NodeNotFound, NotSupported,
  PowerState, supportsImageFormat, transitionFor,
  type Capabilities, type DriverContext, type DriverMethod, type DriverVersionInfo, type EventListener, type InstanceInfo,
  type InstanceRef, type InstanceSpec, type NodeInfo, type RebootType, type RebuildRequest, type SnapshotRequest,
  type VirtDriver,
} from '@orrery/virt-api';
import { createTestContext, sampleInstanceSpec, type ConformanceFixture } from '@orrery/virt-api/conformance';

export class MemoryDriver implements VirtDriver {
  protected ctx: DriverContext | null = null;
  protected instances = new Map<string, InstanceInfo>();
  protected listeners = new Set<EventListener>();
  protected nodeUuids = new Map([['mem-a', randomUUID()], ['mem-b', randomUUID()]]);
  protected caps: Capabilities = {
    pause: true, suspend: true, reboot: true, powerControl: true, rebuild: true, snapshot: true, consoleOutput: true,
    multiNode: true, imageFormats: ['raw', 'qcow2'], hypervisorType: 'memory',
  };
  /** Largest flavor a node takes, in VCPUs. */
  protected maxVcpus = 16;

  version(): DriverVersionInfo {
    return { name: 'memory', driverVersion: '0.1.0', contract: { min: '1.0', max: '1.0' } };
  }
  capabilities(): Capabilities {
    return this.caps;
  }
  async init(ctx: DriverContext): Promise<void> {
    this.ctx = ctx;
  }
  async shutdown(): Promise<void> {}

  async listNodes(): Promise<NodeInfo[]> {
    const inv = (total: number) => ({ total, reserved: 0, minUnit: 1, maxUnit: total, stepSize: 1, allocationRatio: null });
    return [...this.nodeUuids].map(([name, uuid]) => ({
      name, uuid, hypervisorType: 'memory', hypervisorVersion: 1, hostIp: '127.0.0.1', traits: [],
      cpuInfo: { arch: 'x86_64', model: 'mem', vendor: 'mem', topology: { sockets: 1, cores: 16, threads: 1 }, features: [] },
      inventory: { VCPU: inv(this.maxVcpus), MEMORY_MB: inv(65536), DISK_GB: inv(1000) },
    }));
  }

  async listInstances(): Promise<InstanceInfo[]> {
    return [...this.instances.values()].map((i) => ({ ...i }));
  }
  async getInstance(ref: InstanceRef): Promise<InstanceInfo> {
    return { ...this.find(ref) };
  }

  async spawn(spec: InstanceSpec): Promise<InstanceInfo> {
    if (!this.nodeUuids.has(spec.node)) throw new NodeNotFound(`no node ${spec.node}`);
    if (!supportsImageFormat(this.caps, spec.image.diskFormat)) throw new NotSupported(`format ${spec.image.diskFormat}`);
    if (this.instances.has(spec.uuid)) throw new InstanceExists(`instance ${spec.uuid} exists`);
    this.checkCapacity(spec);
    return this.create(spec);
  }
  protected checkCapacity(spec: InstanceSpec): void {
    if (spec.flavor.vcpus > this.maxVcpus) throw new CapacityExceeded(`flavor ${spec.flavor.name} is too big`);
  }
  protected async create(spec: InstanceSpec): Promise<InstanceInfo> {
    const i = { uuid: spec.uuid, node: spec.node, powerState: PowerState.RUNNING };
    this.instances.set(i.uuid, i);
    this.emit(i, null);
    return { ...i };
  }

  async destroy(ref: InstanceRef): Promise<void> {
    this.instances.delete(ref.uuid);
  }
  reboot(ref: InstanceRef, type: RebootType): Promise<void> {
    return this.move('reboot', ref, type === 'soft' ? [PowerState.RUNNING] : 'any', PowerState.RUNNING);
  }
  powerOff(ref: InstanceRef): Promise<void> {
    return this.move('powerOff', ref, 'any', PowerState.SHUTDOWN);
  }
  powerOn(ref: InstanceRef): Promise<void> {
    return this.move('powerOn', ref, [PowerState.SHUTDOWN, PowerState.CRASHED, PowerState.RUNNING], PowerState.RUNNING);
  }
  pause(ref: InstanceRef): Promise<void> {
    return this.move('pause', ref, [PowerState.RUNNING], PowerState.PAUSED);
  }
  unpause(ref: InstanceRef): Promise<void> {
    return this.move('unpause', ref, [PowerState.PAUSED], PowerState.RUNNING);
  }
  suspend(ref: InstanceRef): Promise<void> {
    return this.move('suspend', ref, [PowerState.RUNNING, PowerState.PAUSED], PowerState.SUSPENDED);
  }
  resume(ref: InstanceRef): Promise<void> {
    return this.move('resume', ref, [PowerState.SUSPENDED], PowerState.RUNNING);
  }
  async rebuild(req: RebuildRequest): Promise<InstanceInfo> {
    await this.move('rebuild', req.instance, 'any', PowerState.RUNNING);
    return { ...this.find(req.instance) };
  }
  async getConsoleOutput(ref: InstanceRef): Promise<string> {
    this.gate('getConsoleOutput');
    return `console of ${this.find(ref).uuid}\n`;
  }
  async snapshot(req: SnapshotRequest): Promise<void> {
    this.gate('snapshot');
    this.find(req.instance);
    await this.ctx!.images.upload(req.imageId, new TextEncoder().encode('memory snapshot'));
  }
  onEvent(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  protected gate(method: DriverMethod): void {
    const cap = METHOD_CAPABILITY[method];
    if (cap && !this.caps[cap]) throw new NotSupported(`${method} is not supported`);
  }
  protected find(ref: InstanceRef): InstanceInfo {
    const i = this.instances.get(ref.uuid);
    if (!i) throw new InstanceNotFound(`instance ${ref.uuid} not found`);
    return i;
  }
  protected async move(method: DriverMethod, ref: InstanceRef, from: PowerState[] | 'any', to: PowerState): Promise<void> {
    this.gate(method);
    const i = this.find(ref);
    if (from !== 'any' && !from.includes(i.powerState)) throw new InvalidState(`cannot ${method} from ${i.powerState}`);
    const prev = i.powerState;
    i.powerState = to;
    this.emit(i, prev);
  }
  protected emit(i: InstanceInfo, prev: PowerState | null): void {
    const transition = transitionFor(prev, i.powerState);
    if (!transition) return;
    for (const l of this.listeners) l({ uuid: i.uuid, node: i.node, transition, powerState: i.powerState, at: Date.now() });
  }
}

/** A kit fixture for any MemoryDriver-like driver; failSpawn asks for a flavor no node takes. */
export function memoryFixture(name: string, make: () => VirtDriver): ConformanceFixture {
  return {
    name,
    checkTimeoutMs: 5000,
    eventTimeoutMs: 200,
    async create() {
      const { ctx, cleanup } = await createTestContext();
      const driver = make();
      return {
        driver,
        ctx,
        cleanup,
        async failSpawn(node) {
          const spec = sampleInstanceSpec(node, driver.capabilities());
          return { ...spec, flavor: { ...spec.flavor, name: 'kit.huge', vcpus: 100_000 } };
        },
      };
    },
  };
}
