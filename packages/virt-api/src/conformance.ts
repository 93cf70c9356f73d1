/**
 * The conformance kit: named checks any driver runs against itself.
 *
 *   import { runConformance, createTestContext } from '@orrery/virt-api/conformance';
 *   runConformance({ name: 'mydriver', async create() { ... return { driver, ctx, cleanup }; } });
 *
 * runConformance registers one node:test `it` per check (run it with `node --test`);
 * runChecks runs the same checks and returns their results, so a test can show that the kit
 * catches a broken driver. The kit drives the RAW driver, not a guarded one: the guard would
 * hide exactly the faults (stray errors, undeclared operations) the kit is looking for.
 * Every check gets a fresh back-end from fixture.create() and cleans it up.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  PowerState, type Capabilities, type DriverContext, type DriverMethod, type ImageService, type InstanceInfo,
  type InstanceRef, type InstanceSpec, type LifecycleEvent, type Logger, type NodeInfo, type VirtDriver,
} from './contract.js';
import type { VifInfo } from './vifs.js';
import { CAPABILITY_METHODS, capabilityProblems, capabilityTraits, isLaterCapability, TRAIT_NAME, type BooleanCapability } from './capabilities.js';
import { ALLOWED_ERRORS, ImageNotFound, isAllowedError, isDriverError } from './errors.js';
import { isPowerState } from './events.js';
import { checkCompatibility } from './version.js';
import { expectCode, must, refOf, Skip, sleep, type Check } from './conformance-steps.js';
/** A fixture throws Skip (from create()) for a check it cannot serve; the check is reported skipped with the reason. */
export { Skip } from './conformance-steps.js';
import { CHECKS_1_1 } from './conformance-1.1.js';
import { CHECKS_1_2 } from './conformance-1.2.js';
import { CHECKS_1_3 } from './conformance-1.3.js';
import { CHECKS_1_4 } from './conformance-1.4.js';
export { sampleVifs } from './conformance-1.3.js';

/** One fresh driver over a fresh back-end, as fixture.create() returns it. */
export interface FixtureInstance {
  /** The driver, not yet initialised and NOT guarded. */
  driver: VirtDriver;
  /** The context the kit initialises it with (see createTestContext). */
  ctx: DriverContext;
  /** Removes the back-end (called after the driver's shutdown, even when the check failed). */
  cleanup(): Promise<void>;
  /**
   * A spec whose spawn on `node` will fail: an image that does not exist, a flavor bigger than
   * the node, or a fault armed in the back-end. Without it "failed spawn leaves nothing
   * behind" is skipped. It lives here, not on the fixture, because it may arm this back-end.
   */
  failSpawn?(node: NodeInfo): Promise<InstanceSpec>;
  /** Artifacts left on the back-end (domains, disks, rows…) seen from outside the driver. */
  externalLeaks?(): Promise<string[]>;
  /** A new driver over the same back-end, as after a compute service restart. */
  reopen?(): VirtDriver | Promise<VirtDriver>;
  /**
   * The MAC addresses of the NICs the guest holds, in its order, seen from outside the driver
   * (the domain's definition, the back-end's rows). Without it the 1.3 checks trust the calls.
   */
  guestMacs?(ref: InstanceRef): Promise<string[]>;
}

export interface ConformanceFixture {
  name: string;
  create(): Promise<FixtureInstance>;
  /** A bootable spec for `node`; the kit replaces uuid and name. Default: sampleInstanceSpec. */
  sampleSpec?(node: NodeInfo, caps: Capabilities): InstanceSpec;
  /** `n` ports the 1.3 checks plug and attach (default sampleVifs(n): made-up names on one network). */
  samplePorts?(n: number): VifInfo[];
  /** Only the checks whose name matches (default: every check). */
  only?: RegExp;
  /** How many instances "parallel spawns" starts at once (default 8). */
  parallelSpawns?: number;
  /** Per-check deadline (default 30 s). */
  checkTimeoutMs?: number;
  /** How long to wait for a lifecycle event (default 2 s). */
  eventTimeoutMs?: number;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  /** Why the check did not apply (ok is true). */
  skipped?: string;
  error?: Error;
}


