import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backendSkip, commandExists } from '../support/backends.js';
import { launchAllInOne } from '../../harness/all-in-one.js';
import type { CloudProcess } from '../support/cloud-process.js';
import { api } from '../support/http.js';
import { openstack, openstackJson, openstackOk, waitServerStatus } from '../support/openstack-cli.js';
import {
  assertClaimsExactly, assertSequence, guestHosts, MOVE_OPS, sessionFromOpenrc, slowCalls, StateWatch, type CloudSession, type FlavorShape,
} from '../support/moves.js';

const skip = backendSkip('the openstack CLI (python3-openstackclient)', commandExists('openstack'));

type Row = Record<string, any>;
const HOSTS = ['compute1', 'compute2'];
const TINY: FlavorShape = { vcpus: 1, ram: 512, disk: 1 };
const BIG: FlavorShape = { vcpus: 2, ram: 1024, disk: 2 };
/** Microversion for shows and lists: host attributes, migration uuids and types, user/project (2.80). */
const MV = ['--os-compute-api-version', '2.80'];

/**
 * Issue #12's end-to-end moves: the real `openstack` CLI against the all-in-one (built JS, fake
 * driver, two compute hosts) drives resize + confirm, resize + revert, migrate + confirm, live
 * migration, shelve / shelve-offload / unshelve and evacuate after `compute service set --down`.
 * Each move's driver calls are slowed (1.2 s each) so the states it passes through are seen by a
 * watcher polling the API; afterwards the test reads the instance actions and events and the
 * migration records through the CLI, and the claims through placement (no osc-placement plugin
 * here): exactly the flavor on the final node, nothing left with the migration.
 */
