import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { newUuid } from '../../src/common/ids.js';
import { claimResources, claimedNode, releaseResources } from '../../src/db/allocations.js';
import { BACKENDS, databaseFixture } from '../db/databases.js';

/** Claims honour total, reserved and the allocation ratio, and release gives everything back: on SQLite and PostgreSQL. */
for (const backend of BACKENDS) {
  describe(`resource claims on ${backend.kind}`, { skip: backend.skip }, () => {
    const t = databaseFixture(backend);

    type Inventory = { total: number; reserved?: number; ratio?: number; maxUnit?: number };
    /** A node (its own uuid, so tests share the database) with these inventories; used starts at 0. */
    async function node(inventories: Record<string, Inventory>): Promise<string> {
      const uuid = newUuid();
      await t.db.insertInto('inventories').values(Object.entries(inventories).map(([rc, i]) => ({
        node_uuid: uuid, resource_class: rc, total: i.total, reserved: i.reserved ?? 0, min_unit: 1, max_unit: i.maxUnit ?? i.total,
        step_size: 1, allocation_ratio: i.ratio ?? 1, used: 0,
      }))).execute();
      return uuid;
    }
    async function used(nodeUuid: string): Promise<Record<string, number>> {
      const rows = await t.db.selectFrom('inventories').select(['resource_class', 'used']).where('node_uuid', '=', nodeUuid).execute();
      return Object.fromEntries(rows.map((r) => [r.resource_class, r.used]));
    }
    async function allocations(nodeUuid: string): Promise<Array<[string, string, number]>> {
      const rows = await t.db.selectFrom('allocations').selectAll().where('node_uuid', '=', nodeUuid)
        .orderBy('consumer_uuid').orderBy('resource_class').execute();
      return rows.map((r) => [r.consumer_uuid, r.resource_class, r.used]);
    }

    it('admits exactly (total - reserved) × allocation ratio', async () => {
      const n = await node({ VCPU: { total: 8, reserved: 2, ratio: 2.5 } });
      let granted = 0;
      for (let i = 0; i < 20; i++) if (await claimResources(t.db, newUuid(), n, { VCPU: 1 })) granted++;
      assert.equal(granted, 15);
      assert.deepEqual(await used(n), { VCPU: 15 });
    });

    it('applies each class its own ratio and reserve in one claim', async () => {
      // room: VCPU (4 - 0) × 16 = 64, MEMORY_MB (4096 - 512) × 1.5 = 5376, DISK_GB (100 - 10) × 1 = 90
      const n = await node({ VCPU: { total: 4, ratio: 16, maxUnit: 64 }, MEMORY_MB: { total: 4096, reserved: 512, ratio: 1.5 }, DISK_GB: { total: 100, reserved: 10 } });
      assert.equal(await claimResources(t.db, newUuid(), n, { VCPU: 4, MEMORY_MB: 4096, DISK_GB: 45 }), true);
      assert.equal(await claimResources(t.db, newUuid(), n, { VCPU: 4, MEMORY_MB: 1280, DISK_GB: 45 }), true, 'memory fills to exactly 5376');
      assert.equal(await claimResources(t.db, newUuid(), n, { VCPU: 1, MEMORY_MB: 1, DISK_GB: 0 }), false, 'no memory left');
      assert.equal(await claimResources(t.db, newUuid(), n, { VCPU: 1, MEMORY_MB: 0, DISK_GB: 1 }), false, 'no disk left');
      assert.equal(await claimResources(t.db, newUuid(), n, { VCPU: 56, MEMORY_MB: 0, DISK_GB: 0 }), true, 'vCPUs fill to exactly 64');
      assert.deepEqual(await used(n), { VCPU: 64, MEMORY_MB: 5376, DISK_GB: 90 });
    });

    it('changes nothing when one class of three does not fit', async () => {
      const n = await node({ VCPU: { total: 8 }, MEMORY_MB: { total: 1024 }, DISK_GB: { total: 10 } });
      const first = newUuid();
      assert.equal(await claimResources(t.db, first, n, { VCPU: 2, MEMORY_MB: 512, DISK_GB: 5 }), true);
      // each class in turn the one that does not fit: the others have room, and stay untouched
      for (const request of [{ VCPU: 7, MEMORY_MB: 1, DISK_GB: 1 }, { VCPU: 1, MEMORY_MB: 513, DISK_GB: 1 }, { VCPU: 1, MEMORY_MB: 1, DISK_GB: 6 }]) {
        assert.equal(await claimResources(t.db, newUuid(), n, request), false, JSON.stringify(request));
        assert.deepEqual(await used(n), { VCPU: 2, MEMORY_MB: 512, DISK_GB: 5 });
        assert.deepEqual(await allocations(n), [[first, 'DISK_GB', 5], [first, 'MEMORY_MB', 512], [first, 'VCPU', 2]]);
      }
      // a class the node does not have at all
      assert.equal(await claimResources(t.db, newUuid(), n, { VCPU: 1, CUSTOM_GPU: 1 }), false);
      assert.deepEqual(await used(n), { VCPU: 2, MEMORY_MB: 512, DISK_GB: 5 });
    });

    it('refuses more than max_unit in one claim, and changes nothing when refused', async () => {
      const n = await node({ VCPU: { total: 4, ratio: 16 } });
      assert.equal(await claimResources(t.db, 'big', n, { VCPU: 5 }), false);
      assert.equal(await claimResources(t.db, 'ok', n, { VCPU: 4 }), true);
      assert.deepEqual(await allocations(n), [['ok', 'VCPU', 4]]);
    });

    it('claims once per consumer: a second claim, on any node, changes nothing', async () => {
      const [a, b] = [await node({ VCPU: { total: 8 }, MEMORY_MB: { total: 1024 } }), await node({ VCPU: { total: 8 }, MEMORY_MB: { total: 1024 } })];
      const consumer = newUuid();
      assert.equal(await claimResources(t.db, consumer, a, { VCPU: 1, MEMORY_MB: 128 }), true);
      assert.equal(await claimResources(t.db, consumer, a, { VCPU: 1, MEMORY_MB: 128 }), false, 'not twice on the same node');
      assert.equal(await claimResources(t.db, consumer, b, { VCPU: 1, MEMORY_MB: 128 }), false, 'nor on another');
      assert.deepEqual(await used(a), { VCPU: 1, MEMORY_MB: 128 });
      assert.deepEqual(await used(b), { VCPU: 0, MEMORY_MB: 0 });
      await releaseResources(t.db, consumer);
      assert.equal(await claimResources(t.db, consumer, b, { VCPU: 1, MEMORY_MB: 128 }), true, 'released, it may claim again');
      assert.deepEqual(await used(a), { VCPU: 0, MEMORY_MB: 0 });
    });

    it('releases idempotently', async () => {
      const n = await node({ VCPU: { total: 2 } });
      assert.ok(await claimResources(t.db, 'a', n, { VCPU: 2 }));
      await releaseResources(t.db, 'a');
      await releaseResources(t.db, 'a');
      assert.deepEqual(await used(n), { VCPU: 0 });
      assert.equal(await claimedNode(t.db, 'a'), null);
    });

    it('never overcommits, deadlocks or fails under concurrent claims and releases on the same nodes', async () => {
      // 2 nodes with room for 10 claims each, in every class, 4 of them held; 60 claims and the
      // 8 releases at once, spread over the connections (separate pools on PostgreSQL)
      const unit = { VCPU: 1, MEMORY_MB: 100, DISK_GB: 10 };
      const nodes = [await node({ VCPU: { total: 10 }, MEMORY_MB: { total: 1000 }, DISK_GB: { total: 100 } }),
        await node({ VCPU: { total: 10 }, MEMORY_MB: { total: 1000 }, DISK_GB: { total: 100 } })];
      const holders = Array.from({ length: 8 }, () => newUuid());
      for (const [i, h] of holders.entries()) assert.ok(await claimResources(t.db, h, nodes[i % 2]!, unit));
      const work: Array<() => Promise<unknown>> = [];
      for (let i = 0; i < 60; i++) {
        const db = t.dbs[i % t.dbs.length]!;
        work.push(() => claimResources(db, newUuid(), nodes[i % 2]!, unit));
        if (i % 7 === 3 && holders.length > 0) {
          const h = holders.pop()!;
          work.push(() => releaseResources(db, h));
        }
      }
      const results = await Promise.allSettled(work.map((w) => w()));
      assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), []);
      const granted = results.filter((r) => r.status === 'fulfilled' && r.value === true).length;
      // at least the room left beside the holders; at most all of it
      assert.ok(granted >= 12 && granted <= 20, `granted ${granted}`);
      let total = 0;
      for (const n of nodes) {
        const sums: Record<string, number> = { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 };
        for (const [, rc, u] of await allocations(n)) sums[rc]! += u;
        assert.deepEqual(await used(n), sums, 'the counters equal the sums of the allocations');
        assert.ok(sums.VCPU! <= 10 && sums.MEMORY_MB! <= 1000 && sums.DISK_GB! <= 100, `over capacity: ${JSON.stringify(sums)}`);
        total += sums.VCPU!;
      }
      assert.equal(total, granted + holders.length, 'every granted claim is counted, every release given back once');
    });

    // (SQLite has one writer at a time: a claim never waits inside a transaction there.)
    if (backend.kind === 'postgresql') {
      it('waits for a transaction holding a row it needs, then decides on what that transaction committed', async () => {
        const n = await node({ VCPU: { total: 4 }, MEMORY_MB: { total: 1000 }, DISK_GB: { total: 100 } });
        const waiting = async () => (await sql<{ n: number }>`SELECT count(*) AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'`.execute(t.db)).rows[0]!.n;
        let claim: Promise<boolean> | undefined;
        // Another transaction takes the classes in the global order, DISK_GB first and VCPU last:
        // the claim queues behind it instead of taking VCPU first (which would deadlock the two).
        await t.dbs[1]!.transaction().execute(async (tx) => {
          await tx.updateTable('inventories').set((eb) => ({ used: eb('used', '+', 1) })).where('node_uuid', '=', n).where('resource_class', '=', 'DISK_GB').execute();
          claim = claimResources(t.dbs[2]!, newUuid(), n, { VCPU: 4, MEMORY_MB: 1, DISK_GB: 1 });
          while ((await waiting()) === 0) await new Promise((r) => setTimeout(r, 10));
          await tx.updateTable('inventories').set((eb) => ({ used: eb('used', '+', 1) })).where('node_uuid', '=', n).where('resource_class', '=', 'VCPU').execute();
        });
        // its snapshot had 4 vCPUs free, but 3 were when it got the rows
        assert.equal(await claim, false);
        assert.deepEqual(await used(n), { VCPU: 1, MEMORY_MB: 0, DISK_GB: 1 });
        assert.equal(await claimResources(t.db, newUuid(), n, { VCPU: 3, MEMORY_MB: 1, DISK_GB: 1 }), true);
      });
    }
  });
}
