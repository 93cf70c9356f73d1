import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backendSkip, commandExists } from '../support/backends.js';
import { startCloudProcess, type CloudProcess } from '../support/cloud-process.js';
import { openstackJson } from '../support/openstack-cli.js';

const skip = backendSkip('the openstack CLI (python3-openstackclient)', commandExists('openstack'));

type Row = Record<string, unknown>;

/** Issue #22's done-when: `openstack image create --import` (glance-direct) reaches active with the right checksum and hash. */
describe('the openstack CLI imports an image (glance-direct)', { skip }, () => {
  let cloud: CloudProcess;
  let env: Record<string, string>;

  before(async () => {
    cloud = await startCloudProcess();
    env = cloud.openrc;
  });
  after(async () => {
    await cloud?.stop();
  });

  it('stages and imports the file, and the image becomes active with its checksum and sha512', async () => {
    const data = randomBytes(200 * 1024);
    const file = join(cloud.stateDir, 'import.img');
    writeFileSync(file, data);
    const created = await openstackJson<Row>(['image', 'create', '--import', '--file', file, '--disk-format', 'raw', '--container-format', 'bare', 'cli-imported'], env);
    assert.equal(created.name, 'cli-imported');
    // The CLI prints the image as it was created (queued); the import runs on after the command.
    assert.equal(created.status, 'queued');
    let img: Row = await openstackJson<Row>(['image', 'show', 'cli-imported'], env);
    const deadline = Date.now() + 30_000;
    while (img.status !== 'active') {
      assert.equal(img.status, 'importing', 'staged and importing, never back to queued');
      if (Date.now() > deadline) throw new Error(`still ${String(img.status)}`);
      await new Promise((r) => setTimeout(r, 200));
      img = await openstackJson<Row>(['image', 'show', 'cli-imported'], env);
    }
    assert.equal(img.size, data.length);
    assert.equal(img.checksum, createHash('md5').update(data).digest('hex'));
    // OSC 6 shows the multihash among the properties.
    const props = { ...(img.properties as Row | undefined), ...img };
    assert.equal(props.os_hash_algo, 'sha512', JSON.stringify(img));
    assert.equal(props.os_hash_value, createHash('sha512').update(data).digest('hex'));
  });
});
