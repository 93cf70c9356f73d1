import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PowerState } from '@orrery/virt-api';
import { builtEntry } from '../../harness/repo.js';
import { api, waitFor, type Session } from '../support/cloud.js';
import { startDeployment, type Deployment } from '../support/deployment.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';
import { RABBIT_URL, rabbitSkip } from '../support/rabbitmq.js';
import { bootMany, deleteAll, fakeBackendOf, listServers, loginTo, MV, raiseQuota, seededImage, waitSettled } from './support.js';

const exec = promisify(execFile);
const skip = pgSkip || (await rabbitSkip());
const TINY_MB = 512;

/**
 * The multi-process deployment on PostgreSQL and RabbitMQ: api, two conductors, two schedulers
 * and three computes as separate OS processes, with room for exactly 80 m1.tiny servers.
 */
describe('multi-process deployment', { skip }, () => {
  let pg: TestPgDatabase;
  let d: Deployment;
  let admin: Session;
  let imageId: string;

  before(async () => {
    pg = await createPgDatabase();
    d = await startDeployment({
      brokerUrl: RABBIT_URL, databaseUrl: pg.url, conductors: 2, schedulers: 2,
      ini: { DEFAULT: { ram_allocation_ratio: '1.0' } },
      computes: [27, 27, 26].map((n, i) => ({
        host: `compute${i + 1}`,
        env: { ORRERY_FAKE__MEMORY_MB: String(n * TINY_MB), ORRERY_FAKE__VCPUS: '64', ORRERY_LOG_LEVEL: 'info' },
      })),
    });
    // The schedulers log their decisions at debug level.
    admin = await loginTo(d.urls.identity);
    await raiseQuota(d, admin, 200);
    imageId = await seededImage(d, admin);
  });
  after(async () => {
    await d?.stop();
    await pg?.drop();
  });

  it('100 concurrent creates → exactly 80 ACTIVE and 20 ERROR, no node over capacity, both schedulers deciding', async () => {
    const ids = await bootMany(d, admin, 100, 's', imageId);
    const servers = await waitSettled(d, admin, ids);
    const active = servers.filter((s) => s.status === 'ACTIVE');
    const errors = servers.filter((s) => s.status === 'ERROR');
    const faults = [...new Set(errors.map((e) => e.fault?.message))].join(' | ');
    assert.equal(active.length, 80, `faults: ${faults}`);
    assert.equal(errors.length, 20);
    for (const e of errors) assert.match(e.fault!.message, /No valid host/);

    const hv = await api(admin, 'GET', `${d.urls.compute}/v2.1/os-hypervisors/detail`, undefined, MV);
    assert.equal(hv.body.hypervisors.length, 3);
    for (const h of hv.body.hypervisors) assert.ok(h.memory_mb_used <= h.memory_mb, `${h.hypervisor_hostname} over capacity`);
    assert.equal(hv.body.hypervisors.reduce((n: number, h: { running_vms: number }) => n + h.running_vms, 0), 80);

    const decisions = ['scheduler1', 'scheduler2'].map((s) => (d.service(s).output().match(/selected destination/g) ?? []).length);
    assert.ok(decisions.every((n) => n > 0), `scheduler decisions: ${decisions.join(', ')}`);
    assert.equal(decisions.reduce((a, b) => a + b, 0), 80);
  });

  it('a compute killed with SIGKILL shows as down, takes no new servers, and reconciles when restarted', async () => {
    await deleteAll(d, admin);
    const [victim] = await bootMany(d, admin, 1, 'victim', imageId, { availability_zone: 'nova:compute3' });
    const [v] = await waitSettled(d, admin, [victim!]);
    assert.equal(v!.status, 'ACTIVE');

    await d.service('compute3').stop('SIGKILL');
    // Its guest is powered off in the back-end while its compute service is down.
    const backend = fakeBackendOf(d, 'compute3');
    try {
      assert.ok(backend.setPowerState(victim!, PowerState.SHUTDOWN));
    } finally {
      backend.close();
    }
    await waitFor('compute3 to show as down', async () => {
      const r = await api(admin, 'GET', `${d.urls.compute}/v2.1/os-services?binary=nova-compute&host=compute3`, undefined, MV);
      return r.body.services[0]?.state === 'down' ? true : undefined;
    }, 30_000);

    // The admin CLI sees the same: every service, the killed one down.
    const list = await exec(process.execPath, [builtEntry('orrery'), '--config', d.configPath, 'service', 'list']);
    for (const name of ['nova-conductor', 'nova-scheduler', 'nova-compute']) assert.match(list.stdout, new RegExp(name));
    assert.match(list.stdout, /nova-compute.*compute3.*down/);
    assert.equal((list.stdout.match(/'up'/g) ?? []).length, 6, list.stdout);

    const ids = await bootMany(d, admin, 6, 'after-kill', imageId);
    const placed = await waitSettled(d, admin, ids);
    for (const s of placed) {
      assert.equal(s.status, 'ACTIVE');
      assert.notEqual(s['OS-EXT-SRV-ATTR:host'], 'compute3');
    }

    await d.service('compute3').start();
    await waitFor('compute3 to show as up', async () => {
      const r = await api(admin, 'GET', `${d.urls.compute}/v2.1/os-services?binary=nova-compute&host=compute3`, undefined, MV);
      return r.body.services[0]?.state === 'up' ? true : undefined;
    }, 30_000);
    const after = (await listServers(d, admin)).find((s) => s.id === victim)!;
    assert.equal(after.status, 'SHUTOFF');
  });
});
