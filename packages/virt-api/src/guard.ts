/**
 * The seam between the compute service and a driver. guardDriver() wraps a driver so that:
 *  - a method outside the agreed contract (newer than the agreed version, or in an optional
 *    group the driver did not declare) is refused with NotInContract, without calling it;
 *  - an operation the driver did not declare is refused with NotSupported, without calling it
 *    (also spawn/rebuild of an image format it did not declare);
 *  - an error the method may not raise (ALLOWED_ERRORS), or anything that is not a DriverError,
 *    leaves as DriverFault, keeping the original message and cause;
 *  - optional per-method deadlines turn a hung back-end into Timeout, and abort the call's
 *    signal (1.1 drivers) so the back-end work stops too; a caller's signal does the same;
 *  - a throwing event listener never breaks the driver; a malformed node event is dropped;
 *  - a move's progress (1.2) reaches the caller only while its call runs, and only well-formed;
 *  - a driver that agreed a version before 1.3 sees its specs' ports with the 1.0 fields only,
 *    and a 1.3 driver only well-formed VIFs (vifProblems: names safe for a command line);
 *  - a console (1.4) is asked only of a kind the driver declared, and its endpoint checked.
 */
import { METHOD_SINCE } from './contract.js';
import type {
  CallOptions, Capabilities, DriverContext, DriverMethod, DriverStatus, DriverVersionInfo, EventListener, ImageRef, InstanceInfo,
  InstanceRef, InstanceSpec, LifecycleEvent, NodeEvent, NodeEventListener, NodeInfo, RebootType, RebuildRequest,
  SnapshotRequest, VirtDriver,
} from './contract.js';
import { capabilityProblems, imageTypeOf, METHOD_CAPABILITY, supports, supportsImageFormat } from './capabilities.js';
import { Aborted, DriverFault, isAllowedError, isDriverError, NotInContract, NotSupported, Timeout } from './errors.js';
import { isNodeEvent } from './events.js';
import type { DriverErrorCode } from './errors.js';
import {
  progressRelay, type FinishMigrationRequest, type LiveMigrationRequest, type LiveMigrationTarget, type MigrateDiskRequest,
  type MoveCalls, type MoveProgress, type MoveRef, type PreLiveMigrationRequest,
} from './moves.js';
import { checkedVifs, specAt, type VifCalls, type VifInfo } from './vifs.js';
import { checkedEndpoint, isConsoleKind, type ConsoleCalls, type ConsoleEndpoint, type ConsoleKind } from './consoles.js';
import {
  agreeContract, atLeast, CALL_OPTIONS_SINCE, capabilitiesAt, groupOf, inContract, ON_PROGRESS_SINCE, requiredMethods, SUPPORTED_CONTRACT,
  type AgreedContract,
} from './version.js';

export interface GuardOptions {
  /**
   * Deadline per method in milliseconds (none by default). A call that takes longer rejects
   * with Timeout; the driver's own promise is abandoned (and its signal aborted, for the calls
   * that take CallOptions). powerOff's deadline is extended by its timeoutSec argument.
   */
  timeoutMs?: Partial<Record<DriverMethod, number>>;
  /** Told when a listener throws (an onProgress one too); the error never reaches the driver. */
  onListenerError?(err: unknown, event: LifecycleEvent | NodeEvent | MoveProgress): void;
  /**
   * Told when a call that reached the driver settled: its duration and, when it failed, the error
   * code it left the seam with (DriverFault for anything not allowed). For metrics; an observer
   * that throws is ignored.
   */
  onCallSettled?(call: SettledCall): void;
  /** The handshake's result (the loader passes it); by default agreed here from version(). */
  contract?: AgreedContract;
  /** The range this service drives, for the handshake done here (default SUPPORTED_CONTRACT). */
  speaks?: { min: string; max: string };
}

/** One driver call as the guard's onCallSettled observer sees it. */
export interface SettledCall {
  /** The driver's name (its version().name). */
  driver: string;
  method: DriverMethod;
  /** Milliseconds from the call to its outcome (a deadline's Timeout included). */
  durationMs: number;
  /** The error code the call failed with; undefined when it succeeded. */
  error?: DriverErrorCode;
}

/**
 * A driver behind the guard: every method of the newest contract exists, and refuses
 * (NotInContract) what the agreed contract does not have.
 */
