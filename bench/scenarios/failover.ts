import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { MultiProcess } from '../../harness/multi-process.js';
import { createDatabase } from '../../harness/postgres.js';
import { cleanEnv, credentialsFromOpenrc, multiProcess, SCALE_OUT_BACKENDS } from '../deployments.js';
import { HttpClient } from '../http.js';
import { OpenStackSession } from '../openstack.js';
import type { ProgressSink } from '../progress.js';
import { round } from '../stats.js';

/**
 * Failover (issue #11): three compute processes over one fake cluster of shared nodes, on the
 * multi-process deployment (PostgreSQL, RabbitMQ). One compute is killed with SIGKILL; measured:
 * the time until every node is owned by a live compute again, the time until a reboot sent at
 * the kill to a server on one of its nodes has finished (the message waits in the node's queue
 * for the new owner), and, once it is restarted, the fraction of nodes that move (the ring's
 * stability: about 1/3 is the floor for three computes).
 */

export interface FailoverOptions {
  nodes: number;
  reportIntervalS: number;
  serviceDownTimeS: number;
}

export interface FailoverResult {
  skipped: string | null;
  nodes: number;
  computes: number;
  reportIntervalS: number;
  serviceDownTimeS: number;
  /** Nodes the killed compute owned. */
  victimNodes: number;
  /** kill -9 → no node owned by the killed compute (seconds). */
  everyNodeServedS: number | null;
  /** kill -9 → the reboot sent at the kill to a server on a moved node finished ACTIVE (seconds). */
  firstRebootS: number | null;
  /** Nodes that moved when the killed compute came back, over all nodes. */
  movedOnRejoin: number | null;
  /** The rejoined compute's share of the nodes: what a perfect ring moves (everything else stays). */
  rejoinerShare: number | null;
}

const HOSTS = ['compute1', 'compute2', 'compute3'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean>, ms: number, pollMs = 100): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`failover: timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(pollMs);
  }
}

export async function runFailover(o: FailoverOptions, progress: ProgressSink): Promise<FailoverResult> {
  const base = { nodes: o.nodes, computes: HOSTS.length, reportIntervalS: o.reportIntervalS, serviceDownTimeS: o.serviceDownTimeS };
  const reason = await multiProcess.unavailable();
  if (reason) {
    progress.note(`failover: skipped: ${reason}`);
    return { ...base, skipped: reason, victimNodes: 0, everyNodeServedS: null, firstRebootS: null, movedOnRejoin: null, rejoinerShare: null };
  }
  const tag = randomBytes(4).toString('hex');
  const db = await createDatabase(SCALE_OUT_BACKENDS.postgres, `orrery_bench_fo_${tag}`);
  let d: MultiProcess | null = null;
  const sql = new pg.Client({ connectionString: db.url });
  const bar = progress.start('failover', 4);
  try {
    d = await MultiProcess.launch({
      brokerUrl: SCALE_OUT_BACKENDS.rabbit, vhost: `orrery-bench-fo-${tag}`, databaseUrl: db.url, conductors: 1, schedulers: 1,
      computes: HOSTS.map((host) => ({ host })),
      ini: [{
        DEFAULT: { report_interval: String(o.reportIntervalS), service_down_time: String(o.serviceDownTimeS), sync_power_state_interval: '600' },
        identity: { password_hash_cost: '1024', password_hash_rounds: '1000' },
        compute: { node_refresh_interval: String(o.reportIntervalS) },
        fake: { cluster: 'bench', nodes: String(o.nodes), node_name_prefix: 'bm', vcpus: '4', memory_mb: '4096', disk_gb: '40', resources: 'CUSTOM_BAREMETAL_SMALL=1' },
      }],
      env: cleanEnv(), logToFiles: true,
    });
    await sql.connect();
    const owners = async (): Promise<Map<string, string>> =>
      new Map((await sql.query<{ node_uuid: string; owner_host: string }>('SELECT node_uuid, owner_host FROM node_owners')).rows.map((r) => [r.node_uuid, r.owner_host]));
    const ownedBy = (m: Map<string, string>, host: string) => [...m].filter(([, h]) => h === host).map(([u]) => u);
    await until('every node to have an owner', async () => {
      const m = await owners();
      return m.size === o.nodes && HOSTS.every((h) => ownedBy(m, h).length > 0);
    }, 60_000);
    bar.update(1, 'deployed');

    const s = await OpenStackSession.login(new HttpClient(8), credentialsFromOpenrc(d.openrc));
    await s.setQuota({ instances: 50, cores: 200, ram: 200_000 });
    const image = await s.findImage('orrery-tiny');
    const victimNodes = ownedBy(await owners(), 'compute3');
    const node = (await sql.query<{ hypervisor_hostname: string }>('SELECT hypervisor_hostname FROM compute_nodes WHERE uuid = $1', [victimNodes[0]])).rows[0]!.hypervisor_hostname;
    const created = await s.computeOk<{ server: { id: string } }>([202], 'POST', '/servers', {
      server: { name: 'failover-probe', imageRef: image, flavorRef: '1', networks: 'none', availability_zone: `nova:compute3:${node}` },
    });
    const id = created.body.server.id;
    const settled = async (status: string) => {
      const v = (await s.computeOk<{ server: { status: string; 'OS-EXT-STS:task_state': string | null } }>([200], 'GET', `/servers/${id}`)).body.server;
      return v.status === status && !v['OS-EXT-STS:task_state'];
    };
    await until('the probe server to be ACTIVE', () => settled('ACTIVE'), 60_000);
    bar.update(2, 'probe server ACTIVE');

    const t0 = performance.now();
    await d.service('compute3').stop('SIGKILL');
    await s.computeOk([202], 'POST', `/servers/${id}/action`, { reboot: { type: 'SOFT' } });
    let served: number | null = null;
    let rebooted: number | null = null;
    await until('the nodes to be served and the reboot done', async () => {
      if (served === null && ownedBy(await owners(), 'compute3').length === 0) served = (performance.now() - t0) / 1000;
      // The reboot's task state is set by the API at once and cleared by the node's new owner.
      if (rebooted === null && (await settled('ACTIVE'))) rebooted = (performance.now() - t0) / 1000;
      return served !== null && rebooted !== null;
    }, 120_000);
    bar.update(3, `served after ${round(served!, 1)} s`);

    const survivors = await owners();
    await d.service('compute3').start();
    await until('compute3 to own nodes again', async () => ownedBy(await owners(), 'compute3').length > 0, 60_000);
    await sleep(3 * o.reportIntervalS * 1000);
    const back = await owners();
    const moved = [...back].filter(([u, h]) => survivors.get(u) !== h).length;
    bar.finish(`${moved} of ${o.nodes} moved on rejoin`);
    return {
      ...base, skipped: null, victimNodes: victimNodes.length,
      everyNodeServedS: round(served!, 2), firstRebootS: round(rebooted!, 2), movedOnRejoin: round(moved / o.nodes, 3),
      rejoinerShare: round(ownedBy(back, 'compute3').length / o.nodes, 3),
    };
  } finally {
    await sql.end().catch(() => undefined);
    await d?.stop();
    await db.drop().catch(() => undefined);
  }
}
