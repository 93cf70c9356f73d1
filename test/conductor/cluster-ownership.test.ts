import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Config } from '../../src/common/config.js';
import { newUuid } from '../../src/common/ids.js';
import { createLogger } from '../../src/common/logging.js';
import { ClusterOwnership } from '../../src/conductor/cluster.js';
import { getInstanceRow, insertInstance, updateInstanceRow } from '../../src/db/instances.js';
import type { ComputeNodeReport } from '../../src/objects/compute.js';
import { isStaleOwnership, type NodeClaim } from '../../src/rpc/node-ownership.js';
import { BACKENDS, type TestDatabase } from '../db/databases.js';

const inv = (total: number) => ({ total, reserved: 0, minUnit: 1, maxUnit: total, stepSize: 1, allocationRatio: 1 });
const report = (uuid: string, i: number): ComputeNodeReport => ({
  uuid, host: 'x', node: `bm-${i}`, hypervisorType: 'fake', hypervisorVersion: 1, hostIp: '127.0.0.1', cpuInfo: {},
  inventory: { VCPU: inv(4), MEMORY_MB: inv(4096), DISK_GB: inv(40), CUSTOM_BAREMETAL_SMALL: inv(1) }, traits: [],
});

/** The conductor's side of shared-node ownership (conductor/cluster.ts), on both databases. */
for (const backend of BACKENDS) {
  describe(`shared-node ownership (${backend.kind})`, { skip: backend.skip }, () => {
    let t: TestDatabase;
    let cluster: ClusterOwnership;
    const uuids = Array.from({ length: 24 }, () => newUuid());
    const reports = uuids.map(report);
    /** The claims each host holds, as its node tracker would. */
    const held = new Map<string, NodeClaim[]>();

    const sync = async (host: string, seen = uuids) => {
      const answer = await cluster.sync({ cluster: 'c', host, seen, reports: reports.filter((r) => seen.includes(r.uuid)), held: held.get(host) ?? [] });
      held.set(host, answer.owned.map((o) => ({ host, nodeUuid: o.uuid, generation: o.generation })));
      return answer;
    };
    const owners = async () => new Map((await t.db.selectFrom('node_owners').selectAll().execute()).map((r) => [r.node_uuid, r]));

    before(async () => {
      t = await backend.create();
      cluster = new ClusterOwnership(t.db, new Config({ DEFAULT: { service_down_time: '60' } }, {}), createLogger('test', 'silent'));
    });
    after(async () => t?.close());

    it('gives every node to the one member, then about half to a second, bumping the generation of each node moved', async () => {
      const first = await sync('c1');
      assert.equal(first.owned.length, 24);
      assert.ok(first.owned.every((o) => o.generation === 1));
      const nodes = await t.db.selectFrom('compute_nodes').select(['uuid', 'host']).where('deleted', '=', 0).execute();
      assert.equal(nodes.length, 24);
      const second = await sync('c2');
      assert.ok(second.owned.length >= 6 && second.owned.length <= 18, `c2 owns ${second.owned.length}`);
      assert.ok(second.owned.every((o) => o.generation === 2));
      const o = await owners();
      for (const n of second.owned) assert.equal(o.get(n.uuid)!.owner_host, 'c2');
      // The node rows follow their owner, so the scheduler joins them with a live service.
      const moved = await t.db.selectFrom('compute_nodes').select('host').where('uuid', 'in', second.owned.map((n) => n.uuid)).execute();
      assert.ok(moved.every((m) => m.host === 'c2'));
    });

    it('refuses a sync that presents a stale claim, writing nothing; the caller drops it and syncs again', async () => {
      // c1 still holds its claims of before c2 joined: those on c2's nodes are stale.
      const stale = held.get('c1')!;
      const c2Nodes = new Set(held.get('c2')!.map((c) => c.nodeUuid));
      await assert.rejects(cluster.sync({ cluster: 'c', host: 'c1', seen: uuids, reports: [], held: stale }), (err: unknown) => {
        assert.ok(isStaleOwnership(err));
        for (const uuid of c2Nodes) assert.match((err as Error).message, new RegExp(uuid));
        return true;
      });
      held.set('c1', stale.filter((c) => !c2Nodes.has(c.nodeUuid)));
      const again = await sync('c1');
      assert.equal(again.owned.length + c2Nodes.size, 24);
    });

    it('makes a guarded write only with the current claim, in one transaction with the check', async () => {
      const mine = held.get('c2')![0]!;
      const uuid = newUuid();
      const ts = new Date().toISOString();
      await insertInstance(t.db, {
        uuid, display_name: 'vm', display_description: null, project_id: 'p1', user_id: 'u1', image_ref: 'img',
        flavor: '{}', flavor_id: '1', vcpus: 1, memory_mb: 512, root_gb: 1, ephemeral_gb: 0,
        vm_state: 'active', task_state: null, power_state: 1, host: 'c2', node: 'bm', node_uuid: mine.nodeUuid,
        availability_zone: null, key_name: null, key_data: null, user_data: null, hostname: 'vm', reservation_id: 'r-1',
        launch_index: 0, locked: 0, locked_by: null, config_drive: '', access_ip_v4: null, access_ip_v6: null, progress: 0,
        image_meta: '{}', tags: '[]', launched_at: null, terminated_at: null, created_at: ts, updated_at: ts, deleted_at: null, deleted: 0,
      }, {});
      const write = (claim: NodeClaim, taskState: string) => cluster.guarded(claim, (tx) => updateInstanceRow(tx, uuid, { task_state: taskState }));
      await assert.rejects(write({ ...mine, generation: mine.generation - 1 }, 'rebooting'), (err: unknown) => isStaleOwnership(err));
      await assert.rejects(write({ ...mine, host: 'c1' }, 'rebooting'), (err: unknown) => isStaleOwnership(err));
      assert.equal((await getInstanceRow(t.db, uuid))!.task_state, null, 'a refused write changed the row');
      await write(mine, 'rebooting');
      assert.equal((await getInstanceRow(t.db, uuid))!.task_state, 'rebooting');
      // And without a claim (a node-local compute, an older one) the write is made as before.
      await cluster.guarded(null, (tx) => updateInstanceRow(tx, uuid, { task_state: null }));
      assert.equal((await getInstanceRow(t.db, uuid))!.task_state, null);
    });

    it('a node no member sees any more is dropped when empty and kept unavailable while an instance is on it', async () => {
      const withInstance = held.get('c2')![0]!.nodeUuid; // the instance of the previous test is on it
      const empty = uuids.find((u) => u !== withInstance)!;
      const seen = uuids.filter((u) => u !== withInstance && u !== empty);
      await sync('c1', seen);
      const nodes = new Map((await t.db.selectFrom('compute_nodes').select(['uuid', 'deleted', 'unavailable_reason']).execute()).map((n) => [n.uuid, n]));
      assert.notEqual(nodes.get(empty)!.deleted, 0, 'the empty node is still listed');
      assert.equal(nodes.get(withInstance)!.deleted, 0);
      assert.match(nodes.get(withInstance)!.unavailable_reason!, /gone from its back-end/);
      assert.ok((await owners()).has(withInstance), 'the node with an instance lost its owner (nobody could delete the instance)');
      // Seen again: usable again.
      await sync('c1', uuids.filter((u) => u !== empty));
      const back = await t.db.selectFrom('compute_nodes').select('unavailable_reason').where('uuid', '=', withInstance).executeTakeFirstOrThrow();
      assert.equal(back.unavailable_reason, null);
    });

    it('moves a member’s nodes to the others once it has not synced for service_down_time', async () => {
      await t.db.updateTable('cluster_members').set({ last_seen: new Date(Date.now() - 120_000).toISOString() }).where('host', '=', 'c2').execute();
      held.set('c1', []);
      const answer = await cluster.sync({ cluster: 'c', host: 'c1', seen: uuids, reports: [], held: [] });
      assert.deepEqual(answer.members, ['c1']);
      assert.equal(answer.owned.length, (await owners()).size);
      assert.ok([...(await owners()).values()].every((o) => o.owner_host === 'c1'));
    });
  });
}
