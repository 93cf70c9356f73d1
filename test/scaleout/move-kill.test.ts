import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from '../../src/common/time.js';
import { openDatabase, type Db } from '../../src/db/connection.js';
import { getFlow, liveFlowOf, type FlowRow } from '../../src/db/task-flows.js';
import { api, waitFor, type Session } from '../support/cloud.js';
import { startDeployment, type Deployment } from '../support/deployment.js';
import { allocationsByNode, flavorResources, MOVE_OPS, slowCalls } from '../support/moves.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';
import { RABBIT_URL, rabbitSkip } from '../support/rabbitmq.js';
import { fakeBackendOf, loginTo, raiseQuota, seededImage } from './support.js';

const skip = pgSkip || (await rabbitSkip());
const HOSTS = ['compute1', 'compute2'];
const MV = { 'openstack-api-version': 'compute 2.80' };
/** How long a move step's driver call takes here, so the test can strike while the flow is at it. */
const STEP_MS = 1500;

type Then = 'confirm' | 'revert';
type Move = 'resize' | 'live';
interface Run { steps: string[]; killedAt: string | null }

/**
 * Issue #12: kill -9 of the conductor at each persisted step of a resize (with its confirm or
 * revert) and of a live migration, in the multi-process deployment (PostgreSQL, RabbitMQ, one
 * conductor restarted at once, [conductor] flow_lease 3 s). A first run of each move records
 * the steps its flow goes through (task_flows.step, read through src/db); then one run per step
 * kills the conductor when the flow is at that step. Every run must end — the flow done, the
 * server ACTIVE (or VERIFY_RESIZE, then confirmed or reverted) or ERROR with a fault, never left
 * in a task state — with the server's claims exactly its flavor on its node, nothing held by its
 * migrations, and its guest on one fake host only.
 */
