/**
 * Contract 1.2's live migration for libvirt: `virsh migrate --live --persistent
 * --undefinesource` to the destination's libvirtd, the guest renamed to the destination host's
 * domain name (--dname). Without shared storage (the usual case) it is a block migration
 * (--copy-storage-all): the destination makes empty disks of the same sizes in its own
 * instance directory, and the source hands libvirt a destination XML (--xml) whose file paths
 * (disks, console log, kernel, ramdisk) are the destination's. With a shared instances_path
 * (the destination already sees the instance's directory) only the memory moves.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  abortError, InstanceExists, InstanceNotFound, InvalidState, MigrationFailed, PowerState,
  type CallOptions, type InstanceInfo, type LiveMigrationRequest, type LiveMigrationTarget, type MoveProgress,
  type MoveRef, type PreLiveMigrationRequest, type InstanceSpec,
} from '@orrery/virt-api';
import { memoryOf, prepareBootFiles, prepareImages, rootDiskSize } from './build.js';
import { escapeXml } from './domain-xml.js';
import { CommandError } from './exec.js';
import { GiB, MiB, messageOf, sleep, type InstanceRecord, type LibvirtHost } from './host.js';
import { ensureBridges } from './vifs.js';
import type { MoveRecords } from './move-records.js';
import { createBlank } from './qemu-img.js';

/** How often domjobinfo is read while a migration runs. */
const PROGRESS_MS = 500;
/** The downtime a forced migration may take (QEMU's limit is 2000 s). */
const FORCED_DOWNTIME_MS = 60_000;

/** The fields of `virsh domjobinfo --rawstats` a MoveProgress is made of (bytes). */
export function parseJobStats(out: string): Record<string, number> {
  const stats: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const m = /^\s*([a-z_]+)\s*:\s*(\d+)\s*$/.exec(line);
    if (m) stats[m[1]!] = Number(m[2]);
  }
  return stats;
}

function progressOf(stats: Record<string, number>, memoryTotal: number): MoveProgress {
  const n = (k: string) => (Number.isFinite(stats[k]) ? stats[k]! : 0);
  return {
    memoryTotal: n('memory_total') || memoryTotal, memoryProcessed: n('memory_processed'),
    memoryRemaining: stats['memory_remaining'] ?? memoryTotal,
    diskTotal: n('disk_total'), diskProcessed: n('disk_processed'), diskRemaining: n('disk_remaining'),
  };
}

export class LiveMoves {
  /** Migrations under way here (source side), by migration id. */
  readonly #live = new Map<string, { uuid: string; promise: Promise<void> }>();

  constructor(private readonly h: LibvirtHost, private readonly records: MoveRecords) {}

  async preLiveMigration(req: PreLiveMigrationRequest, _opts?: CallOptions): Promise<LiveMigrationTarget> {
    const h = this.h;
    const { move, instance: spec, blockMigration } = req;
    const cfg = h.requireCfg();
    if (spec.node !== h.nodeName) throw new InstanceNotFound(`node ${spec.node} is not managed by this driver`);
    return h.locked(spec.uuid, async () => {
      const done = await this.records.get(move.migrationId, 'live-dest');
      if (done?.target) return done.target;
      if (await h.exists(spec.uuid)) throw new InstanceExists(`instance ${spec.uuid} is already on node ${spec.node}`);
      memoryOf(h, spec);
      // The guest arrives with its NICs: their bridges must be here (contract 1.3 ports).
      await ensureBridges(h, spec.network.ports);
      const boot = await prepareBootFiles(h, spec.image);
      const dir = h.instanceDir(spec.uuid);
      // The instance's directory is already there: instances_path is shared with the source.
      const shared = existsSync(join(dir, 'orrery.json'));
      const created: string[] = [];
      if (!shared) {
        await mkdir(dir, { recursive: true, mode: 0o755 });
        created.push(dir);
        if (blockMigration) await this.#emptyDisks(spec, dir);
      }
      const target: LiveMigrationTarget = {
        node: h.nodeName,
        data: {
          uri: cfg.migrationUri, migrateUri: `tcp://${cfg.migrationAddress}`, domainName: h.domainName(spec.uuid), host: h.ctx!.host,
          instanceDir: dir, kernel: boot.kernel ?? '', ramdisk: boot.ramdisk ?? '',
        },
      };
      await this.records.put({
        migrationId: move.migrationId, role: 'live-dest', uuid: spec.uuid, state: 'prepared', shared, target, created,
        images: [spec.image.id, ...boot.ids], rootGb: spec.flavor.rootGb,
      });
      return target;
    });
  }