/** A tiny bootable spec on `node`, using the driver's first declared image format. */
export function sampleInstanceSpec(node: NodeInfo, caps: Capabilities): InstanceSpec {
  const uuid = randomUUID();
  return {
    uuid,
    name: `kit-${uuid.slice(0, 8)}`,
    node: node.name,
    projectId: 'kit-project',
    userId: 'kit-user',
    flavor: { id: 'kit-tiny', name: 'kit.tiny', vcpus: 1, memoryMb: 64, rootGb: 1, ephemeralGb: 0, swapMb: 0, extraSpecs: {} },
    image: {
      id: 'kit-image', name: 'kit-image', diskFormat: caps.imageFormats[0] ?? 'raw', containerFormat: 'bare',
      size: 1024, checksum: null, minDiskGb: 0, minRamMb: 0, properties: {},
    },
    network: { ports: [] },
    metadata: {},
    userData: null,
    keyData: null,
  };
}

/** An ImageService in memory: download of an unknown image raises ImageNotFound. */
export class MemoryImageService implements ImageService {
  readonly images = new Map<string, Uint8Array>();

  async download(imageId: string): Promise<AsyncIterable<Uint8Array>> {
    const data = this.images.get(imageId);
    if (!data) throw new ImageNotFound(`image ${imageId} not found`);
    return (async function* () {
      yield data;
    })();
  }

  async upload(imageId: string, data: AsyncIterable<Uint8Array> | Uint8Array): Promise<void> {
    this.images.set(imageId, await collect(data));
  }
}

async function collect(data: AsyncIterable<Uint8Array> | Uint8Array): Promise<Uint8Array> {
  if (data instanceof Uint8Array) return data;
  const parts: Uint8Array[] = [];
  for await (const p of data) parts.push(p);
  return Buffer.concat(parts);
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A DriverContext over a fresh temporary stateDir and a MemoryImageService. */
export async function createTestContext(opts: { host?: string; config?: Record<string, string>; images?: ImageService; log?: Logger } = {}): Promise<{
  ctx: DriverContext;
  cleanup(): Promise<void>;
}> {
  const stateDir = await mkdtemp(join(tmpdir(), 'orrery-kit-'));
  const ctx: DriverContext = {
    host: opts.host ?? 'kit-host',
    config: opts.config ?? {},
    stateDir,
    images: opts.images ?? new MemoryImageService(),
    log: opts.log ?? silent,
  };
  return { ctx, cleanup: () => rm(stateDir, { recursive: true, force: true }) };
}

/** What a check gets (internal to the kit; exported for the checks' modules). */
export class Harness {
  driver: VirtDriver;
  caps!: Capabilities;
  nodes!: NodeInfo[];
  readonly ctx: DriverContext;
  readonly events: LifecycleEvent[] = [];
  /** Bytes uploaded per image id (the kit intercepts uploads). */
  readonly uploads = new Map<string, number>();
  #off: (() => void) | null = null;

  constructor(readonly fixture: ConformanceFixture, readonly inst: FixtureInstance) {
    this.driver = inst.driver;
    const uploads = this.uploads;
    const images = inst.ctx.images;
    this.ctx = {
      ...inst.ctx,
      images: {
        download: (id) => images.download(id),
        async upload(id, data) {
          uploads.set(id, (uploads.get(id) ?? 0) + (await collect(data)).byteLength);
        },
      },
    };
  }

  async start(driver: VirtDriver = this.driver): Promise<void> {
    this.driver = driver;
    await driver.init(this.ctx);
    this.caps = driver.capabilities();
    this.nodes = await driver.listNodes();
    assert.ok(this.nodes.length > 0, 'listNodes() returned no nodes');
    this.#off = driver.onEvent((e) => this.events.push(e));
  }

  async stop(): Promise<void> {
    this.#off?.();
    this.#off = null;
    await this.driver.shutdown();
  }

  spec(i = 0): InstanceSpec {
    const node = this.nodes[i % this.nodes.length]!;
    const base = (this.fixture.sampleSpec ?? sampleInstanceSpec)(node, this.caps);
    const uuid = randomUUID();
    return { ...base, uuid, name: `kit-${uuid.slice(0, 8)}` };
  }

  async spawn(spec = this.spec()): Promise<InstanceSpec> {
    const info = await this.driver.spawn(spec);
    assert.equal(info.uuid, spec.uuid, 'spawn() returned another instance');
    assert.equal(info.node, spec.node, 'spawn() returned another node');
    assert.equal(info.powerState, PowerState.RUNNING, 'spawn() must leave the instance RUNNING');
    return spec;
  }

  async state(ref: InstanceRef): Promise<PowerState> {
    const info = await this.driver.getInstance(ref);
    assert.equal(info.uuid, ref.uuid);
    assert.ok(isPowerState(info.powerState), `getInstance() returned power state ${String(info.powerState)}`);
    return info.powerState;
  }

  async expectState(ref: InstanceRef, want: PowerState, after: string): Promise<void> {
    assert.equal(await this.state(ref), want, `power state after ${after}`);
  }

  /** Asserts nothing of `uuids` (or anything at all, seen from outside) is left on the back-end. */
  async assertNoLeaks(uuids: string[]): Promise<void> {
    const listed = new Set((await this.driver.listInstances()).map((i) => i.uuid));
    const left = uuids.filter((u) => listed.has(u));
    assert.deepEqual(left, [], 'listInstances() still lists destroyed or failed instances');
    if (this.inst.externalLeaks) assert.deepEqual(await this.inst.externalLeaks(), [], 'back-end artifacts left behind');
  }

  async waitForEvent(pred: (e: LifecycleEvent) => boolean, what: string, since = 0): Promise<LifecycleEvent> {
    const deadline = Date.now() + (this.fixture.eventTimeoutMs ?? 2000);
    for (;;) {
      const hit = this.events.slice(since).find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) assert.fail(`no lifecycle event: ${what}`);
      await sleep(5);
    }
  }
}


