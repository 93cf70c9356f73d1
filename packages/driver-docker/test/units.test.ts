// The Docker driver's pure parts, without a daemon: options, names, labels, limits, seed files,
// the tar writer, the log demultiplexer, cache tags and event mapping.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { imageTypeOf, PowerState, type InstanceSpec } from '@orrery/virt-api';
import {
  cacheTag, containerPrefix, demux, driverOptions, hostnameOf, LABEL, parseConfig, powerStateAfter, powerStateOf, SEED_DIR, tarOf,
} from '@orrery/driver-docker';
import { hostConfigOf, labelsOf, metadataOf, seedArchive } from '../src/container-spec.js';

const spec = (over: Partial<InstanceSpec> = {}): InstanceSpec => ({
  uuid: '3f0c9a4e-1111-4222-8333-444455556666', name: 'web 1', node: 'h', projectId: 'p', userId: 'u',
  flavor: { id: 'f', name: 'f', vcpus: 2, memoryMb: 128, rootGb: 5, ephemeralGb: 0, swapMb: 64, extraSpecs: {} },
  image: { id: 'i', name: 'i', diskFormat: 'raw', containerFormat: 'docker', size: 1, checksum: null, minDiskGb: 0, minRamMb: 0, properties: {} },
  network: { ports: [] }, metadata: {}, userData: null, keyData: null,
  ...over,
});

