import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { imageTypeTrait } from '@orrery/virt-api';
import { Config } from '../../src/common/config.js';
import { NoValidHost } from '../../src/common/errors.js';
import { newUuid } from '../../src/common/ids.js';
import { createLogger } from '../../src/common/logging.js';
import { upsertComputeNodes } from '../../src/db/compute-nodes.js';
import { addAggregateHost, createAggregate } from '../../src/db/aggregates.js';
import { claimedNode, releaseResources } from '../../src/db/allocations.js';
import { reportService } from '../../src/db/service-heartbeat.js';
import type { ComputeNodeReport, RequestSpec } from '../../src/objects/compute.js';
import { systemContext } from '../../src/rpc/dispatch.js';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';
import { SchedulerRpcApi } from '../../src/rpc/scheduler-api.js';
import { SchedulerService } from '../../src/scheduler/scheduler.js';
import { BACKENDS, type TestDatabase } from '../db/databases.js';

/** The scheduler's decisions, from the filters to the claims, on SQLite and PostgreSQL: a fresh database per test. */

const config = new Config({}, {});
const log = createLogger('scheduler-test', 'warn');

interface NodeSpec {
  vcpus?: number;
  ramMb?: number;
  diskGb?: number;
  traits?: string[];
  hypervisorType?: string;
  /** The image formats its driver declares (default raw and qcow2, as most drivers'). */
  imageFormats?: string[];
}

function report(host: string, uuid: string, n: NodeSpec): ComputeNodeReport {
  const inv = (total: number) => ({ total, reserved: 0, minUnit: 1, maxUnit: total, stepSize: 1, allocationRatio: 1 });
  return {
    uuid, host, node: host, hypervisorType: n.hypervisorType ?? 'fake', hypervisorVersion: 1000, hostIp: '127.0.0.1', cpuInfo: {},
    inventory: { VCPU: inv(n.vcpus ?? 8), MEMORY_MB: inv(n.ramMb ?? 8192), DISK_GB: inv(n.diskGb ?? 100) },
    traits: [...(n.traits ?? []), ...(n.imageFormats ?? ['raw', 'qcow2']).map(imageTypeTrait)],
  };
}

function spec(over: Partial<RequestSpec> & { vcpus?: number; ramMb?: number; diskGb?: number; extraSpecs?: Record<string, string> } = {}): RequestSpec {
  const { vcpus = 1, ramMb = 512, diskGb = 1, extraSpecs = {}, ...rest } = over;
  return {
    instanceUuids: [newUuid()], projectId: 'p', userId: 'u',
    flavor: {
      flavorid: 'f', name: 'f', vcpus, memoryMb: ramMb, rootGb: diskGb, ephemeralGb: 0, swap: 0, rxtxFactor: 1,
      isPublic: true, disabled: false, description: null, extraSpecs,
    },
    image: { id: 'img', name: 'img', status: 'active', diskFormat: 'raw', containerFormat: 'bare', size: 1, checksum: null, minDisk: 0, minRam: 0, properties: {} },
    availabilityZone: null, ignoreHosts: [], forceHost: null, forceNode: null, attempt: 0,
    ...rest,
  };
}