/** Calls `method` on `ref` with typical arguments. */
function invoke(d: VirtDriver, method: DriverMethod, spec: InstanceSpec): Promise<unknown> {
  const ref = refOf(spec);
  switch (method) {
    case 'reboot': return d.reboot(ref, 'hard');
    case 'powerOff': return d.powerOff(ref, 0);
    case 'powerOn': return d.powerOn(ref);
    case 'pause': return d.pause(ref);
    case 'unpause': return d.unpause(ref);
    case 'suspend': return d.suspend(ref);
    case 'resume': return d.resume(ref);
    case 'rebuild': return d.rebuild({ instance: spec, image: spec.image });
    case 'snapshot': return d.snapshot({ instance: ref, imageId: `kit-snapshot-${spec.uuid}`, diskFormat: spec.image.diskFormat });
    case 'getConsoleOutput': return d.getConsoleOutput(ref);
    case 'getInstance': return d.getInstance(ref);
    default: throw new Error(`kit cannot invoke ${method}`);
  }
}



// The 1.0 operations; the move capabilities (1.2) have their own checks (conformance-1.2.ts).
const GATED = (Object.entries(CAPABILITY_METHODS) as Array<[BooleanCapability, readonly DriverMethod[]]>).filter(([c]) => !isLaterCapability(c));
const declaredMethods = (caps: Capabilities) => GATED.filter(([c]) => caps[c]).flatMap(([, m]) => m);

function requireCap(h: Harness, cap: BooleanCapability): void {
  if (!h.caps[cap]) throw new Skip(`capability ${cap} not declared`);
}


