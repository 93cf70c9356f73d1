/**
 * The seam between the compute service and a driver. guardDriver() wraps a driver so that:
 *  - an operation the driver did not declare is refused with NotSupported, without calling it
 *    (also spawn/rebuild of an image format it did not declare);
 *  - an error the method may not raise (ALLOWED_ERRORS), or anything that is not a DriverError,
 *    leaves as DriverFault, keeping the original message and cause;
 *  - optional per-method deadlines turn a hung back-end into Timeout;
 *  - a throwing event listener never breaks the driver.
 */
import type {
  Capabilities, DriverContext, DriverMethod, DriverVersionInfo, EventListener, InstanceInfo, InstanceRef,
  InstanceSpec, LifecycleEvent, NodeInfo, RebootType, RebuildRequest, SnapshotRequest, VirtDriver,
} from './contract.js';
import { capabilityProblems, METHOD_CAPABILITY, supports, supportsImageFormat } from './capabilities.js';
import { DriverFault, isAllowedError, isDriverError, NotSupported, Timeout } from './errors.js';

export interface GuardOptions {
  /**
   * Deadline per method in milliseconds (none by default). A call that takes longer rejects
   * with Timeout; the driver's own promise is abandoned. powerOff's deadline is extended by its
   * timeoutSec argument.
   */
  timeoutMs?: Partial<Record<DriverMethod, number>>;
  /** Told when a lifecycle listener throws; the error never reaches the driver. */
  onListenerError?(err: unknown, event: LifecycleEvent): void;
}

const GUARDED = Symbol.for('orrery.virt-api.guarded');