/** The files of an archive, as GNU tar lists them (name → content). */
function untar(buf: Buffer): Map<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'dk-tar-'));
  try {
    writeFileSync(join(dir, 'a.tar'), buf);
    execFileSync('tar', ['-xf', 'a.tar', '-C', dir, '--exclude=a.tar'], { cwd: dir });
    const listed = execFileSync('tar', ['-tf', join(dir, 'a.tar')], { encoding: 'utf8' }).split('\n').filter((n) => n && !n.endsWith('/'));
    return new Map(listed.map((n) => [n, readFileSync(join(dir, n), 'utf8')]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('docker driver: options', () => {
  it('defaults come from the table; bad values are refused by name', () => {
    const cfg = parseConfig({});
    assert.deepEqual(
      [cfg.socket, cfg.apiTimeoutMs, cfg.pidsLimit, cfg.cpuLimit, cfg.stopTimeout, cfg.diskQuota, cfg.removeUnusedImages, cfg.hostNetns],
      ['/var/run/docker.sock', 120_000, 1024, 'quota', 10, false, true, ''],
    );
    assert.equal(driverOptions.socket.default, cfg.socket);
    assert.equal(parseConfig({ cpu_limit: 'SHARES', disk_quota: 'yes', pids_limit: '0' }).cpuLimit, 'shares');
    for (const [k, v] of [['cpu_limit', 'lots'], ['pids_limit', '-1'], ['api_timeout', '0'], ['disk_quota', 'maybe'], ['socket', 'relative.sock'], ['host_netns', '/run/../x']]) {
      assert.throws(() => parseConfig({ [k!]: v! }), new RegExp(`docker driver: ${k}`), `${k}=${v}`);
    }
    assert.throws(() => parseConfig({ socket: '/x\0y' }), /socket/);
  });
});

describe('docker driver: what a server becomes', () => {
  it('hostnames are sanitized as Nova does; container names fit Docker', () => {
    assert.equal(hostnameOf('Web Server #1', 'u'), 'web-server-1');
    assert.equal(hostnameOf('...', '3f0c9a4e'), 'server-3f0c9a4e');
    assert.equal(hostnameOf('x'.repeat(80), 'u').length, 63);
    assert.equal(containerPrefix('host/with:odd chars'), 'orrery-host_with_odd_chars-');
  });

  it('metadata become labels and come back; identity labels win over a metadata key', () => {
    const labels = labelsOf(spec({ metadata: { role: 'db', '__proto__': 'x' } }), 'h1');
    assert.equal(labels[LABEL.instance], '3f0c9a4e-1111-4222-8333-444455556666');
    assert.equal(labels[LABEL.host], 'h1');
    assert.deepEqual(metadataOf(labels), { role: 'db', '__proto__': 'x' });
    assert.equal(Object.getPrototypeOf(labels), Object.prototype);
  });

  it('the flavor becomes cgroup limits', () => {
    const hc = hostConfigOf(spec(), parseConfig({}));
    assert.deepEqual([hc.Memory, hc.MemorySwap, hc.CpuPeriod, hc.CpuQuota, hc.CpuShares, hc.PidsLimit, hc.Init, hc.NetworkMode, hc.StorageOpt],
      [128 * 2 ** 20, 192 * 2 ** 20, 100_000, 200_000, 2048, 1024, true, 'none', undefined]);
    const shares = hostConfigOf(spec(), parseConfig({ cpu_limit: 'shares', pids_limit: '0', disk_quota: 'true' }));
    assert.deepEqual([shares.CpuQuota, shares.PidsLimit, shares.StorageOpt], [undefined, undefined, { size: '5G' }]);
  });

  it('the seed archive holds NoCloud\'s files, Nova\'s meta_data.json and the key', () => {
    const files = untar(seedArchive(spec({
      keyData: 'ssh-ed25519 AAAA kit', metadata: { a: 'b' }, userData: Buffer.from('#!/bin/sh\necho hi\n').toString('base64'),
    })));
    assert.deepEqual([...files.keys()].sort(), ['root/.ssh/authorized_keys', `${SEED_DIR}/meta-data`, `${SEED_DIR}/meta_data.json`, `${SEED_DIR}/user-data`]);
    assert.equal(files.get(`${SEED_DIR}/user-data`), '#!/bin/sh\necho hi\n');
    assert.match(files.get(`${SEED_DIR}/meta-data`)!, /^instance-id: "3f0c9a4e-1111-4222-8333-444455556666"\nlocal-hostname: "web-1"\npublic-keys:\n {2}- "ssh-ed25519 AAAA kit"\n$/);
    assert.deepEqual(JSON.parse(files.get(`${SEED_DIR}/meta_data.json`)!).meta, { a: 'b' });
    assert.equal(files.get('root/.ssh/authorized_keys'), 'ssh-ed25519 AAAA kit\n');
    assert.deepEqual([...untar(seedArchive(spec())).keys()].sort(), [`${SEED_DIR}/meta-data`, `${SEED_DIR}/meta_data.json`]);
  });
});

describe('docker driver: small formats', () => {
  it('the tar writer writes what GNU tar reads: files, directories, symbolic links', () => {
    const files = untar(tarOf([{ path: 'd' }, { path: 'd/f', data: 'x'.repeat(1000) }, { path: 'd/l', linkTo: 'f' }, { path: 'e', data: '' }]));
    assert.equal(files.get('d/f'), 'x'.repeat(1000));
    assert.equal(files.get('d/l'), 'x'.repeat(1000), 'the link resolves to its target');
    assert.equal(files.get('e'), '');
    assert.throws(() => tarOf([{ path: 'p'.repeat(101), data: '' }]), /too long/);
  });

  it('the log demultiplexer joins stdout and stderr frames; a plain log passes as it is', () => {
    const frame = (type: number, s: string) => Buffer.concat([Buffer.from([type, 0, 0, 0, 0, 0, 0, 0]).fill(0, 4), Buffer.from(s)]);
    const f1 = frame(1, 'out\n');
    f1.writeUInt32BE(4, 4);
    const f2 = frame(2, 'err\n');
    f2.writeUInt32BE(4, 4);
    assert.equal(demux(Buffer.concat([f1, f2])).toString(), 'out\nerr\n');
    assert.equal(demux(Buffer.from('plain text log\n')).toString(), 'plain text log\n');
  });

  it('cache tags are per host and by checksum, else by id; always a valid Docker tag', () => {
    const md5 = 'd41d8cd98f00b204e9800998ecf8427e';
    assert.equal(cacheTag({ id: 'x', checksum: md5.toUpperCase() }, 'h1'), `orrery-image:h1-${md5}`);
    assert.equal(cacheTag({ id: 'img-1', checksum: null }, 'h1'), 'orrery-image:h1-id-img-1');
    for (const t of [cacheTag({ id: '../../etc', checksum: 'nope' }, 'Host With Spaces'), cacheTag({ id: 'y'.repeat(300), checksum: null }, 'h'.repeat(200))]) {
      assert.match(t.slice('orrery-image:'.length), /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/);
    }
  });

  it('events and states map to power states', () => {
    assert.deepEqual(['start', 'die', 'pause', 'unpause', 'destroy', 'kill', 'create'].map(powerStateAfter),
      [PowerState.RUNNING, PowerState.SHUTDOWN, PowerState.PAUSED, PowerState.RUNNING, 'gone', null, null]);
    assert.deepEqual(['running', 'paused', 'exited', 'created', 'dead', 'restarting'].map((s) => powerStateOf(s)),
      [PowerState.RUNNING, PowerState.PAUSED, PowerState.SHUTDOWN, PowerState.SHUTDOWN, PowerState.CRASHED, PowerState.RUNNING]);
    assert.equal(powerStateOf({ Status: 'running', Running: true, Paused: true }), PowerState.PAUSED);
  });

  it('a container image is of type docker whatever its disk format', () => {
    assert.equal(imageTypeOf({ containerFormat: 'docker', diskFormat: 'raw' }), 'docker');
    assert.equal(imageTypeOf({ containerFormat: 'bare', diskFormat: 'qcow2' }), 'qcow2');
  });
});
