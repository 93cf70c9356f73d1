// The libvirt driver's move parts that need no libvirtd: domjobinfo's statistics, the
// destination XML of a block migration, the move options, and the move records on disk.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from '@orrery/driver-libvirt';
import { destinationXml, parseJobStats } from '../src/live-moves.js';
import { MoveRecords } from '../src/move-records.js';

describe('libvirt driver: moves, the pure parts', () => {
  it('reads the byte counts of `virsh domjobinfo --rawstats`', () => {
    const out = [
      'Job type:         Unbounded', 'Operation:        Outgoing migration', 'time_elapsed:  1234',
      'memory_total:    134217728', 'memory_processed: 50331648', 'memory_remaining: 83886080',
      'disk_total:      1073741824', 'disk_processed:  0', 'disk_remaining:  1073741824', 'memory_bps: 12.5',
    ].join('\n');
    assert.deepEqual(parseJobStats(out), {
      time_elapsed: 1234, memory_total: 134217728, memory_processed: 50331648, memory_remaining: 83886080,
      disk_total: 1073741824, disk_processed: 0, disk_remaining: 1073741824,
    });
    assert.deepEqual(parseJobStats(''), {});
  });

  it('gives the destination its own paths and host, the backing chain dropped; shared storage keeps the paths', () => {
    const src = '/srv/a/instances/u1';
    const xml = [
      '<domain type=\'qemu\'><name>orrery-a-u1</name>',
      '<metadata><orrery:instance xmlns:orrery=\'x\'><orrery:host>a</orrery:host></orrery:instance></metadata>',
      '<os><kernel>/srv/a/instances/_base/k&amp;1</kernel><initrd>/srv/a/instances/_base/r</initrd></os>',
      `<disk type='file' device='disk'><source file='${src}/disk'/><backingStore type='file' index='1'><format type='raw'/>`,
      "<source file='/srv/a/instances/_base/img'/><backingStore/></backingStore><target dev='vda'/></disk>",
      `<serial type='pty'><log file='${src}/console.log' append='on'/></serial></domain>`,
    ].join('\n');
    const out = destinationXml(xml, {
      host: 'b', fromHost: 'a',
      paths: [[src, '/srv/b/instances/u1'], ['/srv/a/instances/_base/k&1', '/srv/b/_base/k'], ['/srv/a/instances/_base/r', '/srv/b/_base/r']],
    });
    assert.match(out, /<name>orrery-a-u1<\/name>/, 'the name stays (libvirt renames it: --dname)');
    assert.match(out, /<orrery:host>b<\/orrery:host>/);
    assert.match(out, /<source file='\/srv\/b\/instances\/u1\/disk'\/>/);
    assert.match(out, /<log file='\/srv\/b\/instances\/u1\/console.log'/);
    assert.match(out, /<kernel>\/srv\/b\/_base\/k<\/kernel><initrd>\/srv\/b\/_base\/r<\/initrd>/);
    assert.doesNotMatch(out, /backingStore|\/srv\/a\//);
    const kept = destinationXml(xml, { host: 'b', fromHost: 'a', paths: [] });
    assert.match(kept, /<backingStore type='file'/, 'shared storage: the chain is the same file');
    assert.match(kept, new RegExp(`<source file='${src}/disk'/>`));
  });

  it('parses the move options, with defaults from connection_uri and host_ip', () => {
    const d = parseConfig('/s', { connection_uri: 'qemu:///system?socket=/x', host_ip: '10.0.0.5' });
    assert.deepEqual([d.migrationUri, d.migrationAddress, d.shutdownTimeout, d.liveMigrationTimeout], ['qemu:///system?socket=/x', '10.0.0.5', 60, 1800]);
    const c = parseConfig('/s', { live_migration_uri: 'qemu+ssh://b/system', migration_address: '10.99.0.2', shutdown_timeout: '0' });
    assert.deepEqual([c.migrationUri, c.migrationAddress, c.shutdownTimeout], ['qemu+ssh://b/system', '10.99.0.2', 0]);
    assert.throws(() => parseConfig('/s', { shutdown_timeout: '-1' }), /shutdown_timeout/);
    assert.throws(() => parseConfig('/s', { live_migration_timeout: '0' }), /live_migration_timeout/);
  });

  it('keeps one record per migration and role, written whole; a migration id that is no UUID names no file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'orrery-lv-moves-'));
    try {
      const records = new MoveRecords(join(dir, 'moves'));
      const id = '9b2f8a4e-3c1d-4e5f-8a6b-7c8d9e0f1a2b';
      assert.equal(await records.get(id, 'source'), null);
      await records.put({ migrationId: id, role: 'source', uuid: 'u', state: 'kept' });
      await records.put({ migrationId: id, role: 'live-dest', uuid: 'u', state: 'prepared', created: ['/x'] });
      assert.equal((await records.get(id, 'source'))?.state, 'kept');
      assert.deepEqual((await records.get(id, 'live-dest'))?.created, ['/x']);
      assert.deepEqual((await readdir(join(dir, 'moves'))).sort(), [`${id}.live-dest.json`, `${id}.source.json`], 'no temporary file left');
      await records.delete(id, 'source');
      await records.delete(id, 'source');
      assert.equal(await records.get(id, 'source'), null);
      await assert.rejects(records.get('../../etc/passwd', 'source'), /not a UUID/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
