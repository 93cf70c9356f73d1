import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, waitFor, type Session } from '../support/cloud.js';
import { startDeployment, type Deployment } from '../support/deployment.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';
import { RABBIT_URL, rabbitSkip } from '../support/rabbitmq.js';
import { loginTo } from '../scaleout/support.js';
import { netboot, uploadNetbootImage, type NetbootImage } from './support/netboot.js';
import { BMC_PASSWORD, BMC_USER, ipmiSimSkip, SimBmc } from '../../packages/baremetal-ipmi/test/support/ipmi-sim.js';

const skip = pgSkip || (await rabbitSkip()) || ipmiSimSkip();

/**
 * Two conductors on PostgreSQL and RabbitMQ: the one deploying a node is killed (SIGKILL) while
 * it waits for the machine; once its lock expired the other takes the node over (deploy failed,
 * last_error naming the dead conductor), cleans it and deploys it to active.
 */
describe('bare metal: a killed conductor\'s node is taken over', { skip }, () => {
  let pg: TestPgDatabase;
  let d: Deployment;
  let bmc: SimBmc;
  let admin: Session;
  let baremetal: string;
  let image: NetbootImage;
  const mac = '52:54:00:aa:bb:01';
  const headers = { 'x-openstack-ironic-api-version': '1.46' };
  const call = (method: string, path: string, body?: unknown) => api(admin, method, `${baremetal}${path}`, body, headers);

  before(async () => {
    pg = await createPgDatabase();
    bmc = await SimBmc.start();
    d = await startDeployment({
      brokerUrl: RABBIT_URL, databaseUrl: pg.url, conductors: 2, schedulers: 1, computes: [],
      ini: { baremetal: { reservation_ttl: '3', sync_power_state_interval: '0', ipmi_attempts: '1' } },
    });
    admin = await loginTo(d.urls.identity);
    const tokens = await api(null, 'POST', `${d.urls.identity}/v3/auth/tokens`, {
      auth: { identity: { methods: ['token'], token: { id: admin.token } }, scope: { project: { id: admin.projectId } } },
    });
    const catalog = tokens.body.token.catalog as Array<{ type: string; endpoints: Array<{ interface: string; url: string }> }>;
    baremetal = catalog.find((c) => c.type === 'baremetal')!.endpoints.find((e) => e.interface === 'public')!.url;
    image = await uploadNetbootImage(d.urls.image, admin);
  });
  after(async () => {
    await d?.stop();
    await bmc?.stop();
    await pg?.drop();
  });

  const node = async (uuid: string) => (await call('GET', `/v1/nodes/${uuid}`)).body;
  const resting = (uuid: string, state: string, timeoutMs = 60_000) => waitFor(`node ${state}`, async () => {
    const n = await node(uuid);
    return n.provision_state === state && n.target_provision_state === null && n.reservation === null ? n : undefined;
  }, timeoutMs);
  const provision = async (uuid: string, target: string): Promise<void> => {
    // A power sync or the last step's release may hold the lock a moment: Ironic's clients retry a 409 so.
    await waitFor(`provision ${target}`, async () => {
      const res = await call('PUT', `/v1/nodes/${uuid}/states/provision`, { target });
      if (res.status === 409) return undefined;
      assert.equal(res.status, 202, JSON.stringify(res.body));
      return true;
    });
  };
  /** The boot server of a conductor, as its start-up log line says. */
  const bootServerOf = (conductor: string): string => {
    const m = /"port":(\d+)[^\n]*bare metal boot server listening|bare metal boot server listening[^\n]*"port":(\d+)/.exec(d.service(conductor).output());
    assert.ok(m, `${conductor} logged no boot server`);
    return `http://127.0.0.1:${m[1] ?? m[2]}`;
  };

  it('deploy failed after the takeover, then cleaned and deployed by the survivor', async () => {
    const made = await call('POST', '/v1/nodes', {
      name: 'bm-takeover', driver: 'ipmi', resource_class: 'baremetal',
      driver_info: { ipmi_address: bmc.address, ipmi_port: bmc.port, ipmi_username: BMC_USER, ipmi_password: BMC_PASSWORD },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const uuid = made.body.uuid as string;
    assert.equal((await call('POST', '/v1/ports', { node_uuid: uuid, address: mac })).status, 201);
    await provision(uuid, 'manage');
    await resting(uuid, 'manageable');
    await provision(uuid, 'provide');
    await resting(uuid, 'available');
    assert.equal((await call('PATCH', `/v1/nodes/${uuid}`, [{ op: 'add', path: '/instance_info/image_source', value: image.imageId }])).status, 200);
    await provision(uuid, 'active');
    const waiting = await waitFor('wait call-back', async () => {
      const n = await node(uuid);
      return n.provision_state === 'wait call-back' && n.reservation ? n : undefined;
    });
    const holder = waiting.reservation as string;
    const survivor = holder === 'conductor1' ? 'conductor2' : 'conductor1';
    d.service(holder).signal('SIGKILL');

    const failed = await resting(uuid, 'deploy failed');
    assert.match(failed.last_error, new RegExp(`wait call-back failed: .*\\(${holder}\\).*taken over by ${survivor}`));

    await provision(uuid, 'deleted');
    const cleaned = await resting(uuid, 'available');
    assert.deepEqual(cleaned.instance_info, {});
    assert.equal((await call('PATCH', `/v1/nodes/${uuid}`, [{ op: 'add', path: '/instance_info/image_source', value: image.imageId }])).status, 200);
    await provision(uuid, 'active');
    await waitFor('wait call-back', async () => ((await node(uuid)).provision_state === 'wait call-back') || undefined);
    await netboot(bootServerOf(survivor), mac, image.kernelBytes);
    const active = await resting(uuid, 'active');
    assert.equal(active.last_error, null);
    assert.equal(bmc.powered(), true);
  });
});
