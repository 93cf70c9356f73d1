/**
 * The ironic driver: bare-metal nodes of one resource class as the contract's nodes, shared by
 * every compute of the same cluster (the ring spreads them), one instance per node. spawn =
 * associate (instance_uuid + instance_info) and provision `active`, waiting for the deploy;
 * destroy = provision `deleted` (the service cleans) and wait; power and reboot = states/power.
 * Node and power changes are seen by polling the node list (poller.ts).
 */
import {
  Aborted, BackendUnavailable, CapacityExceeded, InstanceExists, InstanceNotFound, InvalidState, NodeNotFound, NotSupported,
  NodeEventHub, PowerState, supportsImageFormat,
  type Capabilities, type CallOptions, type DriverContext, type DriverStatus, type DriverVersionInfo, type EventListener,
  type InstanceInfo, type InstanceRef, type InstanceSpec, type Logger, type NodeEventListener, type NodeInfo,
  type RebootType, type ResourceClass, type VifInfo, type VirtDriver,
} from '@orrery/virt-api';
import * as api from './api.js';
import { IronicClient, IronicHttpError } from './client.js';
import { parseConfig, resourceClassOf, type IronicConfig } from './config.js';
import { DEPLOY_FAILED, DEPLOYING, instanceOf, isContractNode, nodeInfoOf, powerStateOf, UNDEPLOYING, type IronicNode } from './nodes.js';
import { Poller } from './poller.js';
import { instanceInfoOf } from './instance-info.js';
import { pollUntil } from './waits.js';

export const DRIVER_VERSION = '1.0.0';

const NOT_SUPPORTED = (what: string) => new NotSupported(`ironic driver: ${what} is not supported on bare metal here`);

export class IronicDriver implements VirtDriver {
  #cfg!: IronicConfig;
  #rc!: ResourceClass;
  #client!: IronicClient;
  #log!: Logger;
  #poller: Poller | null = null;
  readonly #events = new Set<EventListener>();
  readonly #nodeEvents = new NodeEventHub((err) => this.#log?.warn('ironic driver: a node event listener threw', { err: String(err) }));

  version(): DriverVersionInfo {
    return { name: 'ironic', driverVersion: DRIVER_VERSION, contract: { min: '1.1', max: '1.4' }, groups: ['nodeLookup'] };
  }

