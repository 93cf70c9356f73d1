// The image service handed to drivers raises the contract's typed errors (1.1), not HTTP
// statuses: against a real image API, and one that cannot be reached.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isDriverError } from '@orrery/virt-api';
import { IdentityClient } from '../../src/clients/identity-client.js';
import { ImageClient } from '../../src/clients/image-client.js';
import { newUuid } from '../../src/common/ids.js';
import { driverImageService, typedImageService } from '../../src/compute/image-service.js';
import { api, login, startTestCloud, type TestCloud } from '../support/cloud.js';

describe('the image service drivers are handed', () => {
  let cloud: TestCloud;
  let identity: IdentityClient;
  let tinyId: string;

  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: '' } });
    identity = IdentityClient.fromConfig(cloud.config, `${cloud.urls.identity}/v3`);
    const admin = await login(cloud, 'admin', 'secret', 'admin');
    tinyId = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
  });
  after(async () => {
    await cloud?.close();
  });

  it('streams an image that exists', async () => {
    let bytes = 0;
    for await (const chunk of await driverImageService(identity).download(tinyId)) bytes += chunk.length;
    assert.ok(bytes > 0);
  });

  it('raises ImageNotFound for an image that does not exist, from download() itself', async () => {
    const images = driverImageService(identity);
    const missing = newUuid();
    const err = await images.download(missing).catch((e: unknown) => e);
    assert.ok(isDriverError(err, 'ImageNotFound'), String(err));
    assert.match((err as Error).message, new RegExp(`download image ${missing}`));
    assert.ok(isDriverError(await images.upload(missing, new Uint8Array(4)).catch((e: unknown) => e), 'ImageNotFound'));
  });

  it('raises ImageError for a refusal about the image (an upload to one that has its data)', async () => {
    const err = await driverImageService(identity).upload(tinyId, new Uint8Array(4)).catch((e: unknown) => e);
    assert.ok(isDriverError(err, 'ImageError'), String(err));
  });

  it('raises ImageServiceUnavailable when the image API cannot be reached', async () => {
    const images = typedImageService(new ImageClient('http://127.0.0.1:9', identity));
    const err = await images.download(tinyId).catch((e: unknown) => e);
    assert.ok(isDriverError(err, 'ImageServiceUnavailable'), String(err));
    assert.ok(isDriverError(await images.upload(tinyId, new Uint8Array(4)).catch((e: unknown) => e), 'ImageServiceUnavailable'));
  });
});
