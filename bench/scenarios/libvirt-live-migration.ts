import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { InstanceSpec, MoveProgress } from '@orrery/virt-api';
import { moveImages, smallGuest, waitFor } from '../../test/libvirt/support/move-images.js';
import { startMoveHosts, type MoveHost } from '../../test/libvirt/support/move-hosts.js';
import { twoHostsSkip } from '../../test/libvirt/support/two-hosts.js';
import { silentProgress, type ProgressSink } from '../progress.js';
import { round, summarize, type LatencySummary as Summary } from '../stats.js';

/**
 * Live migration with the libvirt driver (issue #12): one 128 MiB TCG guest, printing a
 * heartbeat every second, block-migrated back and forth between two libvirt hosts on this
 * machine (test/libvirt/support/two-hosts.ts: host B is a second libvirtd in its own network
 * and mount namespaces, over a veth pair). Each migration runs the driver's four steps
 * (preLiveMigration on the destination, liveMigration on the source, then postLiveMigrationAt
 * Destination and AtSource); measured: the total time of the four, liveMigration alone, the
 * guest's downtime and the memory received as the destination's completed job statistics
 * count them, the disk bytes sent, and heartbeats lost over the run.
 */

export interface LibvirtLiveMigrationOptions {
  /** Migrations, alternating A→B and B→A. */
  migrations: number;
}

export interface LibvirtLiveMigrationResult {
  skipped: string | null;
  migrations: number;
  memoryMb: number;
  /** pre + live + post at destination + post at source, seconds. */
  totalS: Summary | null;
  /** liveMigration() alone, seconds. */
  migrateS: Summary | null;
  /** QEMU's downtime of each migration (ms), as the destination's completed job reports it; null where it did not. */
  downtimeMs: Summary | null;
  /** Bytes of memory received (the destination's count) and of disk sent (the last progress report) per migration. */
  memoryBytes: Summary | null;
  diskBytes: Summary | null;
  /** Heartbeats printed over the whole run, against the seconds it ran: a guest that stalled loses some. */
  heartbeats: { seen: number; gaps: number } | null;
}

const beats = (text: string) => [...text.matchAll(/orrery-guest: heartbeat (\d+)/g)].map((m) => Number(m[1]));

/** The destination's statistics of the migration that brought domain `name` to the libvirtd at `uri`: downtime (ms), memory received (bytes). */
function completedAt(uri: string, name: string): { downtime: number | null; memory: number | null } {
  try {
    const out = execFileSync('virsh', ['-q', '-c', uri, 'domjobinfo', '--completed', '--rawstats', name], { encoding: 'utf8' });
    const num = (k: string) => {
      const m = new RegExp(`^\\s*${k}\\s*:\\s*(\\d+)`, 'm').exec(out);
      return m ? Number(m[1]) : null;
    };
    return { downtime: num('downtime'), memory: num('memory_processed') };
  } catch {
    return { downtime: null, memory: null };
  }
}

