import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase, migrate } from '../../src/db/connection.js';
import { claimResources, claimedNode, releaseResources } from '../../src/db/allocations.js';

/** Claims honour total, reserved and the allocation ratio, and release gives everything back. */
describe('resource claims', () => {
  async function node(total: number, reserved: number, ratio: number) {
    const db = openDatabase('sqlite://');
    await migrate(db);
    await db.insertInto('inventories').values({
      node_uuid: 'n1', resource_class: 'VCPU', total, reserved, min_unit: 1, max_unit: total, step_size: 1, allocation_ratio: ratio, used: 0,
    }).execute();
    return db;
  }

  it('admits exactly (total - reserved) × allocation ratio', async () => {
    const db = await node(8, 2, 2.5);
    let granted = 0;
    for (let i = 0; i < 20; i++) if (await claimResources(db, `c${i}`, 'n1', { VCPU: 1 })) granted++;
    assert.equal(granted, 15);
    const inv = await db.selectFrom('inventories').select('used').executeTakeFirstOrThrow();
    assert.equal(inv.used, 15);
    await db.destroy();
  });

  it('refuses more than max_unit in one claim, and changes nothing when refused', async () => {
    const db = await node(4, 0, 16);
    assert.equal(await claimResources(db, 'big', 'n1', { VCPU: 5 }), false);
    assert.equal(await claimResources(db, 'ok', 'n1', { VCPU: 4 }), true);
    assert.equal((await db.selectFrom('allocations').selectAll().execute()).length, 1);
    await db.destroy();
  });

  it('releases idempotently', async () => {
    const db = await node(2, 0, 1);
    assert.ok(await claimResources(db, 'a', 'n1', { VCPU: 2 }));
    await releaseResources(db, 'a');
    await releaseResources(db, 'a');
    assert.equal((await db.selectFrom('inventories').select('used').executeTakeFirstOrThrow()).used, 0);
    assert.equal(await claimedNode(db, 'a'), null);
    await db.destroy();
  });
});