const CHECKS: Check[] = [
  {
    name: 'version handshake is compatible',
    raw: true,
    async run(h) {
      const info = h.driver.version();
      assert.ok(typeof info.name === 'string' && info.name !== '', 'version().name must be non-empty');
      assert.ok(typeof info.driverVersion === 'string', 'version().driverVersion must be a string');
      checkCompatibility(info);
    },
  },
  {
    name: 'capabilities are well-formed',
    async run(h) {
      assert.deepEqual(capabilityProblems(h.caps), []);
      for (const t of capabilityTraits(h.caps)) assert.match(t, TRAIT_NAME);
    },
  },
  {
    name: 'nodes are well-formed and stable',
    async run(h) {
      const names = h.nodes.map((n) => n.name);
      assert.equal(new Set(names).size, names.length, 'node names must be unique');
      assert.equal(new Set(h.nodes.map((n) => n.uuid)).size, names.length, 'node uuids must be unique');
      if (!h.caps.multiNode) assert.equal(h.nodes.length, 1, 'a driver without multiNode manages exactly one node');
      for (const n of h.nodes) {
        assert.match(n.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, `node ${n.name} uuid`);
        assert.equal(n.hypervisorType.toLowerCase(), h.caps.hypervisorType.toLowerCase(), `node ${n.name} hypervisorType`);
        // Any classes, standard or not: a whole machine reports only its CUSTOM_* class (total 1).
        const inventory = Object.entries(n.inventory);
        assert.ok(inventory.length > 0, `node ${n.name} must report inventory of at least one resource class`);
        for (const [rc, inv] of inventory) {
          assert.match(rc, /^(VCPU|MEMORY_MB|DISK_GB|CUSTOM_[A-Z0-9_]{1,248})$/, `node ${n.name} resource class`);
          assert.ok(inv && inv.total > 0, `node ${n.name} ${rc} inventory total`);
          assert.ok(inv.maxUnit >= inv.minUnit && inv.stepSize > 0 && inv.reserved >= 0, `node ${n.name} ${rc} inventory bounds`);
        }
        for (const t of n.traits) assert.match(t, TRAIT_NAME, `node ${n.name} trait`);
      }
      const again = await h.driver.listNodes();
      assert.deepEqual(again.map((n) => [n.name, n.uuid]), h.nodes.map((n) => [n.name, n.uuid]), 'listNodes() must be stable');
    },
  },
  {
    name: 'spawn, inspect and destroy an instance',
    async run(h) {
      const s = await h.spawn();
      await h.expectState(refOf(s), PowerState.RUNNING, 'spawn');
      const listed = (await h.driver.listInstances()).filter((i) => i.uuid === s.uuid);
      assert.deepEqual(listed.map((i) => [i.node, i.powerState]), [[s.node, PowerState.RUNNING]], 'listInstances() after spawn');
      await h.driver.destroy(refOf(s));
      await expectCode(h.driver.getInstance(refOf(s)), 'InstanceNotFound', 'getInstance() after destroy');
      await h.assertNoLeaks([s.uuid]);
    },
  },
  {
    name: 'destroy is idempotent',
    async run(h) {
      await must(h.driver.destroy(refOf(h.spec())), 'destroy() of an instance that never existed');
      const s = await h.spawn();
      await h.driver.destroy(refOf(s));
      await must(h.driver.destroy(refOf(s)), 'a second destroy()');
      await h.assertNoLeaks([s.uuid]);
    },
  },
  {
    name: 'power off is idempotent; power on restarts',
    async run(h) {
      requireCap(h, 'powerControl');
      const s = await h.spawn();
      const ref = refOf(s);
      await h.driver.powerOff(ref, 0);
      await h.expectState(ref, PowerState.SHUTDOWN, 'powerOff');
      await must(h.driver.powerOff(ref, 0), 'powerOff() of a stopped instance');
      await h.expectState(ref, PowerState.SHUTDOWN, 'a second powerOff');
      await h.driver.powerOn(ref);
      await h.expectState(ref, PowerState.RUNNING, 'powerOn');
      await h.driver.destroy(ref);
    },
  },
  {
    name: 'reboot soft and hard',
    async run(h) {
      requireCap(h, 'reboot');
      const s = await h.spawn();
      const ref = refOf(s);
      await h.driver.reboot(ref, 'soft');
      await h.expectState(ref, PowerState.RUNNING, 'soft reboot');
      await h.driver.reboot(ref, 'hard');
      await h.expectState(ref, PowerState.RUNNING, 'hard reboot');
      if (h.caps.powerControl) {
        await h.driver.powerOff(ref, 0);
        await h.driver.reboot(ref, 'hard');
        await h.expectState(ref, PowerState.RUNNING, 'hard reboot of a stopped instance');
      }
      await h.driver.destroy(ref);
    },
  },
  {
    name: 'pause and unpause',
    async run(h) {
      requireCap(h, 'pause');
      const s = await h.spawn();
      await h.driver.pause(refOf(s));
      await h.expectState(refOf(s), PowerState.PAUSED, 'pause');
      await h.driver.unpause(refOf(s));
      await h.expectState(refOf(s), PowerState.RUNNING, 'unpause');
      await h.driver.destroy(refOf(s));
    },
  },
  {
    name: 'suspend and resume',
    async run(h) {
      requireCap(h, 'suspend');
      const s = await h.spawn();
      await h.driver.suspend(refOf(s));
      await h.expectState(refOf(s), PowerState.SUSPENDED, 'suspend');
      await h.driver.resume(refOf(s));
      await h.expectState(refOf(s), PowerState.RUNNING, 'resume');
      await h.driver.destroy(refOf(s));
    },
  },
  {
    name: 'invalid transitions raise InvalidState',
    async run(h) {
      if (!h.caps.pause && !h.caps.suspend) throw new Skip('neither pause nor suspend declared');
      const s = await h.spawn();
      if (h.caps.pause) await expectCode(h.driver.unpause(refOf(s)), 'InvalidState', 'unpause of a running instance');
      if (h.caps.suspend) await expectCode(h.driver.resume(refOf(s)), 'InvalidState', 'resume of a running instance');
      await h.expectState(refOf(s), PowerState.RUNNING, 'a refused transition');
      await h.driver.destroy(refOf(s));
    },
  },
  {
    name: 'rebuild keeps the instance and runs it',
    async run(h) {
      requireCap(h, 'rebuild');
      const s = await h.spawn();
      const info = await h.driver.rebuild({ instance: s, image: { ...s.image, id: 'kit-image-2', name: 'kit-image-2' } });
      assert.deepEqual([info.uuid, info.node, info.powerState], [s.uuid, s.node, PowerState.RUNNING], 'rebuild() result');
      assert.equal((await h.driver.listInstances()).filter((i) => i.uuid === s.uuid).length, 1, 'rebuild must not duplicate');
      await h.driver.destroy(refOf(s));
      await h.assertNoLeaks([s.uuid]);
    },
  },
  {
    name: 'console output is text',
    async run(h) {
      requireCap(h, 'consoleOutput');
      const s = await h.spawn();
      const out = await h.driver.getConsoleOutput(refOf(s));
      assert.equal(typeof out, 'string', 'getConsoleOutput() must return a string');
      await h.driver.destroy(refOf(s));
    },
  },
  {
    name: 'snapshot uploads image data',
    async run(h) {
      requireCap(h, 'snapshot');
      const s = await h.spawn();
      const imageId = `kit-snapshot-${s.uuid}`;
      await h.driver.snapshot({ instance: refOf(s), imageId, diskFormat: s.image.diskFormat });
      assert.ok((h.uploads.get(imageId) ?? 0) > 0, 'snapshot() uploaded no data to the image');
      await h.expectState(refOf(s), PowerState.RUNNING, 'snapshot');
      await h.driver.destroy(refOf(s));
    },
  },
  {
    name: 'undeclared operations raise NotSupported',
    async run(h) {
      const s = await h.spawn();
      for (const [cap, methods] of GATED) {
        if (h.caps[cap]) continue;
        for (const m of methods) {
          await expectCode(invoke(h.driver, m, s), 'NotSupported', `${m}() with ${cap} not declared`);
          await h.expectState(refOf(s), PowerState.RUNNING, `a refused ${m}()`);
        }
      }
      await h.driver.destroy(refOf(s));
      const odd = h.spec();
      odd.image = { ...odd.image, diskFormat: 'kit-undeclared-format' };
      await expectCode(h.driver.spawn(odd), ['NotSupported', 'ImageError'], 'spawn() of an undeclared image format');
      await h.assertNoLeaks([s.uuid, odd.uuid]);
    },
  },
  {
    name: 'operations on a missing instance raise InstanceNotFound',
    async run(h) {
      const missing = h.spec();
      await expectCode(h.driver.getInstance(refOf(missing)), 'InstanceNotFound', 'getInstance()');
      for (const m of declaredMethods(h.caps)) await expectCode(invoke(h.driver, m, missing), 'InstanceNotFound', `${m}()`);
    },
  },
  {
    name: 'spawn refuses a duplicate uuid and an unknown node',
    async run(h) {
      const s = await h.spawn();
      await expectCode(h.driver.spawn({ ...s, name: 'kit-duplicate' }), 'InstanceExists', 'spawn() of an existing uuid');
      await h.expectState(refOf(s), PowerState.RUNNING, 'a refused duplicate spawn');
      const stray = { ...h.spec(), node: `kit-no-such-node-${randomUUID().slice(0, 8)}` };
      await expectCode(h.driver.spawn(stray), 'NodeNotFound', 'spawn() on a node the driver does not manage');
      await h.driver.destroy(refOf(s));
      await h.assertNoLeaks([s.uuid, stray.uuid]);
    },
  },
  {
    name: 'errors belong to the taxonomy',
    async run(h) {
      // Provoke every error path the kit can reach; each error must be a DriverError whose code
      // the method may raise (ALLOWED_ERRORS). Success is not judged here, only what is thrown.
      const missing = h.spec();
      const bad: string[] = [];
      const probe = async (method: DriverMethod, p: Promise<unknown>) => {
        try {
          await p;
        } catch (err) {
          if (!isDriverError(err)) bad.push(`${method}: raw ${err instanceof Error ? err.name : typeof err}: ${String(err)}`);
          else if (err.code === 'DriverFault' || !isAllowedError(method, err.code)) {
            bad.push(`${method}: ${err.code} is not one of ${ALLOWED_ERRORS[method].join(', ')}`);
          }
        }
      };
      await probe('getInstance', h.driver.getInstance(refOf(missing)));
      await probe('destroy', h.driver.destroy(refOf(missing)));
      for (const [, methods] of GATED) for (const m of methods) await probe(m, invoke(h.driver, m, missing));
      await probe('spawn', h.driver.spawn({ ...h.spec(), node: 'kit-no-such-node' }));
      await probe('spawn', h.driver.spawn({ ...h.spec(), image: { ...h.spec().image, diskFormat: 'kit-undeclared-format' } }));
      if (h.inst.failSpawn) await probe('spawn', h.inst.failSpawn(h.nodes[0]!).then((spec) => h.driver.spawn(spec)));
      const s = await h.spawn();
      await probe('spawn', h.driver.spawn(s));
      if (h.caps.pause) await probe('unpause', h.driver.unpause(refOf(s)));
      if (h.caps.suspend) await probe('resume', h.driver.resume(refOf(s)));
      await h.driver.destroy(refOf(s));
      assert.deepEqual(bad, [], `errors outside the taxonomy:\n  ${bad.join('\n  ')}`);
    },
  },
  {
    name: 'failed spawn leaves nothing behind',
    async run(h) {
      if (!h.inst.failSpawn) throw new Skip('the fixture provides no failSpawn()');
      const node = h.nodes[0]!;
      const spec = await h.inst.failSpawn(node);
      await expectCode(h.driver.spawn(spec), ALLOWED_ERRORS.spawn.slice(), 'the failing spawn()');
      await expectCode(h.driver.getInstance(refOf(spec)), 'InstanceNotFound', 'getInstance() after a failed spawn');
      await h.assertNoLeaks([spec.uuid]);
      const s = await h.spawn(h.spec()); // the driver is not wedged
      await h.driver.destroy(refOf(s));
      await h.assertNoLeaks([spec.uuid, s.uuid]);
    },
  },
  {
    name: 'spawn and power-off emit lifecycle events',
    async run(h) {
      const seen: LifecycleEvent[] = [];
      const off = h.driver.onEvent((e) => seen.push(e));
      const s = await h.spawn();
      const started = await h.waitForEvent((e) => e.uuid === s.uuid && e.transition === 'started', `started after spawn of ${s.uuid}`);
      assert.deepEqual([started.node, started.powerState], [s.node, PowerState.RUNNING], 'the started event');
      assert.ok(Number.isFinite(started.at) && started.at > 0, 'event.at must be a timestamp');
      assert.ok(seen.some((e) => e.uuid === s.uuid), 'a second listener must get events too');
      if (h.caps.powerControl) {
        await h.driver.powerOff(refOf(s), 0);
        const stopped = await h.waitForEvent((e) => e.uuid === s.uuid && e.transition === 'stopped', `stopped after powerOff of ${s.uuid}`);
        assert.equal(stopped.powerState, PowerState.SHUTDOWN, 'the stopped event');
      }
      off();
      const before = seen.length;
      const t = await h.spawn();
      await h.waitForEvent((e) => e.uuid === t.uuid, 'started of a second instance');
      assert.equal(seen.length, before, 'a removed listener must get no more events');
      await h.driver.destroy(refOf(s));
      await h.driver.destroy(refOf(t));
    },
  },
  {
    name: 'parallel spawns succeed and are all listed',
    async run(h) {
      const n = h.fixture.parallelSpawns ?? 8;
      const specs = Array.from({ length: n }, (_, i) => h.spec(i));
      const infos: InstanceInfo[] = await Promise.all(specs.map((s) => h.driver.spawn(s)));
      assert.deepEqual(infos.map((i) => i.uuid), specs.map((s) => s.uuid), 'each spawn() returns its own instance');
      const listed = new Map((await h.driver.listInstances()).map((i) => [i.uuid, i]));
      for (const s of specs) assert.equal(listed.get(s.uuid)?.node, s.node, `instance ${s.uuid} listed on its node`);
      await Promise.all(specs.map((s) => h.driver.destroy(refOf(s))));
      await h.assertNoLeaks(specs.map((s) => s.uuid));
    },
  },
  {
    name: 'instances and node UUIDs survive a driver restart',
    async run(h) {
      if (!h.inst.reopen) throw new Skip('the fixture provides no reopen()');
      const s = await h.spawn();
      const want = h.caps.powerControl ? PowerState.SHUTDOWN : PowerState.RUNNING;
      if (h.caps.powerControl) await h.driver.powerOff(refOf(s), 0);
      const nodes = h.nodes.map((n) => [n.name, n.uuid]);
      await h.stop();
      await h.start(await h.inst.reopen());
      assert.deepEqual(h.nodes.map((n) => [n.name, n.uuid]), nodes, 'nodes after restart');
      await h.expectState(refOf(s), want, 'restart');
      await h.driver.destroy(refOf(s));
      await h.assertNoLeaks([s.uuid]);
    },
  },
  ...CHECKS_1_1,
  ...CHECKS_1_2,
  ...CHECKS_1_3,
  ...CHECKS_1_4,
];