export async function runLibvirtLiveMigration(o: LibvirtLiveMigrationOptions, progress: ProgressSink): Promise<LibvirtLiveMigrationResult> {
  const empty = { migrations: 0, memoryMb: 128, totalS: null, migrateS: null, downtimeMs: null, memoryBytes: null, diskBytes: null, heartbeats: null };
  let reason: string | false;
  try {
    reason = twoHostsSkip();
  } catch (err) {
    reason = err instanceof Error ? err.message : String(err);
  }
  if (reason) {
    progress.note(`libvirt live migration: skipped: ${reason}`);
    return { skipped: reason, ...empty };
  }
  const { images, root } = moveImages('console=ttyS0 quiet orrery.heartbeat=1');
  const hosts = await startMoveHosts(images);
  const bar = progress.start('libvirt live migration', o.migrations + 1);
  const total: number[] = [];
  const migrate: number[] = [];
  const downtime: number[] = [];
  const memory: number[] = [];
  const disk: number[] = [];
  const seen = new Set<number>();
  const collect = (h: MoveHost, s: InstanceSpec) => {
    try {
      for (const b of beats(readFileSync(join(h.instancesPath, s.uuid, 'console.log'), 'utf8'))) seen.add(b);
    } catch {
      // not there (yet)
    }
  };
  try {
    const s = smallGuest(hosts.a.name, root);
    await hosts.a.driver.spawn(s);
    await waitFor('the guest to boot', 300_000, async () => beats(await hosts.a.driver.getConsoleOutput({ uuid: s.uuid, node: s.node })).length >= 2);
    bar.update(1, 'booted');
    let [from, to] = [hosts.a, hosts.b];
    for (let i = 0; i < o.migrations; i++) {
      const id = randomUUID();
      const at = (h: MoveHost) => ({ instance: { uuid: s.uuid, node: h.name }, migrationId: id });
      const reports: MoveProgress[] = [];
      const t0 = performance.now();
      const target = await to.driver.preLiveMigration({ move: at(to), instance: { ...s, node: to.name }, blockMigration: true });
      const t1 = performance.now();
      await from.driver.liveMigration({ move: at(from), target, blockMigration: true }, { onProgress: (p) => reports.push(p) });
      const t2 = performance.now();
      collect(from, s);
      await to.driver.postLiveMigrationAtDestination(at(to));
      await from.driver.postLiveMigrationAtSource(at(from));
      total.push((performance.now() - t0) / 1000);
      migrate.push((t2 - t1) / 1000);
      const done = completedAt(to.uri, to.driver.domainName(s.uuid));
      if (done.downtime !== null) downtime.push(done.downtime);
      if (done.memory !== null) memory.push(done.memory);
      const last = reports.at(-1);
      if (last) disk.push(last.diskProcessed);
      bar.update(i + 2, `${from.name} → ${to.name}: ${round(migrate.at(-1)!, 2)} s`);
      // Let the guest beat a little on its new host before it moves again.
      await new Promise((r) => setTimeout(r, 2000));
      [from, to] = [to, from];
    }
    collect(from, s);
    await from.driver.destroy({ uuid: s.uuid, node: from.name });
    bar.finish();
    const sorted = [...seen].sort((x, y) => x - y);
    const gaps = sorted.length > 0 ? sorted.at(-1)! - sorted[0]! + 1 - sorted.length : 0;
    return {
      skipped: null, migrations: o.migrations, memoryMb: s.flavor.memoryMb,
      totalS: summarize(total), migrateS: summarize(migrate), downtimeMs: downtime.length > 0 ? summarize(downtime) : null,
      memoryBytes: memory.length > 0 ? summarize(memory) : null, diskBytes: disk.length > 0 ? summarize(disk) : null,
      heartbeats: { seen: sorted.length, gaps },
    };
  } finally {
    await hosts.stop();
    hosts.hostB.stop();
  }
}

/** The scenario's section of the bench report (markdown). */
export function libvirtLiveMigrationMarkdown(r: LibvirtLiveMigrationResult): string {
  const out = ['', '### libvirt live migration', ''];
  if (r.skipped) return [...out, `- skipped: ${r.skipped}`].join('\n');
  const fmt = (s: Summary | null, unit: string, scale = 1) =>
    (s ? `${round(s.p50 / scale, 2)} ${unit} (max ${round(s.max / scale, 2)})` : 'n/a');
  out.push(`${r.migrations} block migrations of one ${r.memoryMb} MiB TCG guest between two libvirt hosts on this machine ` +
    '(a second libvirtd in its own namespaces, over a veth pair); median (max).', '');
  out.push('| steps 1-4 | liveMigration() | downtime (QEMU) | memory received | disk sent | heartbeats lost |');
  out.push('|---|---|---|---|---|---|');
  out.push(`| ${fmt(r.totalS, 's')} | ${fmt(r.migrateS, 's')} | ${fmt(r.downtimeMs, 'ms')} | ${fmt(r.memoryBytes, 'MiB', 2 ** 20)} | ` +
    `${fmt(r.diskBytes, 'MiB', 2 ** 20)} | ${r.heartbeats ? `${r.heartbeats.gaps} of ${r.heartbeats.seen + r.heartbeats.gaps}` : 'n/a'} |`);
  return out.join('\n');
}

// Run on its own: node --import tsx bench/scenarios/libvirt-live-migration.ts [migrations]
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const migrations = Number(process.argv[2] ?? 4);
  const r = await runLibvirtLiveMigration({ migrations }, silentProgress);
  process.stdout.write(`${libvirtLiveMigrationMarkdown(r)}\n\n${JSON.stringify(r, null, 2)}\n`);
}
