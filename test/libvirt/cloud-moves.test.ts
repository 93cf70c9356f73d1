// The moves through the whole cloud on real QEMU guests: the all-in-one in this process runs two
// libvirt computes, the first on host A (the machine's libvirtd), the second on host B (the
// second libvirtd of support/two-hosts.ts, through its `[libvirt@<host>]` section). One guest,
// two boots: it is live-migrated to the other host through the API (heartbeats go on, its boot
// count stays), then resized to a bigger flavor and confirmed (it boots on the other host again,
// with its disk token). After each move placement holds exactly its flavor on its new node and
// nothing of it is left on the host it left; the moves are instance actions whose events succeeded.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { LIBVIRT_URI } from './support/libvirt.js';
import { removeDomainsAt } from './support/move-hosts.js';
import { buildTestImage } from './support/test-image.js';
import { startHostB, twoHostsSkip, type LibvirtHostB } from './support/two-hosts.js';

const skip = twoHostsSkip();
/** A TCG boot takes 12-15 s alone; other engineers' tests share the two cores. */
const BOOT_MS = 240_000;
const MV = { 'openstack-api-version': 'compute 2.80' };
const PLACEMENT = { 'openstack-api-version': 'placement 1.14' };

interface Host { name: string; uri: string; instancesPath: string }

