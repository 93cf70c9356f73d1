/**
 * The scheduler-scale scenario's child process: builds a database of fake nodes, starts the
 * scheduler on an in-process bus and asks it, through its RPC API, for destinations. Runs in
 * its own process so that its memory and CPU are its own. Input: one JSON argument
 * (SchedulerJob); output: one IPC message (SchedulerWorkerResult).
 */
import SQLite from 'better-sqlite3';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { capabilityTraits } from '@orrery/virt-api';
import { Config } from '../../src/common/config.js';
import { createLogger } from '../../src/common/logging.js';
import { newUuid } from '../../src/common/ids.js';
import { migrate, openDatabase } from '../../src/db/connection.js';
import type { Flavor, ImageMeta, RequestSpec } from '../../src/objects/compute.js';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';
import { systemContext } from '../../src/rpc/dispatch.js';
import { SchedulerRpcApi } from '../../src/rpc/scheduler-api.js';
import { SchedulerService } from '../../src/scheduler/scheduler.js';
import { readProc, resetPeak } from '../proc.js';
import { seededRandom } from '../stats.js';

export interface SchedulerJob {
  nodes: number;
  requests: number;
  seed: number;
  /** Stop asking after this many seconds (the rate is then from the decisions made). */
  budgetSeconds: number;
  dir: string;
}

export interface SchedulerWorkerResult {
  nodes: number;
  requested: number;
  /** Requests answered: placed, or refused with NoValidHost. */
  decisions: number;
  placed: number;
  noValidHost: number;
  seconds: number;
  /** Every decision's latency (ms), in order. */
  latencies: number[];
  buildSeconds: number;
  dbBytes: number;
  rssAfterBuildMb: number;
  peakRssMb: number;
  cpuSeconds: number;
  /** Whether the peak is the kernel's high-water mark (exact) or sampled. */
  exactPeak: boolean;
}

/** Zones: a quarter of the hosts in each of az1..az3 (aggregates), the rest in the default zone. */
export const ZONES = ['az1', 'az2', 'az3'];
/**
 * Node sizes: a 128-core, 512 GiB, 4 TB hypervisor. Allocation ratios are 1.0: the fill is
 * relative to capacity either way and no cost measured here depends on the ratio (and before
 * f68faec, claims computed capacity as total - reserved * ratio, which refused overcommit).
 */
const NODE = { VCPU: { total: 128, ratio: 1 }, MEMORY_MB: { total: 524288, ratio: 1 }, DISK_GB: { total: 4000, ratio: 1 } };
/** Traits beyond the fake driver's capability traits, and the share of nodes that have them. */
const EXTRA_TRAITS: Array<[string, number]> = [['HW_CPU_X86_AVX2', 0.7], ['CUSTOM_SSD', 0.4], ['CUSTOM_GPU', 0.05]];

