import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKENDS, databaseFixture } from '../db/databases.js';
import {
  deleteNode, findNode, getNode, insertNode, listNodes, releaseNode, reserveNode, updateNodeIf, type BmNodeRow,
} from '../../src/db/baremetal-nodes.js';
import { countNodePorts, getPortByAddress, insertPort } from '../../src/db/baremetal-ports.js';
import { HISTORY_PER_NODE, listNodeHistory, recordNodeHistory } from '../../src/db/baremetal-history.js';
import { CredentialKeys } from '../../src/identity/credential-keys.js';
import { maskedDriverInfo, openDriverInfo, sealDriverInfo } from '../../src/baremetal/driver-info.js';

function nodeRow(over: Partial<BmNodeRow> = {}): BmNodeRow {
  return {
    uuid: randomUUID(), name: null, driver: 'fake-hardware', driver_info: '{}', driver_secrets: null, driver_secrets_key: null,
    properties: '{}', extra: '{}', resource_class: 'baremetal', provision_state: 'enroll', target_provision_state: null,
    provision_updated_at: null, power_state: null, target_power_state: null, maintenance: 0, maintenance_reason: null,
    last_error: null, instance_uuid: null, instance_info: '{}', boot_device: null, boot_device_persistent: 0,
    reservation: null, reservation_expires_at: null, created_at: new Date().toISOString(), updated_at: null, ...over,
  };
}

for (const backend of BACKENDS) {
  describe(`bare metal repositories on ${backend.kind}`, { skip: backend.skip }, () => {
    const fx = databaseFixture(backend);

    it('finds a node by uuid or name and filters the list', async () => {
      const a = nodeRow({ name: 'rack1-a' });
      const b = nodeRow({ provision_state: 'available', instance_uuid: randomUUID() });
      await insertNode(fx.db, a);
      await insertNode(fx.db, b);
      assert.equal((await findNode(fx.db, 'rack1-a'))?.uuid, a.uuid);
      assert.equal((await findNode(fx.db, a.uuid.toUpperCase()))?.uuid, a.uuid);
      assert.equal(await findNode(fx.db, 'nope'), null);
      assert.deepEqual((await listNodes(fx.db, { provision_state: 'available' }, 10)).map((n) => n.uuid), [b.uuid]);
      assert.deepEqual((await listNodes(fx.db, { associated: false }, 10)).map((n) => n.uuid), [a.uuid]);
      await assert.rejects(insertNode(fx.db, nodeRow({ name: 'rack1-a' })));
    });

    it('the node lock: one holder, renewal, expiry, release by its holder only', async () => {
      const n = nodeRow();
      await insertNode(fx.db, n);
      const t0 = new Date('2026-12-04T20:00:00Z');
      assert.equal(await reserveNode(fx.db, n.uuid, 'cond-a', 60, t0), true);
      assert.equal(await reserveNode(fx.db, n.uuid, 'cond-b', 60, t0), false);
      assert.equal(await reserveNode(fx.db, n.uuid, 'cond-a', 60, new Date(t0.getTime() + 30_000)), true);
      assert.equal(await releaseNode(fx.db, n.uuid, 'cond-b'), false);
      assert.equal((await getNode(fx.db, n.uuid))?.reservation, 'cond-a');
      // cond-a was killed: its lease (renewed at +30 s for 60 s) runs out at +90 s.
      assert.equal(await reserveNode(fx.db, n.uuid, 'cond-b', 60, new Date(t0.getTime() + 89_000)), false);
      assert.equal(await reserveNode(fx.db, n.uuid, 'cond-b', 60, new Date(t0.getTime() + 91_000)), true);
      assert.equal(await releaseNode(fx.db, n.uuid, 'cond-b'), true);
      assert.equal((await getNode(fx.db, n.uuid))?.reservation, null);
    });

    it('a transition is a compare-and-set: the second of two racing callers loses', async () => {
      const n = nodeRow({ provision_state: 'available' });
      await insertNode(fx.db, n);
      const move = { provision_state: 'deploying', target_provision_state: 'active' };
      const results = await Promise.all(fx.dbs.concat(fx.dbs).map((db) => updateNodeIf(db, n.uuid, { provision_state: 'available' }, move)));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal(await updateNodeIf(fx.db, n.uuid, { target_power_state: null }, { target_power_state: 'power on' }), true);
    });

    it('ports: unique MAC; history: recorded in order, bounded; a node delete takes both', async () => {
      const n = nodeRow();
      await insertNode(fx.db, n);
      const now = new Date().toISOString();
      await insertPort(fx.db, { uuid: randomUUID(), node_uuid: n.uuid, address: '52:54:00:12:34:56', pxe_enabled: 1, extra: '{}', created_at: now, updated_at: null });
      await assert.rejects(insertPort(fx.db, { uuid: randomUUID(), node_uuid: n.uuid, address: '52:54:00:12:34:56', pxe_enabled: 1, extra: '{}', created_at: now, updated_at: null }));
      assert.equal(await countNodePorts(fx.db, n.uuid), 1);
      const t0 = Date.parse('2026-12-04T20:00:00Z');
      for (let i = 0; i < HISTORY_PER_NODE + 3; i++) {
        await recordNodeHistory(fx.db, { node_uuid: n.uuid, event: 'power sync', severity: 'INFO', message: `step ${i}`, conductor: 'c1' }, new Date(t0 + i * 1000));
      }
      const hist = await listNodeHistory(fx.db, n.uuid, 1000);
      assert.equal(hist.length, HISTORY_PER_NODE);
      assert.equal(hist[0]!.message, 'step 3');
      assert.equal(hist.at(-1)!.message, `step ${HISTORY_PER_NODE + 2}`);
      assert.equal(await deleteNode(fx.db, n.uuid), true);
      assert.equal(await getPortByAddress(fx.db, '52:54:00:12:34:56'), null);
      assert.equal((await listNodeHistory(fx.db, n.uuid, 10)).length, 0);
    });
  });
}

describe('driver_info secrets', () => {
  it('are sealed in the row, opened for the conductor, masked for the API', () => {
    const dir = mkdtempSync(join(tmpdir(), 'orrery-bmkeys-'));
    try {
      const keys = new CredentialKeys(dir);
      const uuid = randomUUID();
      const stored = sealDriverInfo(keys, uuid, { ipmi_address: '127.0.0.1', ipmi_port: 6230, ipmi_username: 'admin', ipmi_password: 's3cr3t-pw' });
      assert.ok(!JSON.stringify(stored).includes('s3cr3t-pw'));
      assert.deepEqual(JSON.parse(stored.driver_info), { ipmi_address: '127.0.0.1', ipmi_port: 6230, ipmi_username: 'admin' });
      assert.equal(openDriverInfo(keys, uuid, stored).ipmi_password, 's3cr3t-pw');
      assert.equal(maskedDriverInfo(keys, uuid, stored).ipmi_password, '******');
      // Bound to its node: copied onto another node's row it does not open.
      assert.throws(() => openDriverInfo(keys, randomUUID(), stored));
      assert.ok(!readFileSync(join(dir, '0'), 'utf8').includes('s3cr3t-pw'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