/** Wraps `driver` so it honours the contract at the seam; guarding twice is a no-op. */
export function guardDriver(driver: VirtDriver, opts: GuardOptions = {}): VirtDriver {
  if ((driver as unknown as Record<symbol, unknown>)[GUARDED] === true) return driver;
  return new GuardedDriver(driver, opts);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

class GuardedDriver implements VirtDriver {
  readonly #d: VirtDriver;
  readonly #opts: GuardOptions;
  #caps: Capabilities | null = null;
  #name: string | null = null;

  constructor(driver: VirtDriver, opts: GuardOptions) {
    this.#d = driver;
    this.#opts = opts;
    Object.defineProperty(this, GUARDED, { value: true });
  }

  get #driverName(): string {
    if (this.#name === null) {
      try {
        this.#name = this.#d.version().name || 'driver';
      } catch {
        this.#name = 'driver';
      }
    }
    return this.#name;
  }

  #wrap(method: DriverMethod, err: unknown): Error {
    if (isDriverError(err) && isAllowedError(method, err.code)) return err;
    const originalCode = isDriverError(err) ? err.code : undefined;
    const what = originalCode ? `${originalCode} (not allowed for ${method}): ` : '';
    return new DriverFault(`${this.#driverName}.${method}: ${what}${messageOf(err)}`, { cause: err, method, originalCode });
  }

  #sync<T>(method: DriverMethod, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.#wrap(method, err);
    }
  }

  #refuse(method: DriverMethod): NotSupported {
    const cap = METHOD_CAPABILITY[method];
    return new NotSupported(`driver ${this.#driverName} does not support ${method} (capability ${cap} not declared)`);
  }

  async #call<T>(method: DriverMethod, fn: () => Promise<T>, extraMs = 0): Promise<T> {
    // Only gated methods consult capabilities: init() must work before they are final.
    if (METHOD_CAPABILITY[method] !== undefined && !supports(this.capabilities(), method)) throw this.#refuse(method);
    const limit = this.#opts.timeoutMs?.[method];
    let timer: NodeJS.Timeout | undefined;
    try {
      const call = Promise.resolve().then(fn);
      if (limit === undefined) return await call;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Timeout(`${this.#driverName}.${method} did not finish within ${limit + extraMs} ms`)),
          limit + extraMs,
        );
      });
      return await Promise.race([call, deadline]);
    } catch (err) {
      throw this.#wrap(method, err);
    } finally {
      clearTimeout(timer);
    }
  }

  #checkImage(method: 'spawn' | 'rebuild', diskFormat: string): void {
    if (!supportsImageFormat(this.capabilities(), diskFormat)) {
      throw new NotSupported(`driver ${this.#driverName} cannot ${method} an image of disk format ${diskFormat}`);
    }
  }

  version(): DriverVersionInfo {
    return this.#sync('version', () => this.#d.version());
  }

  capabilities(): Capabilities {
    return this.#caps ?? this.#sync('capabilities', () => this.#d.capabilities());
  }

  async init(ctx: DriverContext): Promise<void> {
    await this.#call('init', () => this.#d.init(ctx));
    // Capabilities are final once init has resolved: cache them, and refuse a malformed set.
    const caps = this.#sync('capabilities', () => this.#d.capabilities());
    const problems = capabilityProblems(caps);
    if (problems.length > 0) {
      throw new DriverFault(`${this.#driverName} declares invalid capabilities: ${problems.join('; ')}`, { method: 'capabilities' });
    }
    this.#caps = caps;
  }

  shutdown(): Promise<void> {
    return this.#call('shutdown', () => this.#d.shutdown());
  }

  async listNodes(): Promise<NodeInfo[]> {
    const nodes = await this.#call('listNodes', () => this.#d.listNodes());
    if (!this.capabilities().multiNode && nodes.length > 1) {
      throw new DriverFault(`${this.#driverName} reports ${nodes.length} nodes but does not declare multiNode`, { method: 'listNodes' });
    }
    return nodes;
  }

  listInstances(): Promise<InstanceInfo[]> {
    return this.#call('listInstances', () => this.#d.listInstances());
  }

  getInstance(ref: InstanceRef): Promise<InstanceInfo> {
    return this.#call('getInstance', () => this.#d.getInstance(ref));
  }

  async spawn(spec: InstanceSpec): Promise<InstanceInfo> {
    this.#checkImage('spawn', spec.image.diskFormat);
    return this.#call('spawn', () => this.#d.spawn(spec));
  }

  destroy(ref: InstanceRef): Promise<void> {
    return this.#call('destroy', () => this.#d.destroy(ref));
  }

  reboot(ref: InstanceRef, type: RebootType): Promise<void> {
    return this.#call('reboot', () => this.#d.reboot(ref, type));
  }

  powerOff(ref: InstanceRef, timeoutSec: number): Promise<void> {
    return this.#call('powerOff', () => this.#d.powerOff(ref, timeoutSec), Math.max(0, timeoutSec) * 1000);
  }

  powerOn(ref: InstanceRef): Promise<void> {
    return this.#call('powerOn', () => this.#d.powerOn(ref));
  }

  pause(ref: InstanceRef): Promise<void> {
    return this.#call('pause', () => this.#d.pause(ref));
  }

  unpause(ref: InstanceRef): Promise<void> {
    return this.#call('unpause', () => this.#d.unpause(ref));
  }

  suspend(ref: InstanceRef): Promise<void> {
    return this.#call('suspend', () => this.#d.suspend(ref));
  }

  resume(ref: InstanceRef): Promise<void> {
    return this.#call('resume', () => this.#d.resume(ref));
  }

  async rebuild(req: RebuildRequest): Promise<InstanceInfo> {
    if (!supports(this.capabilities(), 'rebuild')) throw this.#refuse('rebuild');
    this.#checkImage('rebuild', req.image.diskFormat);
    return this.#call('rebuild', () => this.#d.rebuild(req));
  }

  getConsoleOutput(ref: InstanceRef): Promise<string> {
    return this.#call('getConsoleOutput', () => this.#d.getConsoleOutput(ref));
  }

  snapshot(req: SnapshotRequest): Promise<void> {
    return this.#call('snapshot', () => this.#d.snapshot(req));
  }

  onEvent(listener: EventListener): () => void {
    const safe: EventListener = (event) => {
      try {
        listener(event);
      } catch (err) {
        this.#opts.onListenerError?.(err, event);
      }
    };
    const off = this.#sync('onEvent', () => this.#d.onEvent(safe));
    return () => this.#sync('onEvent', () => off());
  }
}
