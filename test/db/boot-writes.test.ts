import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Conflict, NotFound } from '../../src/common/errors.js';
import { newUuid } from '../../src/common/ids.js';
import { liveTaskStates, placeBuild } from '../../src/db/builds.js';
import { createActions, startEvent, startEvents } from '../../src/db/instance-actions.js';
import { getInstanceRow, insertInstance, instancesOnHost, markInstanceDeleted, updateInstanceRow } from '../../src/db/instances.js';
import { BACKENDS, databaseFixture } from './databases.js';
import { instanceRow } from './instance-rows.js';

/** The conductor's writes in a boot (conductor.ts buildInstances), on SQLite and PostgreSQL. */

const PLACEMENT = { host: 'c1', node: 'n1', nodeUuid: 'node-1', availabilityZone: 'az1' };

for (const backend of BACKENDS) {
  describe(`boot writes on ${backend.kind}`, { skip: backend.skip }, () => {
    const t = databaseFixture(backend);

    /** The events of the instances' actions of `requestId`, by instance: [action id, event, host, finished]. */
    async function eventsOf(uuids: string[], requestId: string) {
      const rows = await t.db.selectFrom('instance_action_events as e').innerJoin('instance_actions as a', 'a.id', 'e.action_id')
        .select(['a.instance_uuid', 'a.id as action', 'e.event', 'e.host', 'e.finish_time', 'e.result'])
        .where('a.instance_uuid', 'in', uuids).where('a.request_id', '=', requestId).orderBy('e.id').execute();
      return rows;
    }

    it('starts one event per instance in a statement per 200, on each one\'s newest action of the request', async () => {
      const uuids = Array.from({ length: 205 }, () => newUuid());
      await createActions(t.db, { instanceUuids: uuids, action: 'create', requestId: 'req-many', projectId: 'p-boot', userId: 'u1' });
      // A repeated request id: the event goes to the newest action only.
      await createActions(t.db, { instanceUuids: [uuids[0]!], action: 'rebuild', requestId: 'req-many', projectId: 'p-boot', userId: 'u1' });
      const stranger = newUuid(); // no action of that request: nothing is written for it
      await startEvents(t.db, [...uuids, stranger], 'req-many', 'schedule', null);
      const events = await eventsOf([...uuids, stranger], 'req-many');
      assert.equal(events.length, 205);
      assert.deepEqual(new Set(events.map((e) => e.instance_uuid)), new Set(uuids));
      assert.ok(events.every((e) => e.event === 'schedule' && e.host === null && e.finish_time === null));
      const actions = await t.db.selectFrom('instance_actions').select(['id', 'action']).where('instance_uuid', '=', uuids[0]!).orderBy('id').execute();
      assert.equal(events.find((e) => e.instance_uuid === uuids[0])!.action, actions[1]!.id, 'the newest action of the request');
      await startEvents(t.db, [], 'req-many', 'schedule', null);
    });

    it('writes what startEvent writes, one instance at a time', async () => {
      const [one, other] = [newUuid(), newUuid()];
      await createActions(t.db, { instanceUuids: [one, other], action: 'create', requestId: 'req-same', projectId: 'p-boot', userId: 'u1' });
      await startEvent(t.db, one, 'req-same', 'schedule', 'h');
      await startEvents(t.db, [other], 'req-same', 'schedule', 'h');
      const [a, b] = await eventsOf([one, other], 'req-same');
      assert.deepEqual([a!.event, a!.host, a!.finish_time, a!.result], [b!.event, b!.host, b!.finish_time, b!.result]);
    });

    it('places a build and finishes its schedule event in one transaction, or changes nothing', async () => {
      const row = instanceRow('p-boot');
      await insertInstance(t.db, row, {});
      await createActions(t.db, { instanceUuids: [row.uuid], action: 'create', requestId: 'req-place', projectId: 'p-boot', userId: 'u1' });
      await startEvents(t.db, [row.uuid], 'req-place', 'schedule', null);
      const placed = await placeBuild(t.db, row.uuid, PLACEMENT, { requestId: 'req-place', event: 'schedule' });
      assert.deepEqual([placed.host, placed.node, placed.node_uuid, placed.availability_zone], ['c1', 'n1', 'node-1', 'az1']);
      assert.deepEqual(placed, await getInstanceRow(t.db, row.uuid), 'the row as a re-read would give it');
      const [event] = await eventsOf([row.uuid], 'req-place');
      assert.equal(event!.result, 'Success');
      assert.ok(event!.finish_time);

      // Moved on meanwhile: refused as the update refuses, and the event stays open.
      const moved = instanceRow('p-boot');
      await insertInstance(t.db, moved, {});
      await createActions(t.db, { instanceUuids: [moved.uuid], action: 'create', requestId: 'req-moved', projectId: 'p-boot', userId: 'u1' });
      await startEvents(t.db, [moved.uuid], 'req-moved', 'schedule', null);
      await updateInstanceRow(t.db, moved.uuid, { task_state: 'spawning', host: 'c2' }, ['scheduling']);
      await assert.rejects(placeBuild(t.db, moved.uuid, PLACEMENT, { requestId: 'req-moved', event: 'schedule' }), Conflict);
      assert.equal((await getInstanceRow(t.db, moved.uuid))!.host, 'c2');
      assert.equal((await eventsOf([moved.uuid], 'req-moved'))[0]!.finish_time, null);

      // Gone: NotFound.
      await markInstanceDeleted(t.db, moved.uuid);
      await assert.rejects(placeBuild(t.db, moved.uuid, PLACEMENT, { requestId: 'req-moved', event: 'schedule' }), NotFound);
    });

    it('answers the task states of the live instances only, and the instances on a host', async () => {
      const [waiting, gone] = [instanceRow('p-boot'), instanceRow('p-boot', { host: 'h-list' })];
      const on = instanceRow('p-boot', { host: 'h-list', task_state: null, vm_state: 'active' });
      for (const r of [waiting, gone, on]) await insertInstance(t.db, r, r === on ? { k: 'v' } : {});
      await markInstanceDeleted(t.db, gone.uuid);
      const states = await liveTaskStates(t.db, [waiting.uuid, gone.uuid, on.uuid, newUuid()]);
      assert.deepEqual([...states].sort(), [[waiting.uuid, 'scheduling'], [on.uuid, null]].sort());
      assert.deepEqual(await liveTaskStates(t.db, []), new Map());
      const listed = await instancesOnHost(t.db, 'h-list');
      assert.deepEqual(listed.map((i) => [i.uuid, i.metadata]), [[on.uuid, { k: 'v' }]]);
    });
  });
}