describe('kill -9 of the conductor at each step of a move', { skip }, () => {
  let pg: TestPgDatabase;
  let d: Deployment;
  let db: Db;
  let admin: Session;
  let imageId = '';
  let bigFlavor = '';

  before(async () => {
    pg = await createPgDatabase();
    d = await startDeployment({
      brokerUrl: RABBIT_URL, databaseUrl: pg.url, conductors: 1, schedulers: 1,
      computes: HOSTS.map((host) => ({ host, env: { ORRERY_FAKE__LIVE_MIGRATION_MS: String(2 * STEP_MS) } })),
      ini: { conductor: { flow_lease: '3', flow_poll_interval: '1' } },
    });
    db = openDatabase(pg.url);
    admin = await loginTo(d.urls.identity);
    await raiseQuota(d, admin, 100);
    imageId = await seededImage(d, admin);
    const f = await api(admin, 'POST', `${d.urls.compute}/v2.1/flavors`, { flavor: { name: 'mk.big', ram: 1024, vcpus: 2, disk: 2 } });
    assert.equal(f.status, 200, JSON.stringify(f.body));
    bigFlavor = f.body.flavor.id;
    slowCalls(d.stateDir, HOSTS, MOVE_OPS, STEP_MS);
  });
  after(async () => {
    await db?.destroy();
    await d?.stop();
    await pg?.drop();
  });

  const server = async (id: string) => (await api(admin, 'GET', `${d.urls.compute}/v2.1/servers/${id}`, undefined, MV)).body.server as Record<string, any>;
  const action = (id: string, body: unknown, mv = MV) => api(admin, 'POST', `${d.urls.compute}/v2.1/servers/${id}/action`, body, mv);

  async function boot(name: string): Promise<string> {
    const r = await api(admin, 'POST', `${d.urls.compute}/v2.1/servers`, { server: { name, imageRef: imageId, flavorRef: '1', networks: 'none' } }, MV);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.server.id as string;
    await waitFor(`${name} ACTIVE`, async () => ((await server(id)).status === 'ACTIVE' ? true : undefined), 60_000);
    return id;
  }

  /**
   * Runs one move of a new server, following its flow in the database; kills and restarts the
   * conductor when the flow is at `killAt` (running), resumes a waiting resize with `then`.
   */
  async function run(move: Move, then: Then, killAt: string | null, name: string): Promise<{ id: string; run: Run }> {
    const id = await boot(name);
    const src = (await server(id))['OS-EXT-SRV-ATTR:host'] as string;
    const start = move === 'resize'
      ? await action(id, { resize: { flavorRef: bigFlavor } })
      : await action(id, { 'os-migrateLive': { host: HOSTS.find((h) => h !== src), block_migration: 'auto' } }, { 'openstack-api-version': 'compute 2.30' });
    assert.equal(start.status, 202, JSON.stringify(start.body));
    const steps: string[] = [];
    let flow: FlowRow | null = null;
    let killedAt: string | null = null;
    let resumed = false;
    const deadline = Date.now() + 120_000;
    for (;;) {
      flow = flow ? await getFlow(db, flow.uuid) : await liveFlowOf(db, id);
      if (flow) {
        if (flow.status === 'running' && steps[steps.length - 1] !== flow.step) steps.push(flow.step);
        if (flow.status === 'done') break;
        if (killAt && !killedAt && flow.status === 'running' && flow.step === killAt) {
          killedAt = flow.step;
          await d.service('conductor1').stop('SIGKILL');
          await sleep(300);
          await d.service('conductor1').start();
        }
        if (flow.status === 'waiting' && !resumed) {
          resumed = true;
          const r = await action(id, then === 'confirm' ? { confirmResize: null } : { revertResize: null });
          assert.ok(r.status === 204 || r.status === 202, `${then}: ${r.status} ${JSON.stringify(r.body)}`);
        }
      }
      if (Date.now() > deadline) throw new Error(`${name}: the ${move} flow is stuck at ${flow?.step} (${flow?.status}); steps ${steps.join(' → ')}`);
      await sleep(50);
    }
    return { id, run: { steps, killedAt } };
  }

  /** The invariants after a run: settled, claims exact, migrations hold nothing, one guest. */
  async function checkEnd(id: string, what: string): Promise<string> {
    const v = await waitFor(`${what}: the server to settle`, async () => {
      const s = await server(id);
      return !s['OS-EXT-STS:task_state'] && ['ACTIVE', 'ERROR', 'SHUTOFF'].includes(s.status) ? s : undefined;
    }, 60_000).catch(async (err: Error) => {
      const s = await server(id);
      throw new Error(`${err.message}: it is ${s.status}/${s['OS-EXT-STS:task_state']}`);
    });
    if (v.status === 'ERROR') assert.ok(v.fault?.message, `${what}: ERROR without a fault`);
    else assert.equal(v.status, 'ACTIVE', `${what}: ${v.status}`);
    const node = v['OS-EXT-SRV-ATTR:hypervisor_hostname'] as string;
    const claims = Object.fromEntries(await allocationsByNode(d.urls.placement, admin, id));
    assert.deepEqual(claims, { [node]: flavorResources(v.flavor) }, `${what}: claims of the server`);
    const migs = (await api(admin, 'GET', `${d.urls.compute}/v2.1/os-migrations?instance_uuid=${id}`, undefined, MV)).body.migrations as Array<{ uuid: string; status: string }>;
    for (const m of migs) {
      assert.deepEqual(Object.fromEntries(await allocationsByNode(d.urls.placement, admin, m.uuid)), {}, `${what}: migration ${m.uuid} (${m.status}) holds claims`);
    }
    const on: string[] = [];
    for (const host of HOSTS) {
      const b = fakeBackendOf(d, host);
      try {
        if (b.getInstance(id)) on.push(host);
      } finally {
        b.close();
      }
    }
    if (v.status === 'ACTIVE') assert.deepEqual(on, [v['OS-EXT-SRV-ATTR:host']], `${what}: guests on ${on.join(', ')}`);
    else assert.ok(on.length <= 1, `${what}: guests on ${on.join(', ')}`);
    return `${v.status}@${v['OS-EXT-SRV-ATTR:host']}${v.status === 'ERROR' ? ` (${String(v.fault.message).slice(0, 80)})` : ''}`;
  }

  /** The walk: a first run records the steps, then one run kills the conductor at each. */
  async function walk(t: TestContext, move: Move, then: Then, prefix: string, only?: (step: string, all: string[]) => boolean): Promise<void> {
    const first = await run(move, then, null, `${prefix}-probe`);
    t.diagnostic(`${move}+${then} steps: ${first.run.steps.join(' → ')}; ends ${await checkEnd(first.id, `${move} without a kill`)}`);
    assert.ok(first.run.steps.length >= 2, `the ${move} flow went through ${first.run.steps.join(', ')}`);
    const targets = first.run.steps.filter((s, _i, all) => !only || only(s, all));
    let struck = 0;
    for (const step of targets) {
      const r = await run(move, then, step, `${prefix}-${step}`);
      const end = await checkEnd(r.id, `${move}+${then} killed at ${step}`);
      t.diagnostic(`killed at ${step}: steps ${r.run.steps.join(' → ')}; ends ${end}`);
      // The step may have been too quick to strike at (a scheduler answer): say so, but it must be a rare one.
      if (r.run.killedAt) struck++;
      else t.diagnostic(`  (the flow did not stop at ${step} long enough to strike)`);
    }
    // Each step with a driver call lasts STEP_MS; at most one quick one (the scheduler's) may slip by.
    assert.ok(struck >= targets.length - 1, `struck at ${struck} of ${targets.length} steps`);
  }

  let resizeSteps: string[] = [];

  it('resize + confirm: a kill at each step', async (t) => {
    await walk(t, 'resize', 'confirm', 'rc', (s, all) => {
      resizeSteps = all;
      return true;
    });
  });

  it('resize + revert: a kill at each step the revert adds', async (t) => {
    // The steps up to VERIFY_RESIZE were walked with the confirm; the revert's own are new.
    await walk(t, 'resize', 'revert', 'rr', (s) => !resizeSteps.includes(s));
  });

  it('live migration: a kill at each step', async (t) => {
    await walk(t, 'live', 'confirm', 'lm');
  });
});
