/**
 * The conformance checks of contract 1.2's move calls. They drive TWO driver instances, two
 * hosts: the fixture's create() is called a second time for the destination (its own state
 * dir), and both are handed one image service — the fixture's, with the transfer images the
 * checks make kept in memory beside it. A check applies only to a driver that agrees 1.2 and
 * declares its capability (coldMigration, liveMigration). Every step is called twice with the
 * same migration id and must give the same result: a conductor that died mid-step runs it again.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Harness } from './conformance.js';
import { expectCode, must, refOf, Skip, sleep, type Check } from './conformance-steps.js';
import { PowerState, type FlavorSpec, type ImageRef, type ImageService, type InstanceInfo, type InstanceSpec } from './contract.js';
import { Aborted } from './errors.js';
import { isMoveProgress, type LiveMigrationTarget, type MoveProgress, type MoveRef } from './moves.js';
import { agreeContract, atLeast, requiredMethods } from './version.js';

/** The agreement is 1.2 or later; Skip otherwise. */
function agrees12(h: Harness): void {
  let version: string;
  try {
    version = agreeContract(h.driver.version()).version;
  } catch (err) {
    throw new Skip(`no agreed contract (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!atLeast(version, '1.2')) throw new Skip(`the driver agrees contract ${version}`);
}

/** The fixture's image service, with uploads (the transfer images) kept here and served first. */
class TransferImages implements ImageService {
  readonly own = new Map<string, Uint8Array>();
  constructor(readonly base: ImageService) {}

  async download(imageId: string): Promise<AsyncIterable<Uint8Array>> {
    const data = this.own.get(imageId);
    if (!data) return this.base.download(imageId);
    return (async function* () {
      yield data;
    })();
  }

  async upload(imageId: string, data: AsyncIterable<Uint8Array> | Uint8Array): Promise<void> {
    const parts: Uint8Array[] = [];
    if (data instanceof Uint8Array) parts.push(data);
    else for await (const p of data) parts.push(p);
    this.own.set(imageId, Buffer.concat(parts));
  }
}

/** Two hosts, started: `src` is the check's own fixture instance, `dst` a second one. */
interface Pair {
  src: Harness;
  dst: Harness;
  images: TransferImages;
}

/** Runs `fn` over two started hosts whose driver declares `cap`; shuts both down after. */
async function withPair(h: Harness, cap: 'coldMigration' | 'liveMigration', fn: (p: Pair) => Promise<void>): Promise<void> {
  agrees12(h);
  const images = new TransferImages(h.inst.ctx.images);
  h.ctx.images = images;
  await h.start();
  let dst: Harness | undefined;
  try {
    if (h.caps[cap] !== true) throw new Skip(`capability ${cap} not declared`);
    const second = await h.fixture.create();
    dst = new Harness(h.fixture, second);
    dst.ctx.images = images;
    try {
      await dst.start();
      await fn({ src: h, dst, images });
    } finally {
      await dst.stop().catch(() => {});
      await second.cleanup();
    }
  } finally {
    await h.stop().catch(() => {});
  }
}

const move = (s: InstanceSpec, node: string, migrationId: string): MoveRef => ({ instance: { uuid: s.uuid, node }, migrationId });
const bigger = (f: FlavorSpec, rootGb: number): FlavorSpec => ({ ...f, id: `kit-root-${rootGb}`, name: `kit.root${rootGb}`, rootGb });

/** Calls a step twice: both must succeed, and answer the same. */
async function twice<T>(step: () => Promise<T>, what: string): Promise<T> {
  const first = await must(step(), what);
  const again = await must(step(), `${what}, called again with the same migration id`);
  assert.deepEqual(again, first, `${what} called again answers differently`);
  return first;
}

function expectInfo(info: InstanceInfo, s: InstanceSpec, node: string, state: PowerState, what: string): void {
  assert.deepEqual([info.uuid, info.node, info.powerState], [s.uuid, node, state], `${what} answers the instance on ${node}`);
}

/** The instance is listed by `host` on `node` (once), or not at all (node null). */
async function expectListed(host: Harness, s: InstanceSpec, node: string | null, what: string): Promise<void> {
  const listed = (await host.driver.listInstances()).filter((i) => i.uuid === s.uuid).map((i) => i.node);
  assert.deepEqual(listed, node === null ? [] : [node], `listInstances() ${what}`);
}

/** Steps 1 and 2 of a cold move of `s` from p.src to node `dn` of p.dst with `flavor`; answers the two move refs. */
async function coldMove(
  p: Pair, s: InstanceSpec, flavor: FlavorSpec, dn = p.dst.nodes[0]!.name,
): Promise<{ from: MoveRef; to: MoveRef; spec: InstanceSpec }> {
  const id = randomUUID();
  const from = move(s, s.node, id);
  const to = move(s, dn, id);
  const imageId = `kit-transfer-${id}`;
  const transferTo = { imageId, diskFormat: s.image.diskFormat };
  await twice(() => p.src.driver.migrateDiskAndPowerOff!({ move: from, transfer: transferTo }), 'migrateDiskAndPowerOff()');
  assert.ok((p.images.own.get(imageId)?.byteLength ?? 0) > 0, 'migrateDiskAndPowerOff() uploaded no disk into the transfer image');
  await expectListed(p.src, s, null, 'of the source while the guest is kept for revert');
  const transfer: ImageRef = { ...s.image, id: imageId, name: imageId, size: p.images.own.get(imageId)!.byteLength, checksum: null };
  const spec = { ...s, node: dn, flavor };
  const finish = { move: to, instance: spec, transfer, sourceNode: s.node, powerOn: true };
  const info = await twice(() => p.dst.driver.finishMigration!(finish), 'finishMigration()');
  expectInfo(info, s, dn, PowerState.RUNNING, 'finishMigration()');
  await p.dst.expectState(refOf(spec), PowerState.RUNNING, 'finishMigration()');
  return { from, to, spec };
}

/** Steps 3 and 4 of a live migration of `s` that arrived on `dn`, each twice; then the guest runs there alone. */
async function liveArrived(p: Pair, s: InstanceSpec, dn: string, id: string, what: string): Promise<void> {
  const info = await twice(() => p.dst.driver.postLiveMigrationAtDestination!(move(s, dn, id)), 'postLiveMigrationAtDestination()');
  expectInfo(info, s, dn, PowerState.RUNNING, 'postLiveMigrationAtDestination()');
  await twice(() => p.src.driver.postLiveMigrationAtSource!(move(s, s.node, id)), 'postLiveMigrationAtSource()');
  await p.src.assertNoLeaks([s.uuid]);
  await p.dst.expectState({ uuid: s.uuid, node: dn }, PowerState.RUNNING, what);
  await expectListed(p.dst, s, dn, `of the destination after ${what}`);
  await p.dst.driver.destroy({ uuid: s.uuid, node: dn });
  await p.dst.assertNoLeaks([s.uuid]);
}

/** Step 1 of a live migration of `s` to node `dn` of p.dst. */
function prepare(p: Pair, s: InstanceSpec, dn: string, id: string, blockMigration: boolean): Promise<LiveMigrationTarget> {
  return p.dst.driver.preLiveMigration!({ move: move(s, dn, id), instance: { ...s, node: dn }, blockMigration });
}

/** Waits until `cond` holds (at most 10 s). */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export const CHECKS_1_2: Check[] = [
  {
    name: '1.2: the calls of the declared move capabilities are there',
    async run(h) {
      agrees12(h);
      const a = agreeContract(h.driver.version());
      const d = h.driver as unknown as Record<string, unknown>;
      const missing = requiredMethods(a, h.caps).filter((m) => typeof d[m] !== 'function');
      assert.deepEqual(missing, [], 'methods of the declared capabilities');
    },
  },
  {
    name: '1.2 coldMigration: migrate to another host and confirm (every step twice)',
    raw: true,
    run: (h) => withPair(h, 'coldMigration', async (p) => {
      const s = await p.src.spawn();
      const { from, spec } = await coldMove(p, s, s.flavor);
      await twice(() => p.src.driver.confirmMigration!(from), 'confirmMigration()');
      await p.src.assertNoLeaks([s.uuid]);
      await expectListed(p.dst, s, spec.node, 'of the destination after confirm');
      await p.dst.driver.destroy(refOf(spec));
      await p.dst.assertNoLeaks([s.uuid]);
    }),
  },
  {
    name: '1.2 coldMigration: migrate to another host and revert (every step twice)',
    raw: true,
    run: (h) => withPair(h, 'coldMigration', async (p) => {
      const s = await p.src.spawn();
      const { from, to } = await coldMove(p, s, s.flavor);
      await twice(() => p.dst.driver.revertMigration!(to), 'revertMigration()');
      await p.dst.assertNoLeaks([s.uuid]);
      const info = await twice(() => p.src.driver.finishRevertMigration!(from, true), 'finishRevertMigration()');
      expectInfo(info, s, s.node, PowerState.RUNNING, 'finishRevertMigration()');
      await p.src.expectState(refOf(s), PowerState.RUNNING, 'finishRevertMigration()');
      await expectListed(p.src, s, s.node, 'of the source after revert');
      await p.src.driver.destroy(refOf(s));
      await p.src.assertNoLeaks([s.uuid]);
    }),
  },
  {
    name: '1.2 coldMigration: migrate to another node of the same host, confirm and revert (multiNode)',
    raw: true,
    run: (h) => withPair(h, 'coldMigration', async (p) => {
      if (p.src.nodes.length < 2) throw new Skip('the driver manages one node');
      const here: Pair = { ...p, dst: p.src };
      const other = p.src.nodes[1]!.name;
      const a = await p.src.spawn();
      const kept = await coldMove(here, a, a.flavor, other);
      await twice(() => p.src.driver.confirmMigration!(kept.from), 'confirmMigration()');
      await expectListed(p.src, a, other, 'after the confirm');
      await p.src.driver.destroy(refOf(kept.spec));
      const b = await p.src.spawn();
      const back = await coldMove(here, b, b.flavor, other);
      await twice(() => p.src.driver.revertMigration!(back.to), 'revertMigration()');
      const info = await twice(() => p.src.driver.finishRevertMigration!(back.from, true), 'finishRevertMigration()');
      expectInfo(info, b, b.node, PowerState.RUNNING, 'finishRevertMigration()');
      await expectListed(p.src, b, b.node, 'after the revert');
      await p.src.driver.destroy(refOf(b));
      await p.src.assertNoLeaks([a.uuid, b.uuid]);
    }),
  },
  {
    name: '1.2 coldMigration: resize to another host grows the root disk, never shrinks it (NotSupported)',
    raw: true,
    run: (h) => withPair(h, 'coldMigration', async (p) => {
      const base = p.src.spec();
      const s = await p.src.spawn({ ...base, flavor: bigger(base.flavor, base.flavor.rootGb + 1) });
      const id = randomUUID();
      const dn = p.dst.nodes[0]!.name;
      const imageId = `kit-transfer-${id}`;
      const out = { move: move(s, s.node, id), transfer: { imageId, diskFormat: s.image.diskFormat } };
      await must(p.src.driver.migrateDiskAndPowerOff!(out), 'migrateDiskAndPowerOff()');
      const transfer: ImageRef = { ...s.image, id: imageId, name: imageId, size: p.images.own.get(imageId)?.byteLength ?? 0, checksum: null };
      const req = (rootGb: number) => ({
        move: move(s, dn, id), instance: { ...s, node: dn, flavor: bigger(s.flavor, rootGb) }, transfer, sourceNode: s.node, powerOn: true,
      });
      await expectCode(p.dst.driver.finishMigration!(req(s.flavor.rootGb - 1)), 'NotSupported', 'finishMigration() to a smaller root disk');
      await p.dst.assertNoLeaks([s.uuid]);
      const info = await twice(() => p.dst.driver.finishMigration!(req(s.flavor.rootGb + 1)), 'finishMigration() to a bigger root disk');
      expectInfo(info, s, dn, PowerState.RUNNING, 'finishMigration()');
      await twice(() => p.src.driver.confirmMigration!(move(s, s.node, id)), 'confirmMigration()');
      await p.src.assertNoLeaks([s.uuid]);
      await p.dst.driver.destroy({ uuid: s.uuid, node: dn });
      await p.dst.assertNoLeaks([s.uuid]);
    }),
  },
  {
    name: '1.2 coldMigration: resize on the same node, confirm and revert; never shrinks (every step twice)',
    raw: true,
    run: (h) => withPair(h, 'coldMigration', async (p) => {
      const host = p.src;
      for (const outcome of ['confirm', 'revert'] as const) {
        const s = await host.spawn();
        const id = randomUUID();
        const m = move(s, s.node, id);
        await twice(() => host.driver.migrateDiskAndPowerOff!({ move: m, transfer: null }), 'migrateDiskAndPowerOff() on the same node');
        await expectListed(host, s, s.node, 'while the copy is set aside');
        const req = (rootGb: number) => ({
          move: m, instance: { ...s, flavor: bigger(s.flavor, rootGb) }, transfer: null, sourceNode: s.node, powerOn: true,
        });
        if (s.flavor.rootGb > 0) {
          await expectCode(host.driver.finishMigration!(req(s.flavor.rootGb - 1)), 'NotSupported', 'finishMigration() to a smaller root disk');
        }
        const info = await twice(() => host.driver.finishMigration!(req(s.flavor.rootGb + 1)), 'finishMigration() on the same node');
        expectInfo(info, s, s.node, PowerState.RUNNING, 'finishMigration()');
        if (outcome === 'confirm') {
          await twice(() => host.driver.confirmMigration!(m), 'confirmMigration() on the same node');
        } else {
          await twice(() => host.driver.revertMigration!(m), 'revertMigration() on the same node');
          const back = await twice(() => host.driver.finishRevertMigration!(m, true), 'finishRevertMigration() on the same node');
          expectInfo(back, s, s.node, PowerState.RUNNING, 'finishRevertMigration()');
        }
        await host.expectState(refOf(s), PowerState.RUNNING, `a resize on the same node and its ${outcome}`);
        await expectListed(host, s, s.node, `after the ${outcome}`);
        await host.driver.destroy(refOf(s));
        await host.assertNoLeaks([s.uuid]);
      }
    }),
  },
  {
    name: '1.2 liveMigration: a running guest moves to another host, reporting progress (every step twice)',
    raw: true,
    run: (h) => withPair(h, 'liveMigration', async (p) => {
      const s = await p.src.spawn();
      const id = randomUUID();
      const dn = p.dst.nodes[0]!.name;
      const target = await twice(() => prepare(p, s, dn, id, true), 'preLiveMigration()');
      assert.equal(target.node, dn, 'preLiveMigration() answers the destination node');
      await expectListed(p.dst, s, null, 'of the destination before the guest arrives');
      const progress: MoveProgress[] = [];
      const req = { move: move(s, s.node, id), target, blockMigration: true };
      await twice(() => p.src.driver.liveMigration!(req, { onProgress: (x) => progress.push(x) }), 'liveMigration()');
      assert.ok(progress.length > 0, 'liveMigration() reported no progress');
      assert.ok(progress.every(isMoveProgress), 'every progress report is well-formed');
      await expectListed(p.src, s, null, 'of the source once the guest left');
      await liveArrived(p, s, dn, id, 'a live migration');
    }),
  },
  {
    name: '1.2 liveMigration: aborted through its signal, the guest stays running on the source',
    raw: true,
    run: (h) => withPair(h, 'liveMigration', async (p) => {
      const s = await p.src.spawn();
      const id = randomUUID();
      const dn = p.dst.nodes[0]!.name;
      const target = await must(prepare(p, s, dn, id, false), 'preLiveMigration()');
      const ac = new AbortController();
      const req = { move: move(s, s.node, id), target, blockMigration: false };
      let first: MoveProgress | undefined;
      const onProgress = (x: MoveProgress) => {
        first ??= x;
        ac.abort(new Aborted('kit: the live migration is aborted'));
      };
      const outcome = await p.src.driver.liveMigration!(req, { signal: ac.signal, onProgress }).then(() => 'finished', (e: unknown) => e);
      if (outcome === 'finished') {
        // Only a migration whose first report was its last may have finished before the abort.
        assert.ok(first && first.memoryRemaining === 0 && first.diskRemaining === 0, 'liveMigration() went on after its signal was aborted');
        throw new Skip('the live migration finished before its first progress report could abort it');
      }
      await expectCode(Promise.reject(outcome), ['Aborted', 'MigrationFailed'], 'an aborted liveMigration()');
      await p.src.expectState(refOf(s), PowerState.RUNNING, 'an aborted live migration');
      await expectListed(p.src, s, s.node, 'of the source after the abort');
      await twice(() => p.dst.driver.rollbackLiveMigrationAtDestination!(move(s, dn, id)), 'rollbackLiveMigrationAtDestination()');
      await p.dst.assertNoLeaks([s.uuid]);
      if (p.src.caps.powerControl) {
        const stopped = await p.src.spawn();
        const id2 = randomUUID();
        await p.src.driver.powerOff(refOf(stopped), 0);
        const t2 = await must(prepare(p, stopped, dn, id2, false), 'preLiveMigration()');
        const req2 = { move: move(stopped, stopped.node, id2), target: t2, blockMigration: false };
        await expectCode(p.src.driver.liveMigration!(req2), 'InvalidState', 'liveMigration() of a stopped guest');
        await must(p.dst.driver.rollbackLiveMigrationAtDestination!(move(stopped, dn, id2)), 'rollbackLiveMigrationAtDestination()');
        await p.src.driver.destroy(refOf(stopped));
      }
      await p.src.driver.destroy(refOf(s));
      await p.src.assertNoLeaks([s.uuid]);
      await p.dst.assertNoLeaks([s.uuid]);
    }),
  },
  {
    name: '1.2 liveMigration: force-complete finishes a migration under way; InvalidState when none is',
    raw: true,
    run: (h) => withPair(h, 'liveMigration', async (p) => {
      const s = await p.src.spawn();
      const id = randomUUID();
      const dn = p.dst.nodes[0]!.name;
      const force = () => p.src.driver.liveMigrationForceComplete!(move(s, s.node, id));
      await expectCode(force(), 'InvalidState', 'liveMigrationForceComplete() with none under way');
      const target = await must(prepare(p, s, dn, id, false), 'preLiveMigration()');
      const progress: MoveProgress[] = [];
      const req = { move: move(s, s.node, id), target, blockMigration: false };
      const migrating = p.src.driver.liveMigration!(req, { onProgress: (x) => progress.push(x) });
      migrating.catch(() => undefined);
      await until(() => progress.length > 0, 'the first progress report');
      // Under way, or (a fast back-end) finished already: both succeed, twice.
      await twice(force, 'liveMigrationForceComplete()');
      await must(migrating, 'a forced liveMigration()');
      await must(force(), 'liveMigrationForceComplete() of a finished migration');
      await liveArrived(p, s, dn, id, 'a forced live migration');
    }),
  },
];