/** The names of the kit's checks, in the order they run. */
export const CHECK_NAMES: readonly string[] = CHECKS.map((c) => c.name);

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

async function runCheck(check: Check, fixture: ConformanceFixture): Promise<CheckResult> {
  const ms = fixture.checkTimeoutMs ?? 30_000;
  let inst: FixtureInstance | undefined;
  let h: Harness | undefined;
  let started = false;
  try {
    inst = await withDeadline(fixture.create(), ms, 'fixture.create()');
    const harness = (h = new Harness(fixture, inst));
    const body = async () => {
      if (!check.raw) {
        started = true; // shut down even if init fails halfway
        await harness.start();
      }
      await check.run(harness);
    };
    await withDeadline(body(), ms, `check "${check.name}"`);
    return { name: check.name, ok: true };
  } catch (err) {
    if (err instanceof Skip) return { name: check.name, ok: true, skipped: err.message };
    return { name: check.name, ok: false, error: err instanceof Error ? err : new Error(String(err)) };
  } finally {
    if (h && started) await withDeadline(h.stop(), ms, 'shutdown()').catch(() => {});
    if (inst) await withDeadline(inst.cleanup(), ms, 'cleanup()').catch(() => {});
  }
}

const chosen = (fixture: ConformanceFixture): Check[] => CHECKS.filter((c) => fixture.only?.test(c.name) ?? true);

/** Runs every check against fresh instances of the fixture, one after another. */
export async function runChecks(fixture: ConformanceFixture): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of chosen(fixture)) results.push(await runCheck(check, fixture));
  return results;
}

/** Registers the kit with node:test: one describe for the fixture, one `it` per check. */
export function runConformance(fixture: ConformanceFixture): void {
  describe(`${fixture.name}: driver conformance (contract 1.0–1.4)`, () => {
    for (const check of chosen(fixture)) {
      it(check.name, async (t) => {
        const r = await runCheck(check, fixture);
        if (r.skipped) t.skip(r.skipped);
        else if (!r.ok) throw r.error;
      });
    }
  });
}