/** Writes the nodes straight into the tables the compute services' reports fill, 70–95 % used. */
function buildNodes(path: string, nodes: number, rand: () => number): void {
  const db = new SQLite(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const ts = new Date().toISOString();
  // No compute service heartbeats here: every node's service counts as up for the whole run.
  const upUntil = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
  const capTraits = capabilityTraits({
    pause: true, suspend: true, reboot: true, powerControl: true, rebuild: true, snapshot: true, consoleOutput: true,
    multiNode: true, imageFormats: ['raw', 'qcow2', 'ami', 'iso', 'vhd', 'vhdx', 'vmdk', 'vdi'], hypervisorType: 'fake',
  });
  const service = db.prepare(`INSERT INTO services (uuid, host, "binary", topic, disabled, forced_down, last_seen_up,
    report_count, version, created_at, updated_at, deleted) VALUES (?, ?, 'nova-compute', 'compute', 0, 0, ?, 1, '1.0', ?, ?, 0)`);
  const node = db.prepare(`INSERT INTO compute_nodes (uuid, host, hypervisor_hostname, hypervisor_type, hypervisor_version,
    host_ip, cpu_info, created_at, updated_at, deleted) VALUES (?, ?, ?, 'fake', 1000, '127.0.0.1', '{}', ?, ?, 0)`);
  const inventory = db.prepare(`INSERT INTO inventories (node_uuid, resource_class, total, reserved, min_unit, max_unit,
    step_size, allocation_ratio, used) VALUES (?, ?, ?, 0, 1, ?, 1, ?, ?)`);
  const trait = db.prepare('INSERT INTO node_traits (node_uuid, trait) VALUES (?, ?)');
  const aggregate = db.prepare('INSERT INTO aggregates (uuid, name, created_at, deleted) VALUES (?, ?, ?, 0)');
  const aggMeta = db.prepare(`INSERT INTO aggregate_metadata (aggregate_id, key, value) VALUES (?, 'availability_zone', ?)`);
  const aggHost = db.prepare('INSERT INTO aggregate_hosts (aggregate_id, host) VALUES (?, ?)');
  db.transaction(() => {
    const aggIds = ZONES.map((zone) => {
      const id = Number(aggregate.run(newUuid(), `${zone}-hosts`, ts).lastInsertRowid);
      aggMeta.run(id, zone);
      return id;
    });
    for (let i = 0; i < nodes; i++) {
      const host = `node-${String(i).padStart(6, '0')}`;
      const uuid = newUuid();
      service.run(newUuid(), host, upUntil, ts, ts);
      node.run(uuid, host, host, ts, ts);
      const fill = 0.7 + 0.25 * rand();
      for (const [rc, inv] of Object.entries(NODE)) {
        const capacity = inv.total * inv.ratio;
        const used = Math.floor(capacity * Math.min(0.95, Math.max(0.7, fill + 0.04 * (rand() - 0.5))));
        inventory.run(uuid, rc, inv.total, inv.total, inv.ratio, used);
      }
      for (const t of capTraits) trait.run(uuid, t);
      for (const [t, share] of EXTRA_TRAITS) if (rand() < share) trait.run(uuid, t);
      const zone = i % 4;
      if (zone < ZONES.length) aggHost.run(aggIds[zone]!, host);
    }
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

const FLAVORS: Array<{ flavor: Flavor; share: number }> = [
  { share: 0.5, flavor: flavor('m1.small', 1, 2048, 20) },
  { share: 0.35, flavor: flavor('m1.medium', 2, 4096, 40) },
  { share: 0.15, flavor: flavor('m1.large', 4, 8192, 80) },
];

function flavor(name: string, vcpus: number, memoryMb: number, rootGb: number): Flavor {
  return {
    flavorid: name, name, vcpus, memoryMb, rootGb, ephemeralGb: 0, swap: 0, rxtxFactor: 1, isPublic: true,
    disabled: false, description: null, extraSpecs: {},
  };
}

const IMAGE: ImageMeta = {
  id: newUuid(), name: 'bench', status: 'active', diskFormat: 'raw', containerFormat: 'bare', size: 8192,
  checksum: null, minDisk: 0, minRam: 0, properties: {},
};

/** The request mix: flavor sizes, a zone for half of them, required and forbidden traits for some. */
export function requestSpecs(count: number, rand: () => number): RequestSpec[] {
  const zones: Array<string | null> = [null, null, null, 'az1', 'az2', 'az3', 'nova'];
  return Array.from({ length: count }, () => {
    let r = rand();
    const f = FLAVORS.find((x) => (r -= x.share) < 0)?.flavor ?? FLAVORS[0]!.flavor;
    const extraSpecs: Record<string, string> = {};
    const t = rand();
    if (t < 0.25) extraSpecs['trait:CUSTOM_SSD'] = 'required';
    else if (t < 0.45) extraSpecs['trait:HW_CPU_X86_AVX2'] = 'required';
    else if (t < 0.55) {
      extraSpecs['trait:CUSTOM_SSD'] = 'required';
      extraSpecs['trait:HW_CPU_X86_AVX2'] = 'required';
    }
    if (rand() < 0.3) extraSpecs['trait:CUSTOM_GPU'] = 'forbidden';
    return {
      instanceUuids: [newUuid()], projectId: 'bench', userId: 'bench',
      flavor: { ...f, extraSpecs }, image: IMAGE,
      availabilityZone: zones[Math.floor(rand() * zones.length)]!,
      ignoreHosts: [], forceHost: null, forceNode: null, attempt: 0,
    };
  });
}

async function run(job: SchedulerJob): Promise<SchedulerWorkerResult> {
  const rand = seededRandom(job.seed);
  const path = join(job.dir, `scheduler-${job.nodes}.sqlite`);
  const url = `sqlite:///${path}`; // an absolute path: sqlite:////tmp/...
  const tb = performance.now();
  const setup = openDatabase(url);
  await migrate(setup);
  await setup.destroy();
  buildNodes(path, job.nodes, rand);
  const buildSeconds = (performance.now() - tb) / 1000;
  const specs = requestSpecs(job.requests, rand);

  const db = openDatabase(url);
  // Only the defaults: no file, no environment.
  const config = new Config({}, {});
  const log = createLogger('bench-scheduler', 'warn');
  const bus = new InProcessBus(log);
  const scheduler = new SchedulerService(db, config, log, 'bench-scheduler');
  await scheduler.start(bus);
  const api = new SchedulerRpcApi(bus, 600_000);

  const exactPeak = resetPeak(process.pid);
  const before = readProc(process.pid);
  const cpu0 = process.cpuUsage();
  let peakSampled = before?.rssBytes ?? 0;
  const sampler = setInterval(() => {
    peakSampled = Math.max(peakSampled, readProc(process.pid)?.rssBytes ?? 0);
  }, 250);
  const latencies: number[] = [];
  let placed = 0;
  let noValidHost = 0;
  const t0 = performance.now();
  const deadline = t0 + job.budgetSeconds * 1000;
  for (const spec of specs) {
    const t = performance.now();
    try {
      await api.selectDestinations(systemContext(), spec);
      placed++;
    } catch (err) {
      if (!(err instanceof Error) || !/No valid host/.test(err.message)) throw err;
      noValidHost++;
    }
    latencies.push(performance.now() - t);
    if (latencies.length % 50 === 0) process.send?.({ progress: latencies.length });
    if (performance.now() > deadline) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const cpu = process.cpuUsage(cpu0);
  const after = readProc(process.pid);
  await scheduler.stop();
  await bus.close();
  await db.destroy();
  const mb = (b: number): number => Math.round((b / 1024 / 1024) * 10) / 10;
  return {
    nodes: job.nodes, requested: job.requests, decisions: latencies.length, placed, noValidHost, seconds, latencies,
    buildSeconds, dbBytes: statSync(path).size,
    rssAfterBuildMb: mb(before?.rssBytes ?? 0),
    peakRssMb: mb(Math.max(peakSampled, exactPeak ? (after?.hwmBytes ?? 0) : 0, after?.rssBytes ?? 0)),
    cpuSeconds: Math.round(((cpu.user + cpu.system) / 1e6) * 100) / 100,
    exactPeak,
  };
}

if (process.env.ORRERY_BENCH_WORKER === 'scheduler' && process.send) {
  const job = JSON.parse(process.argv[2]!) as SchedulerJob;
  run(job).then(
    (result) => process.send!({ result }, () => process.exit(0)),
    (err: unknown) => process.send!({ error: err instanceof Error ? err.stack ?? err.message : String(err) }, () => process.exit(1)),
  );
}