export interface GuardedVirtDriver
  extends Omit<VirtDriver, keyof MoveCalls | keyof VifCalls | keyof ConsoleCalls>, Required<MoveCalls>, Required<VifCalls>, Required<ConsoleCalls> {
  /** The agreed contract version and optional groups. */
  readonly contract: AgreedContract;
  /**
   * True when the compute service may call `method`: in the agreed contract and, for an
   * operation gated by a capability, declared (capabilities are final once init resolved).
   */
  supports(method: DriverMethod): boolean;
  onNodeEvent(listener: NodeEventListener): () => void;
  status(): Promise<DriverStatus>;
  getNode(name: string): Promise<NodeInfo>;
}

const GUARDED = Symbol.for('orrery.virt-api.guarded');

/** Wraps `driver` so it honours the contract at the seam; guarding twice is a no-op. */
export function guardDriver(driver: VirtDriver, opts: GuardOptions = {}): GuardedVirtDriver {
  if ((driver as unknown as Record<symbol, unknown>)[GUARDED] === true) return driver as GuardedVirtDriver;
  return new GuardedDriver(driver, opts);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The calls that take CallOptions. */
type SignalMethod = 'spawn' | 'destroy' | 'snapshot' | 'migrateDiskAndPowerOff' | 'finishMigration' | 'preLiveMigration' | 'liveMigration';

class GuardedDriver implements GuardedVirtDriver {
  readonly #d: VirtDriver;
  readonly #opts: GuardOptions;
  #caps: Capabilities | null = null;
  #name: string | null = null;
  #contract: AgreedContract | null;

  constructor(driver: VirtDriver, opts: GuardOptions) {
    this.#d = driver;
    this.#opts = opts;
    this.#contract = opts.contract ?? null;
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

  /**
   * Agreed lazily when not given, so that guarding never calls the driver by itself. A driver
   * the handshake refuses (the loader never guards one) is held to 1.0 alone.
   */
  get contract(): AgreedContract {
    if (this.#contract === null) {
      try {
        this.#contract = agreeContract(this.#d.version(), this.#opts.speaks ?? SUPPORTED_CONTRACT);
      } catch {
        this.#contract = { version: '1.0', groups: [] };
      }
    }
    return this.#contract;
  }

  supports(method: DriverMethod): boolean {
    if (!inContract(this.contract, method)) return false;
    return METHOD_CAPABILITY[method] === undefined || supports(this.capabilities(), method);
  }

  #wrap(method: DriverMethod, err: unknown): Error {
    if (isDriverError(err) && isAllowedError(method, err.code)) return err;
    const originalCode = isDriverError(err) ? err.code : undefined;
    const what = originalCode ? `${originalCode} (not allowed for ${method}): ` : '';
    return new DriverFault(`${this.#driverName}.${method}: ${what}${messageOf(err)}`, { cause: err, method, originalCode });
  }

  #sync<T>(method: DriverMethod, fn: () => T): T {
    this.#admit(method);
    try {
      return fn();
    } catch (err) {
      throw this.#wrap(method, err);
    }
  }

  /** Refuses a method outside the agreed contract before anything reaches the driver. */
  #admit(method: DriverMethod): void {
    // What every version has needs no agreement (version() itself is such a call).
    if (METHOD_SINCE[method] === '1.0' || inContract(this.contract, method)) return;
    const group = groupOf(method);
    const why = group !== undefined && atLeast(this.contract.version, METHOD_SINCE[method])
      ? `it did not declare the optional group ${group}`
      : `the agreed contract is ${this.contract.version}`;
    throw new NotInContract(method, `${method} is not in the contract agreed with driver ${this.#driverName}: ${why}`);
  }

  #refuse(method: DriverMethod): NotSupported {
    const cap = METHOD_CAPABILITY[method];
    return new NotSupported(`driver ${this.#driverName} does not support ${method} (capability ${cap} not declared)`);
  }

  /**
   * Runs one driver call under the seam's rules. `caller` holds the caller's options; for the
   * calls that take CallOptions, `fn` gets the options to hand a 1.1 driver (a signal aborted by
   * the caller or the deadline; from 1.2 the caller's onProgress, checked and silenced once the
   * call settled), or undefined for a 1.0 driver, which is never handed options.
   */
  async #call<T>(
    method: DriverMethod,
    fn: (opts: CallOptions | undefined) => Promise<T>,
    extraMs = 0,
    caller?: CallOptions,
  ): Promise<T> {
    const signal = caller?.signal;
    this.#admit(method);
    // Only gated methods consult capabilities: init() must work before they are final.
    if (METHOD_CAPABILITY[method] !== undefined && !supports(this.capabilities(), method)) throw this.#refuse(method);
    const limit = this.#opts.timeoutMs?.[method];
    const takesSignal = SIGNAL_METHODS.has(method) && atLeast(this.contract.version, CALL_OPTIONS_SINCE);
    const ac = takesSignal ? new AbortController() : null;
    const cleanups: Array<() => void> = [];
    const listener = caller?.onProgress && ac && atLeast(this.contract.version, ON_PROGRESS_SINCE) ? caller.onProgress : undefined;
    const relay = listener && progressRelay(listener, (err, p) => this.#opts.onListenerError?.(err, p));
    if (relay) cleanups.push(relay.stop);
    const opts: CallOptions | undefined = ac ? { signal: ac.signal, ...(relay ? { onProgress: relay.onProgress } : {}) } : undefined;
    const started = performance.now();
    let failure: DriverErrorCode | undefined;
    try {
      if (signal?.aborted) throw this.#aborted(method, signal.reason);
      const call = Promise.resolve().then(() => fn(opts));
      const stops: Array<Promise<never>> = [];
      if (limit !== undefined) {
        stops.push(new Promise<never>((_, reject) => {
          const t = setTimeout(() => {
            const err = new Timeout(`${this.#driverName}.${method} did not finish within ${limit + extraMs} ms`);
            ac?.abort(err);
            reject(err);
          }, limit + extraMs);
          cleanups.push(() => clearTimeout(t));
        }));
      }
      if (signal) {
        stops.push(new Promise<never>((_, reject) => {
          const onAbort = (): void => {
            const err = this.#aborted(method, signal.reason);
            ac?.abort(err);
            reject(err);
          };
          signal.addEventListener('abort', onAbort, { once: true });
          cleanups.push(() => signal.removeEventListener('abort', onAbort));
        }));
      }
      if (stops.length === 0) return await call;
      // The abandoned call may still reject later: that rejection is expected, not unhandled.
      call.catch(() => undefined);
      return await Promise.race([call, ...stops]);
    } catch (err) {
      const wrapped = this.#wrap(method, err);
      failure = isDriverError(wrapped) ? wrapped.code : 'DriverFault';
      throw wrapped;
    } finally {
      for (const c of cleanups) c();
      this.#settled(method, performance.now() - started, failure);
    }
  }

  #settled(method: DriverMethod, durationMs: number, error: DriverErrorCode | undefined): void {
    const observe = this.#opts.onCallSettled;
    if (!observe) return;
    try {
      observe({ driver: this.#driverName, method, durationMs, ...(error ? { error } : {}) });
    } catch {
      // An observer is for metrics: it never changes a call's outcome.
    }
  }

  #aborted(method: DriverMethod, reason: unknown): Error {
    if (isDriverError(reason, 'Aborted') || isDriverError(reason, 'Timeout')) return reason;
    return new Aborted(`${this.#driverName}.${method} was aborted: ${reason === undefined ? 'no reason given' : messageOf(reason)}`, { cause: reason });
  }

  #checkImage(method: 'spawn' | 'rebuild', image: ImageRef): void {
    const type = imageTypeOf(image);
    if (!supportsImageFormat(this.capabilities(), type)) {
      throw new NotSupported(`driver ${this.#driverName} cannot ${method} an image of ${type === 'docker' ? 'container' : 'disk'} format ${type}`);
    }
  }

  #listen<E extends LifecycleEvent | NodeEvent>(listener: (event: E) => void): (event: E) => void {
    return (event) => {
      try {
        listener(event);
      } catch (err) {
        this.#opts.onListenerError?.(err, event);
      }
    };
  }

  version(): DriverVersionInfo {
    return this.#sync('version', () => this.#d.version());
  }

  capabilities(): Capabilities {
    return this.#caps ?? this.#sync('capabilities', () => this.#d.capabilities());
  }

  async init(ctx: DriverContext): Promise<void> {
    const contractVersion = this.contract.version;
    await this.#call('init', () => this.#d.init({ ...ctx, contractVersion }));
    // Capabilities are final once init has resolved: cache them, and refuse a malformed set.
    const declared = this.#sync('capabilities', () => this.#d.capabilities());
    const problems = capabilityProblems(declared);
    if (problems.length > 0) {
      throw new DriverFault(`${this.#driverName} declares invalid capabilities: ${problems.join('; ')}`, { method: 'capabilities' });
    }
    // A capability newer than the agreement does not count; one that counts needs its calls.
    const caps = capabilitiesAt(declared, contractVersion);
    const d = this.#d as unknown as Record<string, unknown>;
    const missing = requiredMethods(this.contract, caps).filter((m) => typeof d[m] !== 'function');
    if (missing.length > 0) {
      const what = `${missing.join(', ')} (agreed contract ${contractVersion})`;
      throw new DriverFault(`${this.#driverName} declares capabilities whose calls it lacks: ${what}`, { method: 'capabilities' });
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

  async spawn(given: InstanceSpec, opts?: CallOptions): Promise<InstanceInfo> {
    this.#admit('spawn');
    this.#checkImage('spawn', given.image);
    const spec = specAt(given, this.contract.version, `${this.#driverName}.spawn`);
    return this.#call('spawn', (o) => (o ? this.#d.spawn(spec, o) : this.#d.spawn(spec)), 0, opts);
  }

  destroy(ref: InstanceRef, opts?: CallOptions): Promise<void> {
    return this.#call('destroy', (o) => (o ? this.#d.destroy(ref, o) : this.#d.destroy(ref)), 0, opts);
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
    this.#checkImage('rebuild', req.image);
    const instance = specAt(req.instance, this.contract.version, `${this.#driverName}.rebuild`);
    return this.#call('rebuild', () => this.#d.rebuild({ ...req, instance }));
  }

  getConsoleOutput(ref: InstanceRef): Promise<string> {
    return this.#call('getConsoleOutput', () => this.#d.getConsoleOutput(ref));
  }

  snapshot(req: SnapshotRequest, opts?: CallOptions): Promise<void> {
    return this.#call('snapshot', (o) => (o ? this.#d.snapshot(req, o) : this.#d.snapshot(req)), 0, opts);
  }

  onEvent(listener: EventListener): () => void {
    const off = this.#sync('onEvent', () => this.#d.onEvent(this.#listen(listener)));
    return () => this.#sync('onEvent', () => off());
  }

  onNodeEvent(listener: NodeEventListener): () => void {
    const safe = this.#listen(listener);
    const checked: NodeEventListener = (event) => {
      if (isNodeEvent(event)) safe(event);
    };
    const off = this.#sync('onNodeEvent', () => this.#d.onNodeEvent!(checked));
    return () => this.#sync('onNodeEvent', () => off());
  }

  async status(): Promise<DriverStatus> {
    const s = await this.#call('status', () => this.#d.status!());
    const ok = typeof s === 'object' && s !== null && typeof s.reachable === 'boolean' && typeof s.message === 'string'
      && (s.latencyMs === null || (typeof s.latencyMs === 'number' && Number.isFinite(s.latencyMs) && s.latencyMs >= 0));
    if (!ok) throw new DriverFault(`${this.#driverName}.status answered a malformed status`, { method: 'status' });
    return { reachable: s.reachable, latencyMs: s.latencyMs, message: s.message };
  }

  async getNode(name: string): Promise<NodeInfo> {
    return this.#call('getNode', () => this.#d.getNode!(name));
  }

  // 1.2: moves (admitted only under 1.2 and with their capability, so the driver has them)

  migrateDiskAndPowerOff(req: MigrateDiskRequest, opts?: CallOptions): Promise<void> {
    return this.#call('migrateDiskAndPowerOff', (o) => this.#d.migrateDiskAndPowerOff!(req, o), 0, opts);
  }
  async finishMigration(given: FinishMigrationRequest, opts?: CallOptions): Promise<InstanceInfo> {
    this.#admit('finishMigration');
    const req = { ...given, instance: specAt(given.instance, this.contract.version, `${this.#driverName}.finishMigration`) };
    return this.#call('finishMigration', (o) => this.#d.finishMigration!(req, o), 0, opts);
  }
  confirmMigration(move: MoveRef): Promise<void> { return this.#call('confirmMigration', () => this.#d.confirmMigration!(move)); }
  revertMigration(move: MoveRef): Promise<void> { return this.#call('revertMigration', () => this.#d.revertMigration!(move)); }
  finishRevertMigration(move: MoveRef, powerOn: boolean): Promise<InstanceInfo> {
    return this.#call('finishRevertMigration', () => this.#d.finishRevertMigration!(move, powerOn));
  }
  async preLiveMigration(given: PreLiveMigrationRequest, opts?: CallOptions): Promise<LiveMigrationTarget> {
    this.#admit('preLiveMigration');
    const req = { ...given, instance: specAt(given.instance, this.contract.version, `${this.#driverName}.preLiveMigration`) };
    return this.#call('preLiveMigration', (o) => this.#d.preLiveMigration!(req, o), 0, opts);
  }
  liveMigration(req: LiveMigrationRequest, opts?: CallOptions): Promise<void> {
    return this.#call('liveMigration', (o) => this.#d.liveMigration!(req, o), 0, opts);
  }
  liveMigrationForceComplete(move: MoveRef): Promise<void> {
    return this.#call('liveMigrationForceComplete', () => this.#d.liveMigrationForceComplete!(move));
  }
  postLiveMigrationAtDestination(move: MoveRef): Promise<InstanceInfo> {
    return this.#call('postLiveMigrationAtDestination', () => this.#d.postLiveMigrationAtDestination!(move));
  }
  postLiveMigrationAtSource(move: MoveRef): Promise<void> {
    return this.#call('postLiveMigrationAtSource', () => this.#d.postLiveMigrationAtSource!(move));
  }
  rollbackLiveMigrationAtDestination(move: MoveRef): Promise<void> {
    return this.#call('rollbackLiveMigrationAtDestination', () => this.#d.rollbackLiveMigrationAtDestination!(move));
  }

  // 1.3: VIFs (admitted only under 1.3; the interface calls only with interfaceAttach)

  async plugVifs(ref: InstanceRef, ports: VifInfo[]): Promise<void> {
    this.#admit('plugVifs');
    const checked = checkedVifs(ports, `${this.#driverName}.plugVifs`);
    return this.#call('plugVifs', () => this.#d.plugVifs!(ref, checked));
  }
  async unplugVifs(ref: InstanceRef, ports: VifInfo[]): Promise<void> {
    this.#admit('unplugVifs');
    const checked = checkedVifs(ports, `${this.#driverName}.unplugVifs`);
    return this.#call('unplugVifs', () => this.#d.unplugVifs!(ref, checked));
  }
  async attachInterface(ref: InstanceRef, port: VifInfo): Promise<void> {
    this.#admit('attachInterface');
    const [checked] = checkedVifs([port], `${this.#driverName}.attachInterface`);
    return this.#call('attachInterface', () => this.#d.attachInterface!(ref, checked!));
  }
  async detachInterface(ref: InstanceRef, port: VifInfo): Promise<void> {
    this.#admit('detachInterface');
    const [checked] = checkedVifs([port], `${this.#driverName}.detachInterface`);
    return this.#call('detachInterface', () => this.#d.detachInterface!(ref, checked!));
  }

  // 1.4: consoles (admitted only under 1.4 and with remoteConsole; only a declared kind)

  async getConsole(ref: InstanceRef, kind: ConsoleKind): Promise<ConsoleEndpoint> {
    this.#admit('getConsole');
    const what = `${this.#driverName}.getConsole`;
    return this.#call('getConsole', async () => {
      if (!isConsoleKind(kind) || !(this.capabilities().consoleKinds ?? []).includes(kind)) {
        throw new NotSupported(`driver ${this.#driverName} offers no ${String(kind)} console`);
      }
      return checkedEndpoint(await this.#d.getConsole!(ref, kind), kind, what);
    });
  }
}

const SIGNAL_METHODS: ReadonlySet<DriverMethod> = new Set<SignalMethod>([
  'spawn', 'destroy', 'snapshot', 'migrateDiskAndPowerOff', 'finishMigration', 'preLiveMigration', 'liveMigration',
]);