describe('moves through the whole cloud on two libvirt hosts (real guests)', { skip, timeout: 30 * 60_000 }, () => {
  const tag = randomBytes(3).toString('hex');
  let hostB: LibvirtHostB;
  let hosts: Record<string, Host>;
  let cloud: TestCloud;
  let admin: Session;
  let id = '';
  let token = '';
  const compute = (path: string) => `${cloud.urls.compute}/v2.1${path}`;
  const show = async () => (await api(admin, 'GET', compute(`/servers/${id}`), undefined, MV)).body.server;
  const act = (body: unknown) => api(admin, 'POST', compute(`/servers/${id}/action`), body, MV);
  const consoleText = async (): Promise<string> => {
    const r = await act({ 'os-getConsoleOutput': {} });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return String(r.body.output);
  };
  const beats = (text: string) => [...text.matchAll(/orrery-guest: heartbeat (\d+)/g)].map((m) => Number(m[1]));
  const boots = (text: string) => [...text.matchAll(/orrery-guest: boot (\d+)/g)].map((m) => Number(m[1]));
  const until = (status: string, ms = BOOT_MS) => waitFor(`server ${status}`, async () => {
    const s = await show();
    if (s.status === 'ERROR') throw new Error(`the server went to ERROR: ${JSON.stringify(s.fault)}`);
    return s.status === status && s['OS-EXT-STS:task_state'] === null ? s : undefined;
  }, ms);

  /** Domains and files of the guest on `h`: its libvirt domain, its instance directory (disks, console log), resize leftovers. */
  const leftovers = (h: Host): string[] => {
    const domains = execFileSync('virsh', ['-q', '-c', h.uri, 'list', '--all', '--name'], { encoding: 'utf8' })
      .split('\n').map((s) => s.trim()).filter((n) => n.includes(id));
    const files = existsSync(h.instancesPath) ? readdirSync(h.instancesPath).filter((f) => f.startsWith(id)) : [];
    return [...domains.map((d) => `domain ${d}`), ...files.map((f) => `instance files ${f}`)];
  };

  /** The guest's allocations: provider name → resources (exactly one provider once a move is done). */
  const allocations = async (): Promise<Record<string, Record<string, number>>> => {
    const r = await api(admin, 'GET', `${cloud.urls.placement}/allocations/${id}`, undefined, PLACEMENT);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const out: Record<string, Record<string, number>> = {};
    for (const [rp, a] of Object.entries(r.body.allocations as Record<string, { resources: Record<string, number> }>)) {
      const p = await api(admin, 'GET', `${cloud.urls.placement}/resource_providers/${rp}`, undefined, PLACEMENT);
      out[String(p.body.name)] = a.resources;
    }
    return out;
  };

  const upload = async (name: string, file: string, fields: Record<string, string>): Promise<string> => {
    const r = await api(admin, 'POST', `${cloud.urls.image}/v2/images`, { name, visibility: 'public', ...fields });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const put = await api(admin, 'PUT', `${cloud.urls.image}/v2/images/${r.body.id}/file`, readFileSync(file), { 'content-type': 'application/octet-stream' });
    assert.equal(put.status, 204, JSON.stringify(put.body));
    return String(r.body.id);
  };

  before(async () => {
    hostB = await startHostB('hlc');
    const dirOf = (name: string) => {
      const d = join(hostB.scratch, name, 'instances');
      mkdirSync(d, { recursive: true, mode: 0o755 });
      chmodSync(join(hostB.scratch, name), 0o755); // QEMU runs as libvirt-qemu and must reach the instance files
      chmodSync(d, 0o755);
      return d;
    };
    const [h1, h2] = [`lc1-${tag}`, `lc2-${tag}`];
    hosts = {
      [h1]: { name: h1, uri: LIBVIRT_URI, instancesPath: dirOf(h1) },
      [h2]: { name: h2, uri: hostB.uri, instancesPath: dirOf(h2) },
    };
    const common = { virt_type: 'qemu', image_cache_manager_interval: '0', shutdown_timeout: '30', wait_soft_reboot_seconds: '60' };
    cloud = await startTestCloud({
      DEFAULT: { compute_driver: 'libvirt', compute_hosts: `${h1},${h2}` },
      libvirt: {
        ...common, connection_uri: LIBVIRT_URI, live_migration_uri: LIBVIRT_URI, migration_address: hostB.peerAddress,
        instances_path: hosts[h1]!.instancesPath,
      },
      [`libvirt@${h2}`]: {
        connection_uri: hostB.uri, live_migration_uri: hostB.uri, migration_address: hostB.address, instances_path: hosts[h2]!.instancesPath,
      },
    });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    const files = buildTestImage();
    const kernel = await upload('lc-kernel', files.kernel, { disk_format: 'aki', container_format: 'aki' });
    const ramdisk = await upload('lc-ramdisk', files.ramdisk, { disk_format: 'ari', container_format: 'ari' });
    const image = await upload('lc-guest', files.disk, {
      disk_format: 'ami', container_format: 'ami', kernel_id: kernel, ramdisk_id: ramdisk, os_command_line: 'console=ttyS0 quiet orrery.heartbeat=1',
    });
    for (const [name, ram, vcpus, disk] of [['lc.small', 128, 1, 1], ['lc.big', 192, 2, 2]] as const) {
      const f = await api(admin, 'POST', compute('/flavors'), { flavor: { name, id: name, ram, vcpus, disk } }, MV);
      assert.equal(f.status, 200, JSON.stringify(f.body));
    }
    const r = await api(admin, 'POST', compute('/servers'), { server: { name: 'lc-vm', imageRef: image, flavorRef: 'lc.small', networks: 'none' } }, MV);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    id = r.body.server.id;
  });

  after(async () => {
    if (id && cloud) {
      await api(admin, 'DELETE', compute(`/servers/${id}`)).catch(() => undefined);
      await waitFor('the server deleted', async () => ((await api(admin, 'GET', compute(`/servers/${id}`))).status === 404 ? true : undefined), 120_000)
        .catch(() => undefined);
    }
    await cloud?.close();
    for (const h of Object.values(hosts ?? {})) removeDomainsAt(h.uri, h.name);
    hostB?.stop();
  });

  it('live-migrates the running guest (os-migrateLive, block_migration auto): heartbeats go on, no reboot, completed, nothing left on the source', async (t) => {
    const s = await until('ACTIVE');
    const from = String(s['OS-EXT-SRV-ATTR:host']);
    const before = await waitFor('the guest to boot and beat', async () => {
      const text = await consoleText();
      return beats(text).length >= 3 ? text : undefined;
    }, BOOT_MS);
    assert.deepEqual(boots(before), [1], 'its first boot');
    token = /token written ([0-9a-f]{32})/.exec(before)?.[1] ?? '';
    assert.ok(token, 'the guest wrote its disk token');

    const t0 = Date.now();
    const res = await act({ 'os-migrateLive': { host: null, block_migration: 'auto' } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const moved = await until('ACTIVE', 180_000);
    const seconds = (Date.now() - t0) / 1000;
    const to = String(moved['OS-EXT-SRV-ATTR:host']);
    assert.notEqual(to, from, 'on the other host');
    assert.ok(hosts[to], `moved to a host of this test (${to})`);

    // The console through the API is the destination's now: the beats go on from where they were.
    const lastBefore = Math.max(...beats(before));
    const afterText = await waitFor('heartbeats on the new host', async () => {
      const text = await consoleText();
      return beats(text).length >= 3 ? text : undefined;
    }, 60_000);
    const onNew = beats(afterText);
    assert.deepEqual(boots(afterText), [], 'no boot on the new host: the guest did not restart');
    // A restarted guest would count from 1 again; beats printed on the source during the copy
    // went with its console log, so the first one here is at most the move's duration later.
    const gap = onNew[0]! - lastBefore;
    assert.ok(gap >= 1 && gap <= Math.ceil(seconds) + 2, `heartbeats continue (…${lastBefore} before, ${onNew.slice(0, 5).join(',')}… after, ${seconds.toFixed(1)} s)`);
    for (let i = 1; i < onNew.length; i++) assert.equal(onNew[i], onNew[i - 1]! + 1, `heartbeats without a gap: ${onNew.join(',')}`);

    const migrations = await waitFor('the migration completed', async () => {
      const list = (await api(admin, 'GET', compute(`/os-migrations?instance_uuid=${id}`), undefined, MV)).body.migrations;
      return list?.[0]?.status === 'completed' ? list : undefined;
    }, 60_000);
    assert.equal(migrations.length, 1);
    assert.equal(migrations[0].migration_type, 'live-migration');
    assert.equal(migrations[0].source_compute, from);
    assert.equal(migrations[0].dest_compute, to);
    assert.deepEqual(await allocations(), { [to]: { VCPU: 1, MEMORY_MB: 128, DISK_GB: 1 } }, 'exactly its flavor on the new node');
    assert.deepEqual(leftovers(hosts[from]!), [], 'nothing of it left on the source (domain, disks, console log)');
    assert.ok(existsSync(join(hosts[to]!.instancesPath, id, 'disk')), 'its disk lives in the destination\'s instances_path');
    t.diagnostic(`live migration ${from} → ${to} through the API: ${seconds.toFixed(1)} s; heartbeat ${lastBefore} → ${onNew[0]}`);
  });

  it('resizes it to a bigger flavor across hosts (resize → VERIFY_RESIZE → confirmResize): it boots there with its disk token', async (t) => {
    assert.ok(token, 'the first test booted the guest');
    const from = String((await show())['OS-EXT-SRV-ATTR:host']);
    const t0 = Date.now();
    const res = await act({ resize: { flavorRef: 'lc.big' } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const verify = await until('VERIFY_RESIZE', BOOT_MS);
    const to = String(verify['OS-EXT-SRV-ATTR:host']);
    assert.notEqual(to, from, 'on the other host');
    assert.equal(verify.flavor.original_name, 'lc.big');
    const text = await waitFor('the guest to boot on the new host', async () => {
      const c = await consoleText();
      return /token found/.test(c) && boots(c).length > 0 ? c : undefined;
    }, BOOT_MS);
    assert.match(text, new RegExp(`token found ${token}`), 'the disk came along');
    assert.deepEqual(boots(text), [2], 'its second boot');
    const confirm = await act({ confirmResize: null });
    assert.equal(confirm.status, 204, JSON.stringify(confirm.body));
    await until('ACTIVE', 120_000);
    const seconds = (Date.now() - t0) / 1000;
    await waitFor('the migration confirmed', async () => {
      const list = (await api(admin, 'GET', compute(`/os-migrations?instance_uuid=${id}&migration_type=resize`), undefined, MV)).body.migrations;
      return list?.[0]?.status === 'confirmed' ? true : undefined;
    }, 60_000);
    assert.deepEqual(await allocations(), { [to]: { VCPU: 2, MEMORY_MB: 192, DISK_GB: 2 } }, 'exactly the new flavor on the new node');
    // The confirm's source clean-up runs after the API answers: wait for it, briefly.
    const left = await waitFor('the source cleaned', async () => (leftovers(hosts[from]!).length === 0 ? [] : undefined), 30_000)
      .catch(() => leftovers(hosts[from]!));
    assert.deepEqual(left, [], 'nothing of it left on the source');
    const h = hosts[to]!;
    const xml = execFileSync('virsh', ['-q', '-c', h.uri, 'dumpxml', `orrery-${to}-${id}`], { encoding: 'utf8' });
    assert.match(xml, /<vcpu[^>]*>2<\/vcpu>/, 'the new flavor\'s vCPUs');
    assert.match(xml, /<memory unit='KiB'>196608<\/memory>/, 'the new flavor\'s memory');
    const disk = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', join(h.instancesPath, id, 'disk')], { encoding: 'utf8' })) as
      { 'virtual-size': number };
    assert.equal(disk['virtual-size'], 2 * 1024 ** 3, 'the root disk grew to the new flavor\'s 2 GiB');
    // The disk went through a transfer image: gone once the move finished.
    const transfer = await api(admin, 'GET', `${cloud.urls.image}/v2/images?os_hidden=true`);
    assert.equal(transfer.status, 200, JSON.stringify(transfer.body));
    assert.deepEqual((transfer.body.images as Array<{ name: string }>).map((i) => i.name).filter((n) => n.startsWith('migration-')), [], 'no transfer image left');
    t.diagnostic(`resize ${from} → ${to} (+confirm, one boot): ${seconds.toFixed(1)} s`);
  });

  it('records the moves as instance actions whose events all succeeded', async () => {
    const list = (await api(admin, 'GET', compute(`/servers/${id}/os-instance-actions`), undefined, MV)).body.instanceActions as
      Array<{ action: string; request_id: string }>;
    assert.deepEqual(list.map((a) => a.action).sort(), ['confirmResize', 'create', 'live-migration', 'resize']);
    const live = list.find((a) => a.action === 'live-migration')!;
    const shown = await api(admin, 'GET', compute(`/servers/${id}/os-instance-actions/${live.request_id}`), undefined, MV);
    const events = shown.body.instanceAction.events as Array<{ event: string; result: string }>;
    assert.ok(events.some((e) => e.event === 'compute_live_migration'), JSON.stringify(events));
    for (const e of events) assert.equal(e.result, 'Success', `${e.event}: ${e.result}`);
  });

  it('deletes the server: nothing of it on either host, no allocation left', async () => {
    assert.equal((await api(admin, 'DELETE', compute(`/servers/${id}`))).status, 204);
    await waitFor('the server deleted', async () => ((await api(admin, 'GET', compute(`/servers/${id}`))).status === 404 ? true : undefined), 120_000);
    for (const h of Object.values(hosts)) assert.deepEqual(leftovers(h), [], `nothing left on ${h.name}`);
    assert.deepEqual(await allocations(), {});
  });
});