describe('moves through the openstack CLI', { skip }, () => {
  let cloud: CloudProcess;
  let env: Record<string, string>;
  let s: CloudSession;

  before(async () => {
    cloud = await launchAllInOne({
      baseEnv: { ...process.env, ORRERY_LOG_LEVEL: process.env.ORRERY_LOG_LEVEL ?? 'warn' },
      ini: {
        // Shelve keeps the guest (SHELVED) until shelve-offload is asked for: both states are seen.
        // A returning source's clean-up of evacuated guests runs on its power-sync pass.
        DEFAULT: { shelved_offload_time: '-1', sync_power_state_interval: '2' },
        fake: { live_migration_ms: '3000' },
        // Live migrations from compute1 never converge until forced to complete (or aborted).
        'fake@compute1': { live_migration_converges: 'false' },
      },
    });
    env = cloud.openrc;
    s = await sessionFromOpenrc(env);
    // spawn and destroy too: evacuate and unshelve spawn, shelve-offload destroys (boots and deletes slow down as well).
    slowCalls(cloud.stateDir, HOSTS, [...MOVE_OPS, 'snapshot', 'powerOff', 'powerOn', 'spawn', 'destroy'], 1200);
    await openstackJson(['flavor', 'create', '--vcpus', String(BIG.vcpus), '--ram', String(BIG.ram), '--disk', String(BIG.disk), 'mv.big'], env);
  });
  after(async () => {
    await cloud?.stop();
  });

  const show = (name: string): Promise<Row> => openstackJson<Row>([...MV, 'server', 'show', name], env);
  /** Boots a server (on `host` when given: the admin's forced host, availability zone "nova:<host>"). */
  const boot = async (name: string, host?: string): Promise<Row> => {
    const at = host ? ['--availability-zone', `nova:${host}`] : [];
    const vm = await openstackJson<Row>(['server', 'create', '--image', 'orrery-tiny', '--flavor', 'm1.tiny', '--nic', 'none', ...at, '--wait', name], env);
    assert.equal(vm.status, 'ACTIVE');
    return show(name);
  };
  const hostOf = (vm: Row): string => String(vm['OS-EXT-SRV-ATTR:host']);
  const other = (host: string): string => HOSTS.find((h) => h !== host)!;
  const watch = (vm: Row): StateWatch => new StateWatch(s.urls.compute, s, String(vm.id));

  /** The events (names and results) of the server's action `action` (the last one of that name). */
  async function eventsOf(name: string, action: string): Promise<Map<string, string>> {
    const actions = await openstackJson<Row[]>(['--os-compute-api-version', '2.51', 'server', 'event', 'list', name], env);
    const mine = actions.filter((a) => a.Action === action);
    assert.ok(mine.length > 0, `no ${action} action in ${actions.map((a) => a.Action).join(', ')}`);
    const shown = await openstackJson<Row>(['--os-compute-api-version', '2.51', 'server', 'event', 'show', name, String(mine[0]!['Request ID'])], env);
    const events = (typeof shown.events === 'string' ? JSON.parse(shown.events) : shown.events) as Array<{ event: string; result: string | null }>;
    return new Map(events.map((e) => [e.event, String(e.result)]));
  }
  async function assertEvents(name: string, action: string, want: string[]): Promise<void> {
    const events = await eventsOf(name, action);
    const missing = want.filter((e) => events.get(e) !== 'Success');
    if (missing.length === 0) return;
    // Say where the missing events went (another action's request, e.g. the move's first one).
    const actions = await openstackJson<Row[]>(['--os-compute-api-version', '2.51', 'server', 'event', 'list', name], env);
    const all: string[] = [];
    for (const a of actions) {
      const shown = await openstackJson<Row>(['--os-compute-api-version', '2.51', 'server', 'event', 'show', name, String(a['Request ID'])], env);
      const evs = (typeof shown.events === 'string' ? JSON.parse(shown.events) : shown.events) as Array<{ event: string; result: string | null }>;
      all.push(`${String(a.Action)}: ${evs.map((e) => `${e.event}=${e.result}`).join(', ') || '(none)'}`);
    }
    assert.fail(`${action} of ${name}: events ${missing.join(', ')} not recorded as Success under it; the server's actions: ${all.join('; ')}`);
  }

  /** The server's migrations through `openstack server migration list` (2.80: uuids, types). */
  async function migrationsOf(name: string): Promise<Row[]> {
    return openstackJson<Row[]>([...MV, 'server', 'migration', 'list', '--server', name], env);
  }
  async function onlyMigration(name: string, type: string, status: string): Promise<Row> {
    const ms = (await migrationsOf(name)).filter((m) => m.Type === type);
    assert.equal(ms.length, 1, `${name}: ${type} migrations ${JSON.stringify(ms)}`);
    assert.equal(ms[0]!.Status, status, `${name}: migration ${JSON.stringify(ms[0])}`);
    return ms[0]!;
  }

  /** Waits until the server's migration of `type` has one of `statuses`. */
  async function waitMigration(name: string, type: string, ...statuses: string[]): Promise<Row> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const m = (await migrationsOf(name)).find((x) => x.Type === type);
      if (m && statuses.includes(String(m.Status))) return m;
      if (Date.now() > deadline) throw new Error(`${name}: ${type} migration is ${JSON.stringify(m)}, wanted ${statuses.join(' or ')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  it('resize + confirm: RESIZE → VERIFY_RESIZE → ACTIVE on the other host with the new flavor, the old claim gone', async () => {
    const vm = await boot('rs1');
    const src = hostOf(vm);
    const w = watch(vm);
    await openstackOk(['server', 'resize', '--flavor', 'mv.big', '--wait', 'rs1'], env);
    const resized = await show('rs1');
    assert.equal(resized.status, 'VERIFY_RESIZE');
    assert.equal(hostOf(resized), other(src), 'a resize picks another host (allow_resize_to_same_host is false)');
    assert.match(JSON.stringify(resized.flavor), /mv\.big/);
    const m = await onlyMigration('rs1', 'resize', 'finished');
    assert.equal(m['Source Compute'], src);
    assert.equal(m['Dest Compute'], other(src));
    // While VERIFY_RESIZE: the server holds the new flavor on the destination, its migration the old on the source.
    await assertClaimsExactly(s.urls.placement, s, String(vm.id), other(src), BIG);
    await assertClaimsExactly(s.urls.placement, s, String(m.UUID), src, TINY);

    await openstackOk(['server', 'resize', 'confirm', 'rs1'], env);
    const done = await waitServerStatus(env, 'rs1', 'ACTIVE');
    const seen = await w.stop();
    assertSequence(w.statuses(), ['RESIZE', 'VERIFY_RESIZE', 'ACTIVE'], 'resize + confirm');
    assert.equal(hostOf(await show('rs1')), other(src));
    assert.equal(done.status, 'ACTIVE', seen.join(' → '));
    await waitMigration('rs1', 'resize', 'confirmed');
    await assertClaimsExactly(s.urls.placement, s, String(vm.id), other(src), BIG, [String(m.UUID)]);
    assert.deepEqual(guestHosts(cloud.stateDir, HOSTS, String(vm.id)), [other(src)]);
    await assertEvents('rs1', 'resize', ['conductor_migrate_server', 'compute_resize_instance', 'compute_finish_resize']);
    await assertEvents('rs1', 'confirmResize', ['compute_confirm_resize']);
  });

  it('resize + revert: REVERT_RESIZE → ACTIVE back on the source with the old flavor, the destination claim gone', async () => {
    const vm = await boot('rs2');
    const src = hostOf(vm);
    const w = watch(vm);
    await openstackOk(['server', 'resize', '--flavor', 'mv.big', '--wait', 'rs2'], env);
    assert.equal((await show('rs2')).status, 'VERIFY_RESIZE');
    const m = await onlyMigration('rs2', 'resize', 'finished');
    await openstackOk(['server', 'resize', 'revert', 'rs2'], env);
    await waitServerStatus(env, 'rs2', 'ACTIVE');
    await w.stop();
    assertSequence(w.statuses(), ['RESIZE', 'VERIFY_RESIZE', 'REVERT_RESIZE', 'ACTIVE'], 'resize + revert');
    const back = await show('rs2');
    assert.equal(hostOf(back), src);
    assert.match(JSON.stringify(back.flavor), /m1\.tiny/);
    await waitMigration('rs2', 'resize', 'reverted');
    await assertClaimsExactly(s.urls.placement, s, String(vm.id), src, TINY, [String(m.UUID)]);
    assert.deepEqual(guestHosts(cloud.stateDir, HOSTS, String(vm.id)), [src]);
    await assertEvents('rs2', 'revertResize', ['compute_revert_resize', 'compute_finish_revert_resize']);
  });

  it('migrate + confirm: RESIZE → VERIFY_RESIZE → ACTIVE on the other host, same flavor', async () => {
    const vm = await boot('mg1');
    const src = hostOf(vm);
    const w = watch(vm);
    await openstackOk(['server', 'migrate', '--wait', 'mg1'], env);
    assert.equal((await show('mg1')).status, 'VERIFY_RESIZE');
    const m = await onlyMigration('mg1', 'migration', 'finished');
    await openstackOk(['server', 'resize', 'confirm', 'mg1'], env);
    await waitServerStatus(env, 'mg1', 'ACTIVE');
    await w.stop();
    assertSequence(w.statuses(), ['RESIZE', 'VERIFY_RESIZE', 'ACTIVE'], 'migrate + confirm');
    const moved = await show('mg1');
    assert.equal(hostOf(moved), other(src));
    assert.match(JSON.stringify(moved.flavor), /m1\.tiny/);
    await waitMigration('mg1', 'migration', 'confirmed');
    await assertClaimsExactly(s.urls.placement, s, String(vm.id), other(src), TINY, [String(m.UUID)]);
    assert.deepEqual(guestHosts(cloud.stateDir, HOSTS, String(vm.id)), [other(src)]);
    await assertEvents('mg1', 'migrate', ['conductor_migrate_server', 'compute_resize_instance', 'compute_finish_resize']);
    await assertEvents('mg1', 'confirmResize', ['compute_confirm_resize']);
  });

  it('live migration to a named host: MIGRATING → ACTIVE there, migration completed, one guest', async () => {
    const vm = await boot('lm1', 'compute2');
    const src = hostOf(vm);
    const w = watch(vm);
    await openstackOk(['--os-compute-api-version', '2.30', 'server', 'migrate', '--live-migration', '--host', other(src), '--wait', 'lm1'], env);
    await waitServerStatus(env, 'lm1', 'ACTIVE');
    await w.stop();
    assertSequence(w.statuses(), ['MIGRATING', 'ACTIVE'], 'live migration');
    assert.equal(hostOf(await show('lm1')), other(src));
    const m = await waitMigration('lm1', 'live-migration', 'completed');
    assert.equal(m['Source Compute'], src);
    assert.equal(m['Dest Compute'], other(src));
    await assertClaimsExactly(s.urls.placement, s, String(vm.id), other(src), TINY, [String(m.UUID)]);
    assert.deepEqual(guestHosts(cloud.stateDir, HOSTS, String(vm.id)), [other(src)]);
    await assertEvents('lm1', 'live-migration', [
      'conductor_live_migrate_instance', 'compute_pre_live_migration', 'compute_live_migration', 'compute_post_live_migration_at_destination',
    ]);
  });

  /** Starts a live migration compute1 → compute2 that does not converge; answers its migration once it runs. */
  async function liveStuck(name: string): Promise<{ vm: Row; id: string }> {
    const vm = await boot(name, 'compute1');
    await openstackOk(['--os-compute-api-version', '2.30', 'server', 'migrate', '--live-migration', '--host', 'compute2', name], env);
    const m = await waitMigration(name, 'live-migration', 'running');
    return { vm, id: String(m.Id) };
  }

  it('a live migration that does not converge: `server migration show` has its progress, `force complete` ends it', async () => {
    const { vm, id } = await liveStuck('lmf');
    const deadline = Date.now() + 30_000;
    let shown: Row;
    // Progress reaches the migration record as the copy goes (the fake driver reports ten times over its copy).
    for (;;) {
      shown = await openstackJson<Row>([...MV, 'server', 'migration', 'show', 'lmf', id], env);
      if (Number(shown['Memory Processed Bytes']) > 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(shown.Status, 'running');
    assert.ok(Number(shown['Memory Total Bytes']) > 0, `no progress: ${JSON.stringify(shown)}`);
    assert.ok(Number(shown['Memory Processed Bytes']) > 0, `no progress: ${JSON.stringify(shown)}`);
    assert.equal((await show('lmf')).status, 'MIGRATING');
    await openstackOk([...MV, 'server', 'migration', 'force', 'complete', 'lmf', id], env);
    await waitMigration('lmf', 'live-migration', 'completed');
    const done = await waitServerStatus(env, 'lmf', 'ACTIVE');
    assert.equal(hostOf(await show('lmf')), 'compute2', JSON.stringify(done));
    const m = (await migrationsOf('lmf')).find((x) => x.Type === 'live-migration')!;
    await assertClaimsExactly(s.urls.placement, s, String(vm.id), 'compute2', TINY, [String(m.UUID)]);
    assert.deepEqual(guestHosts(cloud.stateDir, HOSTS, String(vm.id)), ['compute2']);
  });

  it('a live migration aborted with `server migration abort`: ACTIVE on the source again, migration cancelled, nothing on the destination', async () => {
    const { vm, id } = await liveStuck('lma');
    await openstackOk([...MV, 'server', 'migration', 'abort', 'lma', id], env);
    const m = await waitMigration('lma', 'live-migration', 'cancelled');
    const deadline = Date.now() + 30_000;
    let v = await show('lma');
    while ((v.status !== 'ACTIVE' || v['OS-EXT-STS:task_state']) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
      v = await show('lma');
    }
    assert.equal(v.status, 'ACTIVE');
    assert.equal(v['OS-EXT-STS:task_state'] ?? null, null);
    assert.equal(hostOf(v), 'compute1');
    await assertClaimsExactly(s.urls.placement, s, String(vm.id), 'compute1', TINY, [String(m.UUID)]);
    assert.deepEqual(guestHosts(cloud.stateDir, HOSTS, String(vm.id)), ['compute1']);
  });

  it('shelve → SHELVED (guest and claim kept), shelve --offload → SHELVED_OFFLOADED (nothing held), unshelve → ACTIVE', async () => {
    const vm = await boot('sh1');
    const host = hostOf(vm);
    const id = String(vm.id);
    let w = watch(vm);
    await openstackOk(['server', 'shelve', '--wait', 'sh1'], env);
    await w.stop();
    assert.ok(w.sawTask('shelving'), `shelve: ${w.seen.join(' → ')}`);
    const shelved = await show('sh1');
    assert.equal(shelved.status, 'SHELVED');
    assert.equal(hostOf(shelved), host);
    await assertClaimsExactly(s.urls.placement, s, id, host, TINY);
    assert.deepEqual(guestHosts(cloud.stateDir, HOSTS, id), [host]);
    const images = await openstackJson<Row[]>(['image', 'list'], env);
    assert.ok(images.some((i) => i.Name === 'sh1-shelved'), `no sh1-shelved image: ${images.map((i) => i.Name).join(', ')}`);
    await assertEvents('sh1', 'shelve', ['compute_shelve_instance']);

    w = watch(vm);
    await openstackOk(['server', 'shelve', '--offload', '--wait', 'sh1'], env);
    await w.stop();
    assertSequence(w.seen, ['SHELVED/shelving_offloading', 'SHELVED_OFFLOADED/-'], 'shelve-offload');
    const offloaded = await show('sh1');
    assert.equal(offloaded.status, 'SHELVED_OFFLOADED');
    assert.equal(offloaded['OS-EXT-SRV-ATTR:host'] ?? null, null);
    const r = await api(s, 'GET', `${s.urls.placement}/allocations/${id}`);
    assert.deepEqual(r.body.allocations, {}, 'an offloaded server holds no claim');
    assert.deepEqual(guestHosts(cloud.stateDir, HOSTS, id), []);
    await assertEvents('sh1', 'shelveOffload', ['compute_shelve_offload_instance']);

    w = watch(vm);
    await openstackOk(['server', 'unshelve', '--wait', 'sh1'], env);
    await waitServerStatus(env, 'sh1', 'ACTIVE');
    await w.stop();
    assertSequence(w.seen, ['SHELVED_OFFLOADED/unshelving', 'ACTIVE/-'], 'unshelve');
    const back = await show('sh1');
    const now = hostOf(back);
    assert.ok(HOSTS.includes(now), `unshelved onto ${now}`);
    await assertClaimsExactly(s.urls.placement, s, id, now, TINY);
    assert.deepEqual(guestHosts(cloud.stateDir, HOSTS, id), [now]);
    const after = await openstackJson<Row[]>(['image', 'list'], env);
    assert.ok(!after.some((i) => i.Name === 'sh1-shelved'), 'the shelved image is deleted after unshelve');
    await assertEvents('sh1', 'unshelve', ['schedule_instances', 'compute_unshelve_instance']);
  });

  it('evacuate after `compute service set --down`: REBUILD → ACTIVE on the other host; the returning source removes its copy', async () => {
    const vm = await boot('ev1');
    const src = hostOf(vm);
    const id = String(vm.id);
    // While the source is up, Nova refuses: "Compute service of <host> is still in use."
    const refused = await openstack(['--os-compute-api-version', '2.29', 'server', 'evacuate', 'ev1'], env);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr + refused.stdout, /still in use/);

    await openstackOk(['--os-compute-api-version', '2.11', 'compute', 'service', 'set', '--down', src, 'nova-compute'], env);
    try {
      const w = watch(vm);
      const r = await openstack(['--os-compute-api-version', '2.29', 'server', 'evacuate', 'ev1'], env);
      // python-openstackclient 6.0 reads the evacuate answer (novaclient's TupleWithMeta) as a
      // server and fails after the request was accepted; anything else is a real failure.
      if (r.code !== 0) assert.match(r.stderr, /TupleWithMeta|has no attribute/, `evacuate failed:\n${r.stderr}\n${r.stdout}`);
      await waitServerStatus(env, 'ev1', 'ACTIVE');
      await w.stop();
      assertSequence(w.statuses(), ['REBUILD', 'ACTIVE'], 'evacuate');
      assert.equal(hostOf(await show('ev1')), other(src));
      // 'done' once rebuilt; 'completed' once the source has cleaned up (its power-sync pass may come first).
      const m = await waitMigration('ev1', 'evacuation', 'done', 'completed');
      await assertEvents('ev1', 'evacuate', ['compute_rebuild_instance']);
      await openstackOk(['--os-compute-api-version', '2.11', 'compute', 'service', 'set', '--up', src, 'nova-compute'], env);
      await waitMigration('ev1', 'evacuation', 'completed');
      const deadline = Date.now() + 30_000;
      while (guestHosts(cloud.stateDir, HOSTS, id).length > 1 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 250));
      assert.deepEqual(guestHosts(cloud.stateDir, HOSTS, id), [other(src)], 'the returning source destroyed its copy');
      await assertClaimsExactly(s.urls.placement, s, id, other(src), TINY, [String(m.UUID)]);
      // The source did not start its copy again on its way back: the server is where it was evacuated to.
      assert.equal((await show('ev1')).status, 'ACTIVE');
    } finally {
      await openstack(['--os-compute-api-version', '2.11', 'compute', 'service', 'set', '--up', src, 'nova-compute'], env);
    }
  });
});