  capabilities(): Capabilities {
    return {
      pause: false,
      suspend: false,
      reboot: true,
      powerControl: true,
      rebuild: false,
      snapshot: false,
      consoleOutput: false,
      multiNode: true,
      imageFormats: this.#cfg?.imageFormats ?? ['ami'],
      hypervisorType: 'ironic',
      sharedNodes: { cluster: this.#cfg?.cluster ?? 'ironic' },
      coldMigration: false,
      liveMigration: false,
      interfaceAttach: false,
      remoteConsole: false,
    };
  }

  async init(ctx: DriverContext): Promise<void> {
    this.#log = ctx.log;
    this.#cfg = parseConfig(ctx.config);
    this.#rc = resourceClassOf(this.#cfg.resourceClass)!;
    this.#client = new IronicClient(this.#cfg);
    await this.#client.connect();
    const nodes = await api.listNodes(this.#client, this.#cfg.resourceClass);
    this.#nodeEvents.reset(this.#contractNodes(nodes));
    this.#poller = new Poller({
      read: () => api.listNodes(this.#client, this.#cfg.resourceClass),
      intervalMs: this.#cfg.pollIntervalMs,
      onNodes: (nodes) => this.#nodeEvents.seen(this.#contractNodes(nodes)),
      onLifecycle: (e) => {
        for (const l of this.#events) {
          try {
            l(e);
          } catch (err) {
            this.#log.warn('ironic driver: a lifecycle listener threw', { err: String(err) });
          }
        }
      },
      onError: (err) => this.#log.warn('ironic driver: reading the nodes failed', { err: String(err) }),
    });
    this.#poller.seed(nodes);
    this.#poller.start();
    this.#log.info('ironic driver ready', { endpoint: this.#client.endpoint, microversion: this.#client.version, resourceClass: this.#cfg.resourceClass });
  }

  async shutdown(): Promise<void> {
    this.#poller?.stop();
    this.#poller = null;
  }

  #contractNodes(nodes: IronicNode[]): NodeInfo[] {
    return nodes.filter((n) => isContractNode(n, this.#cfg.resourceClass)).map((n) => nodeInfoOf(n, this.#rc, this.#cfg.hostIp));
  }

  async listNodes(): Promise<NodeInfo[]> {
    return this.#contractNodes(await api.listNodes(this.#client, this.#cfg.resourceClass));
  }

  async getNode(name: string): Promise<NodeInfo> {
    const n = await this.#ironicNode(name);
    if (!n || !isContractNode(n, this.#cfg.resourceClass)) throw new NodeNotFound(`ironic driver: no node ${name} of resource class ${this.#cfg.resourceClass} that can hold an instance`);
    return nodeInfoOf(n, this.#rc, this.#cfg.hostIp);
  }

  /** A node by uuid; null for a name that is no uuid (it cannot be one of ours) or a node the service does not have. */
  async #ironicNode(uuid: string): Promise<IronicNode | null> {
    if (!/^[0-9a-f-]{36}$/i.test(uuid)) return null;
    const n = await api.getNode(this.#client, uuid);
    return n && n.resource_class === this.#cfg.resourceClass ? n : null;
  }

  async listInstances(): Promise<InstanceInfo[]> {
    const nodes = await api.listNodes(this.#client, this.#cfg.resourceClass);
    return nodes.map(instanceOf).filter((i): i is InstanceInfo => i !== null);
  }

  /** The node holding `ref`; InstanceNotFound when none does. */
  async #nodeOf(ref: InstanceRef): Promise<IronicNode> {
    const n = await this.#ironicNode(ref.node);
    if (!n || n.instance_uuid !== ref.uuid) throw new InstanceNotFound(`ironic driver: node ${ref.node} holds no instance ${ref.uuid}`);
    return n;
  }

  async getInstance(ref: InstanceRef): Promise<InstanceInfo> {
    return instanceOf(await this.#nodeOf(ref))!;
  }

  async spawn(spec: InstanceSpec, opts?: CallOptions): Promise<InstanceInfo> {
    if (opts?.signal?.aborted) throw new Aborted(`ironic driver: spawn of ${spec.uuid} abandoned before it began: ${String(opts.signal.reason)}`);
    if (!supportsImageFormat(this.capabilities(), spec.image.diskFormat)) {
      throw new NotSupported(`ironic driver: image format ${spec.image.diskFormat} is not one of ${this.#cfg.imageFormats.join(', ')} ([ironic] image_formats)`);
    }
    const node = await this.#ironicNode(spec.node);
    if (!node) throw new NodeNotFound(`ironic driver: no node ${spec.node} of resource class ${this.#cfg.resourceClass}`);
    if (node.instance_uuid === spec.uuid) throw new InstanceExists(`ironic driver: node ${node.uuid} already holds instance ${spec.uuid}`);
    if (node.instance_uuid || node.provision_state !== 'available' || node.maintenance) {
      throw new CapacityExceeded(`ironic driver: node ${node.uuid} is not free (${node.provision_state}${node.maintenance ? ', maintenance' : ''}${node.instance_uuid ? ', has an instance' : ''})`);
    }
    // The association is the claim: Ironic refuses a second instance_uuid (409), so two computes never deploy one node.
    try {
      await api.patchNode(this.#client, node.uuid, [
        { op: 'add', path: '/instance_uuid', value: spec.uuid },
        { op: 'add', path: '/instance_info', value: instanceInfoOf(spec) },
      ]);
    } catch (err) {
      if (err instanceof IronicHttpError && err.status === 409) throw new CapacityExceeded(`ironic driver: node ${node.uuid} was taken: ${err.message}`);
      throw this.#mapped(err, `associating node ${node.uuid}`);
    }
    try {
      await api.setProvisionState(this.#client, node.uuid, 'active');
      const done = await this.#wait(node.uuid, `the deploy of node ${node.uuid}`, this.#cfg.deployTimeoutMs, opts?.signal, (n) => {
        if (n.provision_state === 'active' && !n.target_provision_state) return n;
        if (DEPLOY_FAILED.has(n.provision_state)) throw new BackendUnavailable(`ironic driver: the deploy of node ${n.uuid} failed: ${n.last_error ?? n.provision_state}`);
        return undefined;
      });
      // A deploy that leaves the machine off (fake hardware; a deploy interface that powers off at the end) is not yet a running instance.
      const running = powerStateOf(done) === PowerState.RUNNING ? done : await this.#powerNode(done, spec.uuid, 'power on', 'power on');
      this.#log.info('ironic driver: node deployed', { node: node.uuid, instance: spec.uuid });
      return instanceOf(running)!;
    } catch (err) {
      await this.#release(node.uuid, spec.uuid);
      throw this.#mapped(err, `deploying node ${node.uuid}`);
    }
  }

  /**
   * Undoes a failed spawn's association. A deploy still running is abandoned (provision
   * `deleted`); a failed one stays `deploy failed` with its last_error for the operator, as
   * Nova's ironic driver leaves it — the node holds no instance either way.
   */
  async #release(uuid: string, instance: string): Promise<void> {
    try {
      const n = await api.getNode(this.#client, uuid);
      if (!n || n.instance_uuid !== instance) return;
      if (DEPLOYING.has(n.provision_state) || n.provision_state === 'active') {
        await api.setProvisionState(this.#client, uuid, 'deleted').catch(() => undefined);
        await this.#wait(uuid, `the undeploy of node ${uuid}`, this.#cfg.deployTimeoutMs, undefined, (x) => (UNDEPLOYING.has(x.provision_state) || DEPLOYING.has(x.provision_state) || x.provision_state === 'active' ? undefined : x)).catch(() => undefined);
      }
      const again = await api.getNode(this.#client, uuid);
      if (again?.instance_uuid === instance) {
        await api.patchNode(this.#client, uuid, [{ op: 'remove', path: '/instance_uuid' }, { op: 'remove', path: '/instance_info' }]);
      }
    } catch (err) {
      this.#log.error('ironic driver: a failed deploy left its association on the node', { node: uuid, instance, err: String(err) });
    }
  }

  async destroy(ref: InstanceRef, opts?: CallOptions): Promise<void> {
    const n = await this.#ironicNode(ref.node);
    if (!n || n.instance_uuid !== ref.uuid) return;
    if (n.provision_state === 'active' || DEPLOY_FAILED.has(n.provision_state) || DEPLOYING.has(n.provision_state)) {
      try {
        await api.setProvisionState(this.#client, n.uuid, 'deleted');
      } catch (err) {
        throw this.#mapped(err, `undeploying node ${n.uuid}`);
      }
    }
    // Gone once the service let go of the instance and finished cleaning (or failed it: the node's problem then, not the instance's).
    const done = await this.#wait(n.uuid, `the undeploy of node ${n.uuid}`, this.#cfg.deployTimeoutMs, opts?.signal, (x) => (
      UNDEPLOYING.has(x.provision_state) || x.provision_state === 'active' || DEPLOYING.has(x.provision_state) ? undefined : x));
    if (done.instance_uuid === ref.uuid) {
      await api.patchNode(this.#client, n.uuid, [{ op: 'remove', path: '/instance_uuid' }, { op: 'remove', path: '/instance_info' }])
        .catch((err: unknown) => {
          throw this.#mapped(err, `releasing node ${n.uuid}`);
        });
    }
    this.#poller?.forget(ref.uuid);
    this.#log.info('ironic driver: node undeployed', { node: n.uuid, instance: ref.uuid, state: done.provision_state });
  }

  async reboot(ref: InstanceRef, type: RebootType): Promise<void> {
    const n = await this.#nodeOf(ref);
    const soft = type === 'soft';
    await this.#power(ref, n.last_error, soft ? 'soft rebooting' : 'rebooting', 'power on', soft ? 'rebooting' : undefined);
  }

  async powerOff(ref: InstanceRef, timeoutSec: number): Promise<void> {
    const n = await this.#nodeOf(ref);
    if (powerStateOf(n) === PowerState.SHUTDOWN && !n.target_power_state) return;
    if (timeoutSec > 0) await this.#power(ref, n.last_error, 'soft power off', 'power off', 'power off', timeoutSec);
    else await this.#power(ref, n.last_error, 'power off', 'power off');
  }

  async powerOn(ref: InstanceRef): Promise<void> {
    const n = await this.#nodeOf(ref);
    if (powerStateOf(n) === PowerState.RUNNING && !n.target_power_state) return;
    await this.#power(ref, n.last_error, 'power on', 'power on');
  }

  /**
   * One power change and the wait for it. A soft target the service refuses (400: its
   * microversion or its hardware has no soft power) falls back to `fallback`, as Nova does.
   */
  async #power(ref: InstanceRef, errorBefore: string | null, target: api.PowerTarget, want: string, fallback?: api.PowerTarget, timeoutSec?: number): Promise<void> {
    try {
      await api.setPowerState(this.#client, ref.node, target, timeoutSec);
    } catch (err) {
      if (fallback && err instanceof IronicHttpError && (err.status === 400 || err.status === 406)) return this.#power(ref, errorBefore, fallback, want);
      throw this.#mapped(err, `power ${target} of node ${ref.node}`, true);
    }
    await this.#settle(ref.node, ref.uuid, errorBefore, target, want, timeoutSec);
  }

  /** A power change of a node being deployed (its errors are the spawn's). */
  async #powerNode(node: IronicNode, instance: string, target: api.PowerTarget, want: string): Promise<IronicNode> {
    await api.setPowerState(this.#client, node.uuid, target);
    return this.#settle(node.uuid, instance, node.last_error, target, want);
  }

  /**
   * Waits for a requested power change to end in `want`, and reports it. The change failed when
   * no change is under way any more and the node's last_error is new (`errorBefore` was the old one).
   */
  async #settle(uuid: string, instance: string, errorBefore: string | null, target: api.PowerTarget, want: string, timeoutSec?: number): Promise<IronicNode> {
    const timeout = this.#cfg.powerTimeoutMs + (timeoutSec ?? 0) * 1000;
    const done = await this.#wait(uuid, `power ${target} of node ${uuid}`, timeout, undefined, (n) => {
      if (n.instance_uuid !== instance) throw new InstanceNotFound(`ironic driver: node ${uuid} no longer holds instance ${instance}`);
      if (n.target_power_state) return undefined;
      if (n.power_state === want) return n;
      if (n.last_error && n.last_error !== errorBefore) throw new BackendUnavailable(`ironic driver: power ${target} of node ${uuid} failed: ${n.last_error}`);
      return undefined;
    });
    this.#poller?.observe(done);
    return done;
  }

  async #wait<R>(uuid: string, what: string, timeoutMs: number, signal: AbortSignal | undefined, done: (n: IronicNode) => R | undefined): Promise<R> {
    return pollUntil(async () => {
      const n = await api.getNode(this.#client, uuid);
      if (!n) throw new BackendUnavailable(`ironic driver: node ${uuid} vanished during ${what}`);
      return n;
    }, done, { what, timeoutMs, intervalMs: this.#cfg.pollIntervalMs, signal });
  }

  /** A client error as the contract's: a 4xx the service gave for a state it will not change is InvalidState (on an instance) or BackendUnavailable. */
  #mapped(err: unknown, what: string, onInstance = false): unknown {
    if (!(err instanceof IronicHttpError)) return err;
    if (onInstance && (err.status === 400 || err.status === 409)) return new InvalidState(`ironic driver: ${what}: ${err.message}`);
    return new BackendUnavailable(`ironic driver: ${what}: HTTP ${err.status}: ${err.message}`);
  }

  async pause(): Promise<void> {
    throw NOT_SUPPORTED('pause');
  }
  async unpause(): Promise<void> {
    throw NOT_SUPPORTED('unpause');
  }
  async suspend(): Promise<void> {
    throw NOT_SUPPORTED('suspend');
  }
  async resume(): Promise<void> {
    throw NOT_SUPPORTED('resume');
  }
  async rebuild(): Promise<InstanceInfo> {
    throw NOT_SUPPORTED('rebuild');
  }
  async getConsoleOutput(): Promise<string> {
    throw NOT_SUPPORTED('console output');
  }
  async snapshot(): Promise<void> {
    throw NOT_SUPPORTED('snapshot');
  }

  /**
   * The node's network is its own NICs: binding an Orrery port to a machine's switch port
   * (Ironic's VIF API with Neutron's bare-metal mechanism) is not built, so a port cannot be
   * plugged — boot bare-metal servers with `--nic none`. Nothing plugged: nothing to unplug.
   */
  async plugVifs(_ref: InstanceRef, ports: VifInfo[]): Promise<void> {
    if (ports.length > 0) throw new NotSupported('ironic driver: network ports cannot be bound to a bare-metal node (boot with --nic none)');
  }
  async unplugVifs(): Promise<void> {}

  onEvent(listener: EventListener): () => void {
    this.#events.add(listener);
    return () => void this.#events.delete(listener);
  }

  onNodeEvent(listener: NodeEventListener): () => void {
    return this.#nodeEvents.add(listener);
  }

  async status(): Promise<DriverStatus> {
    const t = Date.now();
    try {
      await this.#client.request('GET', '/v1');
      return { reachable: true, latencyMs: Date.now() - t, message: `Bare Metal API at ${this.#client.endpoint} (${this.#client.version})` };
    } catch (err) {
      return { reachable: false, latencyMs: null, message: `Bare Metal API: ${(err as Error).message}` };
    }
  }
}