  /** Empty disks of the sizes the source made them (the flavor's), to receive a block migration. */
  async #emptyDisks(spec: InstanceSpec, dir: string): Promise<void> {
    const root = spec.flavor.rootGb > 0 ? spec.flavor.rootGb * GiB : rootDiskSize(spec, await prepareImages(this.h, spec.image));
    await createBlank(join(dir, 'disk'), 'qcow2', root);
    if (spec.flavor.ephemeralGb > 0) await createBlank(join(dir, 'disk.eph0'), 'qcow2', spec.flavor.ephemeralGb * GiB);
    if (spec.flavor.swapMb > 0) await createBlank(join(dir, 'disk.swap'), 'raw', spec.flavor.swapMb * MiB);
  }

  async liveMigration(req: LiveMigrationRequest, opts?: CallOptions): Promise<void> {
    const h = this.h;
    const { move } = req;
    h.requireVirsh();
    if (await this.records.get(move.migrationId, 'live-source')) return; // done already
    const under = this.#live.get(move.migrationId);
    if (under) return under.promise;
    const promise = h.locked(move.instance.uuid, () => this.#migrate(req, opts)).finally(() => this.#live.delete(move.migrationId));
    this.#live.set(move.migrationId, { uuid: move.instance.uuid, promise });
    return promise;
  }

  async #migrate(req: LiveMigrationRequest, opts?: CallOptions): Promise<void> {
    const h = this.h;
    const { move, target, blockMigration } = req;
    const { uuid } = move.instance;
    const signal = opts?.signal;
    const st = await h.status(move.instance);
    if (st.powerState !== PowerState.RUNNING) throw new InvalidState(`cannot live-migrate instance ${uuid}: it is ${st.state}`);
    const d = target.data;
    for (const k of ['uri', 'migrateUri', 'domainName', 'instanceDir', 'host']) {
      if (typeof d[k] !== 'string' || d[k] === '') throw new MigrationFailed(`live migration target of ${uuid} lacks ${k}`);
    }
    const dir = h.instanceDir(uuid);
    const shared = d['instanceDir'] === dir;
    if (!shared && !blockMigration) {
      throw new MigrationFailed(`the destination ${target.node} does not share this host's instances_path: only a block migration can move ${uuid}`);
    }
    const name = h.domainName(uuid);
    const xmlFile = await this.records.scratch(move.migrationId, 'xml');
    await writeFile(xmlFile, destinationXml(await h.virshOn(uuid, ['dumpxml', '--migratable', name]), {
      host: d['host']!, fromHost: h.ctx!.host,
      paths: shared ? [] : [[dir, d['instanceDir']!], ...bootPaths(await h.virshOn(uuid, ['dumpxml', name]), d)],
    }));
    const maxKiB = /^Max memory:\s*(\d+)\s*KiB/m.exec(await h.virshOn(uuid, ['dominfo', name]))?.[1];
    const memoryTotal = maxKiB ? Number(maxKiB) * 1024 : 0;
    let last = progressOf({}, memoryTotal);
    opts?.onProgress?.(last);
    try {
      if (signal?.aborted) throw abortError(signal);
      const args = [
        // Shared: libvirt cannot tell a shared local directory from a private one and calls it
        // unsafe; this driver checked the destination sees the instance's directory (preLiveMigration).
        'migrate', '--live', '--persistent', '--undefinesource', ...(shared ? ['--unsafe'] : ['--copy-storage-all']),
        '--xml', xmlFile, '--dname', d['domainName']!, name, d['uri']!, '--migrateuri', d['migrateUri']!,
      ];
      let finished = false;
      const migrating = h.virsh!.run(args, { timeoutMs: h.cfg!.liveMigrationTimeout * 1000 }).finally(() => (finished = true));
      migrating.catch(() => undefined);
      let aborted = false;
      // Sent again at every poll: an abort that came before libvirt started the job finds none to abort.
      const abortJob = () => h.virsh!.run(['domjobabort', name]).catch(() => undefined);
      const onAbort = () => {
        aborted = true;
        void abortJob();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        while (!finished) {
          await sleep(PROGRESS_MS);
          if (finished) break;
          if (aborted) await abortJob();
          const out = await h.virsh!.run(['domjobinfo', '--rawstats', name]).catch(() => '');
          const stats = parseJobStats(out);
          if (stats['memory_total'] !== undefined && !finished) {
            last = progressOf(stats, memoryTotal);
            opts?.onProgress?.(last);
          }
        }
        await migrating;
      } catch (err) {
        if (aborted || signal?.aborted) throw abortError(signal!);
        // A virsh that timed out or died may leave the job running in libvirtd: end it.
        await h.virsh!.run(['domjobabort', name]).catch(() => undefined);
        const why = err instanceof CommandError ? err.stderr.trim() || err.message : messageOf(err);
        throw new MigrationFailed(`live migration of ${uuid} to ${target.node} failed: ${why}`, { cause: err });
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
      if (aborted || signal?.aborted) {
        // Too late: the guest runs there now. The migration is done, as the caller will find.
        h.ctx!.log.warn('live migration finished before its abort reached libvirt', { instance: uuid });
      }
      // The last report: nothing remaining, so every page and block went at least once (the last
      // poll may have fallen before the memory phase). The destination's completed job
      // statistics would say more, but reading them removes them, and they count no disk.
      opts?.onProgress?.({
        ...last, memoryProcessed: Math.max(last.memoryProcessed, last.memoryTotal), memoryRemaining: 0,
        diskProcessed: Math.max(last.diskProcessed, last.diskTotal), diskRemaining: 0,
      });
      h.known.delete(uuid);
      await this.records.put({ migrationId: move.migrationId, role: 'live-source', uuid, state: 'migrated', shared });
    } finally {
      await rm(xmlFile, { force: true });
    }
  }

  async liveMigrationForceComplete(move: MoveRef): Promise<void> {
    const h = this.h;
    h.requireVirsh();
    const under = this.#live.get(move.migrationId);
    if (under) {
      // The guest may stop as long as the rest takes to send: the next pass completes. Chosen over
      // pausing the source (virsh suspend), which leaves the guest paused on the destination
      // where resuming reopens its disks, and over post-copy, which a block migration cannot use.
      await h.virsh!.run(['migrate-setmaxdowntime', h.domainName(under.uuid), String(FORCED_DOWNTIME_MS)]).catch((err: unknown) =>
        h.ctx!.log.info('force-complete: the migration finished meanwhile', { err: messageOf(err) }));
      return;
    }
    if (await this.records.get(move.migrationId, 'live-source')) return; // finished already
    throw new InvalidState(`no live migration ${move.migrationId} of ${move.instance.uuid} is under way here`);
  }

  async postLiveMigrationAtDestination(move: MoveRef): Promise<InstanceInfo> {
    const h = this.h;
    h.requireVirsh();
    const { uuid } = move.instance;
    return h.locked(uuid, async () => {
      let st = await h.status(move.instance).catch(() => {
        throw new InstanceNotFound(`instance ${uuid} did not arrive on node ${move.instance.node}`);
      });
      // Only a running guest migrates: paused here, it was paused to force the migration to complete.
      if (st.powerState === PowerState.PAUSED) {
        await h.virshOn(uuid, ['resume', h.domainName(uuid)]);
        st = await h.status(move.instance);
      }
      const rec = await this.records.get(move.migrationId, 'live-dest');
      const name = h.domainName(uuid);
      const dir = h.instanceDir(uuid);
      const info = await h.virshOn(uuid, ['dominfo', name]);
      if (!/^Persistent:\s*yes/m.test(info)) {
        await writeFile(join(dir, 'libvirt.xml'), await h.virshOn(uuid, ['dumpxml', name]));
        await h.virshOn(uuid, ['define', join(dir, 'libvirt.xml')]);
      } else {
        await writeFile(join(dir, 'libvirt.xml'), await h.virshOn(uuid, ['dumpxml', '--inactive', name]));
      }
      if (rec) {
        const record: InstanceRecord = { uuid, host: h.ctx!.host, images: rec.images ?? [], rootGb: rec.rootGb };
        await writeFile(join(dir, 'orrery.json'), `${JSON.stringify(record)}\n`);
        await this.records.delete(move.migrationId, 'live-dest');
      }
      h.transition(uuid, st.powerState);
      return { uuid, node: h.nodeName, powerState: st.powerState };
    });
  }

  async postLiveMigrationAtSource(move: MoveRef): Promise<void> {
    const h = this.h;
    h.requireVirsh();
    const { uuid } = move.instance;
    await h.locked(uuid, async () => {
      const rec = await this.records.get(move.migrationId, 'live-source');
      if (!rec) return; // done already (or never migrated: nothing of ours to remove)
      if (await h.exists(uuid)) await h.undefine(uuid);
      if (!rec.shared) await rm(h.instanceDir(uuid), { recursive: true, force: true });
      await this.records.delete(move.migrationId, 'live-source');
    });
  }

  async rollbackLiveMigrationAtDestination(move: MoveRef): Promise<void> {
    const h = this.h;
    h.requireVirsh();
    const { uuid } = move.instance;
    await h.locked(uuid, async () => {
      const rec = await this.records.get(move.migrationId, 'live-dest');
      if (!rec) return;
      for (const p of rec.created ?? []) await rm(p, { recursive: true, force: true });
      await this.records.delete(move.migrationId, 'live-dest');
    });
  }
}