for (const backend of BACKENDS) {
  describe(`scheduler on ${backend.kind}`, { skip: backend.skip }, () => {
    let t: TestDatabase;
    let scheduler: SchedulerService;
    beforeEach(async () => {
      t = await backend.create();
      scheduler = new SchedulerService(t.db, config, log, 'scheduler-test');
    });
    afterEach(async () => {
      await t?.close();
    });

    /** Hosts, each with one node of its name and an up compute service; returns host → node uuid. */
    async function hosts(nodes: Record<string, NodeSpec>): Promise<Map<string, string>> {
      const made = new Map<string, string>();
      for (const [host, n] of Object.entries(nodes)) {
        const uuid = newUuid();
        await reportService(t.db, { host, binary: 'nova-compute', topic: 'compute', version: '1.0' });
        await upsertComputeNodes(t.db, host, [report(host, uuid, n)]);
        made.set(host, uuid);
      }
      return made;
    }
    async function place(s: RequestSpec, on = scheduler): Promise<string> {
      const [sel] = await on.selectDestinations(s);
      return sel!.host;
    }
    async function usedOn(nodeUuid: string): Promise<Record<string, number>> {
      const rows = await t.db.selectFrom('inventories').select(['resource_class', 'used']).where('node_uuid', '=', nodeUuid).execute();
      return Object.fromEntries(rows.map((r) => [r.resource_class, r.used]));
    }

    it('places on the node with the most free RAM that has room for every class', async () => {
      await hosts({ big: { ramMb: 16384, vcpus: 1 }, mid: { ramMb: 12288 }, small: { ramMb: 4096 } });
      // "big" has the most memory but a single vCPU
      assert.equal(await place(spec({ vcpus: 2, ramMb: 1024 })), 'mid');
      assert.equal(await place(spec({ vcpus: 1, ramMb: 1024 })), 'big');
      assert.equal(await place(spec({ vcpus: 1, ramMb: 1024 })), 'mid', 'big has no vCPU left');
      await assert.rejects(scheduler.selectDestinations(spec({ ramMb: 12000 })), NoValidHost, 'more memory than any node has free');
      await assert.rejects(scheduler.selectDestinations(spec({ diskGb: 101 })), NoValidHost);
    });

    it('filters by required and forbidden traits, from the flavor and from the image', async () => {
      await hosts({ plain: { ramMb: 65536 }, ssd: { ramMb: 32768, traits: ['CUSTOM_SSD'] }, ssdgpu: { ramMb: 49152, traits: ['CUSTOM_SSD', 'CUSTOM_GPU'] } });
      assert.equal(await place(spec()), 'plain');
      assert.equal(await place(spec({ extraSpecs: { 'trait:CUSTOM_SSD': 'required' } })), 'ssdgpu');
      assert.equal(await place(spec({ extraSpecs: { 'trait:CUSTOM_SSD': 'required', 'trait:CUSTOM_GPU': 'forbidden' } })), 'ssd');
      assert.equal(await place(spec({ extraSpecs: { 'trait:CUSTOM_SSD': 'forbidden', 'trait:CUSTOM_GPU': 'forbidden' } })), 'plain');
      const image = spec().image;
      assert.equal(await place(spec({ image: { ...image, properties: { 'trait:CUSTOM_GPU': 'required' } } })), 'ssdgpu');
      await assert.rejects(scheduler.selectDestinations(spec({ extraSpecs: { 'trait:CUSTOM_NOPE': 'required' } })), NoValidHost);
    });

    it('sends each image to a node that boots its type: container images by container format, others by disk format', async () => {
      await hosts({ qemu: { ramMb: 65536, imageFormats: ['qcow2', 'ami'] }, docker: { ramMb: 32768, imageFormats: ['docker'] }, fake: { ramMb: 16384, imageFormats: ['raw'] } });
      const image = spec().image;
      assert.equal(await place(spec({ image: { ...image, diskFormat: 'qcow2' } })), 'qemu');
      assert.equal(await place(spec({ image: { ...image, diskFormat: 'AMI', containerFormat: 'ami' } })), 'qemu', 'formats compare case-insensitively');
      // a `docker save` tarball is uploaded with disk_format raw: it must not land on the raw host
      assert.equal(await place(spec({ image: { ...image, diskFormat: 'raw', containerFormat: 'docker' } })), 'docker');
      assert.equal(await place(spec({ image: { ...image, diskFormat: 'raw' } })), 'fake');
      await assert.rejects(scheduler.selectDestinations(spec({ image: { ...image, diskFormat: 'vmdk' } })), NoValidHost);
      // no format to match (boot from volume): any node
      assert.equal(await place(spec({ image: { ...image, diskFormat: '', containerFormat: '' } })), 'qemu');
      // a trait the image requires by property is not asked for twice, and forbidding it leaves nothing
      assert.equal(await place(spec({ image: { ...image, properties: { 'trait:COMPUTE_IMAGE_TYPE_RAW': 'required' } } })), 'fake');
      await assert.rejects(scheduler.selectDestinations(spec({ extraSpecs: { 'trait:COMPUTE_IMAGE_TYPE_RAW': 'forbidden' } })), NoValidHost);
    });

    it('with query_placement_for_image_type_support off, ignores the image type (as Nova by default)', async () => {
      await hosts({ qemu: { ramMb: 65536, imageFormats: ['qcow2'] }, docker: { ramMb: 32768, imageFormats: ['docker'] } });
      const off = new SchedulerService(t.db, config.with({ scheduler: { query_placement_for_image_type_support: 'false' } }), log, 'scheduler-test');
      const image = spec().image;
      assert.equal(await place(spec({ image: { ...image, diskFormat: 'raw', containerFormat: 'docker' } }), off), 'qemu');
      assert.equal(await place(spec({ image: { ...image, diskFormat: 'vmdk' } }), off), 'qemu');
    });

    it('honours ignored hosts, forced hosts and nodes, and the image hypervisor type', async () => {
      await hosts({ a: { ramMb: 65536 }, b: { ramMb: 32768 }, c: { ramMb: 16384, hypervisorType: 'QEMU' } });
      assert.equal(await place(spec()), 'a');
      assert.equal(await place(spec({ ignoreHosts: ['a'] })), 'b');
      assert.equal(await place(spec({ ignoreHosts: ['a', 'b'] })), 'c');
      await assert.rejects(scheduler.selectDestinations(spec({ ignoreHosts: ['a', 'b', 'c'] })), NoValidHost);
      assert.equal(await place(spec({ forceHost: 'c' })), 'c');
      assert.equal(await place(spec({ forceHost: 'b', forceNode: 'b' })), 'b');
      await assert.rejects(scheduler.selectDestinations(spec({ forceHost: 'b', forceNode: 'c' })), NoValidHost);
      const image = spec().image;
      assert.equal(await place(spec({ image: { ...image, properties: { hypervisor_type: 'qemu' } } })), 'c');
    });

    it('places in the zone asked for; hosts in no zone are in the default zone', async () => {
      await hosts({ east1: { ramMb: 65536 }, east2: { ramMb: 32768 }, west: { ramMb: 16384 }, plain: { ramMb: 8192 }, loose: { ramMb: 4096 } });
      const east = await createAggregate(t.db, 'east', 'zone-east');
      await addAggregateHost(t.db, east.id, 'east1');
      await addAggregateHost(t.db, east.id, 'east2');
      const west = await createAggregate(t.db, 'west', 'zone-west');
      await addAggregateHost(t.db, west.id, 'west');
      // in an aggregate without a zone: still in the default zone
      const noZone = await createAggregate(t.db, 'fast', null);
      await addAggregateHost(t.db, noZone.id, 'plain');
      assert.equal(await place(spec({ availabilityZone: 'zone-east' })), 'east1');
      assert.equal(await place(spec({ availabilityZone: 'zone-west' })), 'west');
      assert.equal(await place(spec({ availabilityZone: 'nova' })), 'plain');
      assert.equal(await place(spec({ availabilityZone: 'nova', ignoreHosts: ['plain'] })), 'loose');
      await assert.rejects(scheduler.selectDestinations(spec({ availabilityZone: 'nova', forceHost: 'east2' })), NoValidHost);
      await assert.rejects(scheduler.selectDestinations(spec({ availabilityZone: 'zone-nowhere' })), NoValidHost);
    });

    it('answers the zone of the host it chose, also when it answers a claim made before', async () => {
      await hosts({ east: { ramMb: 65536 }, plain: { ramMb: 32768, vcpus: 1 }, loose: { ramMb: 4096 } });
      const east = await createAggregate(t.db, 'east', 'zone-east');
      await addAggregateHost(t.db, east.id, 'east');
      const noZone = await createAggregate(t.db, 'fast', null);
      await addAggregateHost(t.db, noZone.id, 'plain');
      const zoneOf = async (s: RequestSpec) => (await scheduler.selectDestinations(s)).map((sel) => [sel.host, sel.availabilityZone]);
      assert.deepEqual(await zoneOf(spec()), [['east', 'zone-east']], 'asked for any zone');
      const again = spec({ availabilityZone: 'nova' });
      assert.deepEqual(await zoneOf(again), [['plain', 'nova']], 'in an aggregate without a zone');
      // Repeated (its reply lost): plain has no vCPU left, and the claim made there is the answer.
      assert.deepEqual(await zoneOf(again), [['plain', 'nova']]);
      assert.deepEqual(await zoneOf(spec({ forceHost: 'loose' })), [['loose', 'nova']], 'in no aggregate');
      const multi = spec({ instanceUuids: [newUuid(), newUuid()] });
      assert.deepEqual(await zoneOf(multi), [['east', 'zone-east'], ['east', 'zone-east']]);
    });

    it('skips nodes whose compute service is disabled, forced down or silent, and deleted nodes', async () => {
      await hosts({ ok: { ramMb: 4096 }, off: { ramMb: 65536 }, down: { ramMb: 65536 }, silent: { ramMb: 65536 }, gone: { ramMb: 65536 } });
      const svc = (host: string) => t.db.updateTable('services').where('host', '=', host).where('binary', '=', 'nova-compute');
      await svc('off').set({ disabled: 1 }).execute();
      await svc('down').set({ forced_down: 1 }).execute();
      await svc('silent').set({ last_seen_up: new Date(Date.now() - 3600_000).toISOString() }).execute();
      await upsertComputeNodes(t.db, 'gone', []);
      assert.equal(await place(spec()), 'ok');
      for (const h of ['off', 'down', 'silent', 'gone']) await assert.rejects(scheduler.selectDestinations(spec({ forceHost: h })), NoValidHost, h);
    });

    it('answers a repeated request with the claim it made, even once the cloud is full', async () => {
      const made = await hosts({ one: { vcpus: 1, ramMb: 1024, diskGb: 10 }, two: { vcpus: 1, ramMb: 2048, diskGb: 10 } });
      const s = spec({ vcpus: 1, ramMb: 1024, diskGb: 10 });
      const bus = new InProcessBus(log);
      const service = new SchedulerService(t.db, config, log, 'scheduler-rpc');
      await service.start(bus);
      try {
        const api = new SchedulerRpcApi(bus, 10_000);
        // through the RPC API, as the conductor asks again when a reply was lost
        const [first] = await api.selectDestinations(systemContext(), s);
        assert.equal(first!.host, 'two');
        assert.deepEqual(await api.selectDestinations(systemContext(), s), [first]);
        // the other node fills up: the cloud is full, and the repeat still gets its claim
        assert.equal(await place(spec({ vcpus: 1, ramMb: 1024, diskGb: 10 })), 'one');
        await assert.rejects(scheduler.selectDestinations(spec({ vcpus: 1, ramMb: 1024, diskGb: 10 })), NoValidHost);
        assert.deepEqual(await api.selectDestinations(systemContext(), s), [first]);
        assert.deepEqual(await usedOn(made.get('two')!), { VCPU: 1, MEMORY_MB: 1024, DISK_GB: 10 }, 'claimed once');
        assert.equal((await claimedNode(t.db, s.instanceUuids[0]!))?.host, 'two');
        // released (a failed build), the instance is placed anew
        await releaseResources(t.db, s.instanceUuids[0]!);
        assert.equal((await api.selectDestinations(systemContext(), s))[0]!.host, 'two');
      } finally {
        await service.stop();
        await bus.close();
      }
    });

    it('places one claim per instance of a multi-instance request', async () => {
      const made = await hosts({ x: { vcpus: 2, ramMb: 8192 }, y: { vcpus: 2, ramMb: 7680 } });
      const s = spec({ vcpus: 1, ramMb: 1024, instanceUuids: [newUuid(), newUuid(), newUuid(), newUuid()] });
      const sel = await scheduler.selectDestinations(s);
      // spread by free RAM: x (8192), y (7680), x (7168), y (6656)
      assert.deepEqual(sel.map((x) => x.host), ['x', 'y', 'x', 'y']);
      assert.deepEqual(sel.map((x) => x.instanceUuid), s.instanceUuids);
      for (const uuid of made.values()) assert.equal((await usedOn(uuid)).VCPU, 2);
    });

    it('several schedulers racing for the last room place exactly what fits, and no more', async () => {
      // 6 nodes with room for 2 instances each; 3 schedulers get 18 requests at once. On PostgreSQL
      // each has its own pool, as in processes of their own; SQLite's one connection per process
      // serializes transactions, but a scheduler's query and its claim still interleave with the others'.
      const made = await hosts(Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`n${i}`, { vcpus: 2, ramMb: 8192 + i * 512 }])));
      const schedulers = [scheduler, ...[1, 2].map((i) => new SchedulerService(i < backend.connections ? t.open() : t.db, config, log, `race-${i}`))];
      const results = await Promise.allSettled(Array.from({ length: 18 }, (_, i) => place(spec({ vcpus: 1, ramMb: 1024 }), schedulers[i % 3])));
      const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as unknown);
      assert.ok(refused.every((e) => e instanceof NoValidHost), String(refused.find((e) => !(e instanceof NoValidHost))));
      assert.equal(results.length - refused.length, 12);
      for (const uuid of made.values()) assert.deepEqual(await usedOn(uuid), { VCPU: 2, MEMORY_MB: 2048, DISK_GB: 2 });
      const allocations = await t.db.selectFrom('allocations').select('consumer_uuid').distinct().execute();
      assert.equal(allocations.length, 12);
    });
  });
}
