import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getInstance } from '../../src/db/instances.js';
import { setProjectLimits } from '../../src/db/quotas.js';
import { createKeyPair } from '../../src/db/keypairs.js';
import { createAggregate, addAggregateHost } from '../../src/db/aggregates.js';
import {
  call, castInstance, castSpec, createServer, instanceRow, serverBody, startHarness, waitForCast, type Harness,
} from './harness.js';

describe('POST /servers', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ quota: { instances: '100', cores: '200', ram: '1000000' } });
  });
  after(async () => h.close());

  it('creates a BUILD instance, answers 202 with Nova\'s body and Location, and casts build_instances', async () => {
    const res = await call(h, h.member, 'POST', '/v2.1/servers', serverBody(h, {
      name: 'web 1', metadata: { role: 'web' }, user_data: Buffer.from('#!/bin/sh\necho hi\n').toString('base64'),
      accessIPv4: '192.0.2.5', config_drive: true,
    }));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const s = res.body.server;
    assert.deepEqual(Object.keys(s).sort(), ['OS-DCF:diskConfig', 'adminPass', 'id', 'links', 'security_groups']);
    assert.equal(s['OS-DCF:diskConfig'], 'MANUAL');
    assert.deepEqual(s.security_groups, [{ name: 'default' }]);
    assert.match(s.adminPass, /^[A-Za-z0-9]{12}$/);
    assert.equal(res.headers.get('location'), `${h.url}/v2.1/servers/${s.id}`);
    assert.deepEqual(s.links, [
      { rel: 'self', href: `${h.url}/v2.1/servers/${s.id}` },
      { rel: 'bookmark', href: `${h.url}/servers/${s.id}` },
    ]);

    const row = await instanceRow(h, s.id);
    assert.equal(row.vm_state, 'building');
    assert.equal(row.task_state, 'scheduling');
    assert.equal(row.power_state, 0);
    assert.equal(row.hostname, 'web-1');
    assert.equal(row.config_drive, 'True');
    assert.equal(row.access_ip_v4, '192.0.2.5');
    assert.equal(row.availability_zone, null);
    assert.equal(JSON.parse(row.flavor).flavorid, '1');
    assert.equal(JSON.parse(row.image_meta).properties.os_distro, 'cirros');

    const cast = await waitForCast(h, (c) => c.method === 'build_instances' && castSpec(c).instanceUuids.includes(s.id));
    const spec = castSpec(cast);
    assert.equal(spec.flavor.flavorid, '1');
    assert.equal(spec.image.id, h.images.active);
    assert.equal(spec.projectId, h.member.projectId);
    const inst = unwrapFirst(cast);
    assert.equal(inst.uuid, s.id);
    assert.deepEqual(inst.metadata, { role: 'web' });

    const actions = await call(h, h.member, 'GET', `/v2.1/servers/${s.id}/os-instance-actions`);
    assert.equal(actions.body.instanceActions[0].action, 'create');
    assert.equal(actions.body.instanceActions[0].request_id, res.headers.get('x-openstack-request-id'));
  });

  it('answers 400 for bodies its schema refuses, never 500', async () => {
    const bad: unknown[] = [
      {},
      { server: {} },
      { server: { name: 'x', imageRef: h.images.active } },
      { server: { name: '', imageRef: h.images.active, flavorRef: '1' } },
      { server: { name: ' lead', imageRef: h.images.active, flavorRef: '1' } },
      { server: { name: 'x'.repeat(256), imageRef: h.images.active, flavorRef: '1' } },
      { server: { name: 'x', imageRef: h.images.active, flavorRef: '1', bogus: 1 } },
      { server: { name: 'x', imageRef: 'not-a-uuid', flavorRef: '1' } },
      { server: { name: 'x', flavorRef: '1' } },
      { server: { name: 'x', imageRef: h.images.active, flavorRef: '1', user_data: 'not base64!' } },
      { server: { name: 'x', imageRef: h.images.active, flavorRef: '1', user_data: 'QQ'.repeat(40000) } },
      { server: { name: 'x', imageRef: h.images.active, flavorRef: '1', metadata: { 'bad/key': 'v' } } },
      { server: { name: 'x', imageRef: h.images.active, flavorRef: '1', metadata: { k: 'v'.repeat(256) } } },
      { server: { name: 'x', imageRef: h.images.active, flavorRef: '1', min_count: 0 } },
      { server: { name: 'x', imageRef: h.images.active, flavorRef: '1', min_count: 3, max_count: 2 } },
      { server: { name: 'x', imageRef: h.images.active, flavorRef: '1', accessIPv4: '300.1.1.1' } },
      { server: { name: 'x', imageRef: h.images.active, flavorRef: '1', description: 'only from 2.19' } },
      { server: { name: 'x', imageRef: h.images.active, flavorRef: '1', networks: 'auto' } },
      { server: { name: 'x', imageRef: h.images.active, flavorRef: '1', networks: [{ uuid: 'nope' }] } },
      { server: { name: 'x', imageRef: h.images.active, flavorRef: '1', availability_zone: 'a:b:c:d' } },
      '{"server": ',
      '[1,2]',
    ];
    for (const body of bad) {
      const res = await call(h, h.member, 'POST', '/v2.1/servers', body);
      assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 120)} → ${res.status} ${JSON.stringify(res.body)}`);
      assert.equal(res.body.badRequest.code, 400);
    }
  });

  it('answers 400 in Nova\'s words for an unknown or unusable flavor, image, key pair or zone', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ flavorRef: '99' }, /^Flavor 99 could not be found\.$/],
      [{ flavorRef: 'private' }, /^Flavor private could not be found\.$/],
      [{ imageRef: crypto.randomUUID() }, /^Can not find requested image$/],
      [{ imageRef: h.images.otherPrivate }, /^Can not find requested image$/],
      [{ imageRef: h.images.queued }, /is not active\.$/],
      [{ imageRef: h.images.big }, /^Flavor's memory is too small for requested image\.$/],
      [{ key_name: 'nokey' }, /^Invalid key_name provided\.$/],
      [{ availability_zone: 'atlantis' }, /^The requested availability zone is not available$/],
      [{ networks: [{ uuid: crypto.randomUUID() }] }, /^Network .* could not be found\.$/],
      [{ networks: [{ port: crypto.randomUUID() }] }, /^Port id .* could not be found\.$/],
    ];
    for (const [extra, message] of cases) {
      const res = await call(h, h.member, 'POST', '/v2.1/servers', serverBody(h, extra));
      assert.equal(res.status, 400, JSON.stringify(extra));
      assert.match(res.body.badRequest.message, message, JSON.stringify(extra));
    }
    // Image answers are reused per token, never across tokens: once beta's member has booted
    // beta's private image, it is still not found for a member of alpha.
    const byOwner = await call(h, h.other, 'POST', '/v2.1/servers', serverBody(h, { imageRef: h.images.otherPrivate }));
    assert.equal(byOwner.status, 202, JSON.stringify(byOwner.body));
    const notOurs = await call(h, h.member, 'POST', '/v2.1/servers', serverBody(h, { imageRef: h.images.otherPrivate }));
    assert.equal(notOurs.status, 400);
    assert.equal(notOurs.body.badRequest.message, 'Can not find requested image');
    // a flavor link works as well as its id, and an admin may use any flavor
    assert.equal((await call(h, h.member, 'POST', '/v2.1/servers', serverBody(h, { flavorRef: `${h.url}/flavors/2` }))).status, 202);
    assert.equal((await call(h, h.admin, 'POST', '/v2.1/servers', serverBody(h, { flavorRef: 'private' }))).status, 202);
  });

  it('uses the caller\'s key pair and a valid availability zone; host forcing is admin-only', async () => {
    await createKeyPair(h.db, { userId: h.member.userId, name: 'mykey', publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7x4 me', type: 'ssh', fingerprint: 'aa' }, -1);
    const id = await createServer(h, h.member, { key_name: 'mykey', availability_zone: 'nova' });
    const row = await instanceRow(h, id);
    assert.equal(row.key_name, 'mykey');
    assert.match(row.key_data ?? '', /^ssh-ed25519/);
    assert.equal(row.availability_zone, 'nova');
    // the key pair is per user
    assert.equal((await call(h, h.peer, 'POST', '/v2.1/servers', serverBody(h, { key_name: 'mykey' }))).status, 400);

    // an aggregate's zone becomes available once one of its hosts runs a compute service
    const agg = await createAggregate(h.db, 'rack1', 'zone-b');
    await addAggregateHost(h.db, agg.id, h.node.host);
    assert.equal((await call(h, h.member, 'POST', '/v2.1/servers', serverBody(h, { availability_zone: 'zone-b' }))).status, 202);

    const forced = await call(h, h.member, 'POST', '/v2.1/servers', serverBody(h, { availability_zone: 'nova:compute1' }));
    assert.equal(forced.status, 403);
    assert.match(forced.body.forbidden.message, /create:forced_host/);
    const byAdmin = await call(h, h.admin, 'POST', '/v2.1/servers', serverBody(h, { availability_zone: 'nova:compute1:compute1' }));
    assert.equal(byAdmin.status, 202);
    const cast = await waitForCast(h, (c) => c.method === 'build_instances' && castSpec(c).instanceUuids.includes(byAdmin.body.server.id));
    assert.equal(castSpec(cast).forceHost, 'compute1');
    assert.equal(castSpec(cast).forceNode, 'compute1');
  });

  it('follows each microversion: description from 2.19, networks required from 2.37 ("none", "auto" or a list)', async () => {
    const withDesc = await createServer(h, h.member, { description: 'my box' }, '2.19');
    assert.equal((await instanceRow(h, withDesc)).display_description, 'my box');
    const missing = await call(h, h.member, 'POST', '/v2.1/servers', serverBody(h), '2.37');
    assert.equal(missing.status, 400);
    assert.match(missing.body.badRequest.message, /networks/);
    assert.equal((await call(h, h.member, 'POST', '/v2.1/servers', serverBody(h, { networks: 'none' }), '2.37')).status, 202);
    assert.equal((await call(h, h.member, 'POST', '/v2.1/servers', serverBody(h, { networks: 'auto' }), '2.37')).status, 202);
    assert.equal((await call(h, h.member, 'POST', '/v2.1/servers', serverBody(h, { networks: 'all' }), '2.37')).status, 400);
    // network tags exist in 2.32-2.36 only
    const tagged = serverBody(h, { networks: [{ uuid: crypto.randomUUID(), tag: 'eth0' }] });
    assert.match((await call(h, h.member, 'POST', '/v2.1/servers', tagged, '2.32')).body.badRequest.message, /Network .* could not be found/);
    assert.match((await call(h, h.member, 'POST', '/v2.1/servers', tagged, '2.37')).body.badRequest.message, /tag/);
  });

  it('creates several instances with one reservation id, names -1..-n, and can answer the reservation id', async () => {
    const res = await call(h, h.member, 'POST', '/v2.1/servers', serverBody(h, { name: 'batch', min_count: 2, max_count: '3' }));
    assert.equal(res.status, 202);
    const first = await instanceRow(h, res.body.server.id);
    const all = await h.db.selectFrom('instances').selectAll().where('reservation_id', '=', first.reservation_id).orderBy('launch_index').execute();
    assert.deepEqual(all.map((r) => [r.display_name, r.launch_index, r.hostname]), [['batch-1', 0, 'batch-1'], ['batch-2', 1, 'batch-2'], ['batch-3', 2, 'batch-3']]);
    const cast = await waitForCast(h, (c) => c.method === 'build_instances' && castSpec(c).instanceUuids.includes(first.uuid));
    assert.equal(castSpec(cast).instanceUuids.length, 3);
    // The instances cast are built from the rows inserted: exactly what reading them back gives, in launch order.
    const sent = (cast.args.instances as unknown[]).map((e) => castInstance({ ...cast, args: { instance: e } }));
    assert.deepEqual(sent, await Promise.all(all.map(async (r) => (await getInstance(h.db, r.uuid))!)));
    assert.deepEqual(castSpec(cast).instanceUuids, all.map((r) => r.uuid));

    const resv = await call(h, h.member, 'POST', '/v2.1/servers', serverBody(h, { return_reservation_id: true, max_count: 2 }));
    assert.equal(resv.status, 202);
    assert.match(resv.body.reservation_id, /^r-[0-9a-z]{8}$/);
    const listed = await call(h, h.member, 'GET', `/v2.1/servers?reservation_id=${resv.body.reservation_id}`);
    assert.equal(listed.body.servers.length, 2);
  });
});

describe('POST /servers quota', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h.close());

  it('accepts exactly 10 of 50 parallel creates under an instances quota of 10; the rest get 403', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => call(h, h.member, 'POST', '/v2.1/servers', serverBody(h))));
    const accepted = results.filter((r) => r.status === 202);
    const refused = results.filter((r) => r.status === 403);
    assert.equal(accepted.length, 10);
    assert.equal(refused.length, 40);
    assert.equal(refused[0]!.body.forbidden.message, 'Quota exceeded for instances: Requested 1, but already used 10 of 10 instances');
    const live = await h.db.selectFrom('instances').select('uuid').where('project_id', '=', h.member.projectId).where('deleted', '=', 0).execute();
    assert.equal(live.length, 10);
    // another project is not affected
    assert.equal((await call(h, h.other, 'POST', '/v2.1/servers', serverBody(h))).status, 202);
  });

  it('counts cores and RAM, takes the project\'s own limits, and fits a min..max request to what is left', async () => {
    await setProjectLimits(h.db, h.other.projectId, { instances: 20, cores: 5, ram: -1 });
    // other already has one 1-vCPU instance: 4 cores left, flavor 2 takes 2 each
    const over = await call(h, h.other, 'POST', '/v2.1/servers', serverBody(h, { flavorRef: '2', min_count: 3 }));
    assert.equal(over.status, 403);
    assert.equal(over.body.forbidden.message, 'Quota exceeded for cores: Requested 6, but already used 1 of 5 cores');
    const fit = await call(h, h.other, 'POST', '/v2.1/servers', serverBody(h, { flavorRef: '2', min_count: 1, max_count: 5 }));
    assert.equal(fit.status, 202);
    const resv = (await instanceRow(h, fit.body.server.id)).reservation_id;
    const made = await h.db.selectFrom('instances').select('uuid').where('reservation_id', '=', resv).execute();
    assert.equal(made.length, 2);
  });

  it('refuses more metadata items than the metadata_items quota (403)', async () => {
    await setProjectLimits(h.db, h.other.projectId, { metadata_items: 2, instances: 50, cores: 50 });
    const res = await call(h, h.other, 'POST', '/v2.1/servers', serverBody(h, { metadata: { a: '1', b: '2', c: '3' } }));
    assert.equal(res.status, 403);
    assert.equal(res.body.forbidden.message, 'Maximum number of metadata items exceeds 2');
  });
});

function unwrapFirst(cast: { args: Record<string, unknown> }) {
  return castInstance({ ...cast, args: { instance: (cast.args.instances as unknown[])[0] } } as never);
}