/** The kernel and ramdisk paths of the source's definition, paired with the destination's. */
function bootPaths(xml: string, d: Record<string, string>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const kernel = /<kernel>([^<]+)<\/kernel>/.exec(xml)?.[1];
  const initrd = /<initrd>([^<]+)<\/initrd>/.exec(xml)?.[1];
  if (kernel && d['kernel']) out.push([unescapeXml(kernel), d['kernel']]);
  if (initrd && d['ramdisk']) out.push([unescapeXml(initrd), d['ramdisk']]);
  return out;
}

const unescapeXml = (s: string) =>
  s.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]!);

/**
 * The definition the destination gets: its host in the metadata, and (block
 * migration) its paths in place of the source's; the disks' backing chains are the source's
 * business (the copy is flattened), so they go.
 */
export function destinationXml(xml: string, o: { host: string; fromHost: string; paths: Array<[string, string]> }): string {
  // The name stays the source's here: libvirt renames the guest itself (--dname).
  let out = xml.replace(`<orrery:host>${escapeXml(o.fromHost)}</orrery:host>`, `<orrery:host>${escapeXml(o.host)}</orrery:host>`);
  if (o.paths.length > 0) {
    for (const [from, to] of o.paths) out = out.split(escapeXml(from)).join(escapeXml(to));
    out = out.replace(/<backingStore[\s\S]*?<\/backingStore>\s*/g, '').replace(/<backingStore\/>\s*/g, '');
  }
  return out;
}
