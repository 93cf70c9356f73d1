// The ironic driver runs the contract's conformance kit against both Bare Metal APIs it serves:
// Orrery's own (the all-in-one's baremetal service, its conductor's worker, fake-hardware nodes,
// the driver authenticating to Keystone and finding the endpoint in the catalog) and a real
// Ironic (Debian's Zed ironic-api + ironic-conductor, fake-hardware, noauth, JSON-RPC), one
// started for this file. The fixture (packages/driver-ironic/test/support/kit.ts) gives each
// check nodes of a resource class of its own; it lives beside the driver and this file starts
// the back-ends, because a driver package may import nothing of the repository's test support.
import { after, before, describe } from 'node:test';
import { runConformance } from '@orrery/virt-api/conformance';
import { ironicFixture } from '../../packages/driver-ironic/test/support/kit.js';
import { login, startTestCloud, type TestCloud } from '../support/cloud.js';
import { RealIronic, realIronicSkip } from './support/real-ironic.js';

// Any UUID: fake-hardware deploys fetch no image, but Ironic refuses an image_source that is neither a UUID nor a URL.
const IMAGE = { id: '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d' };

describe("ironic driver against Orrery's Bare Metal service (fake-hardware, Keystone)", () => {
  let cloud: TestCloud | null = null;
  let token = '';
  before(async () => {
    cloud = await startTestCloud();
    token = (await login(cloud, 'admin', 'secret', 'admin')).token;
  });
  after(async () => {
    await cloud?.close();
  });
  runConformance(ironicFixture({
    name: 'Orrery, Keystone and the catalog',
    get url() {
      return cloud!.urls.baremetal;
    },
    get config() {
      return { auth_url: `${cloud!.urls.identity}/v3`, username: 'admin', password: 'secret', project_name: 'admin' };
    },
    image: IMAGE,
    // Its fake-hardware deploy cannot be made to fail, and it takes instance_info traits unchecked.
    refusesMissingTraits: false,
    headers: async () => ({ 'x-auth-token': token }),
  }));
});

const skip = realIronicSkip();
if (skip) {
  const { it } = await import('node:test');
  it('ironic driver conformance against a real Ironic', { skip }, () => {});
} else {
  describe('ironic driver against a real Ironic (fake-hardware, noauth)', () => {
    let ironic: RealIronic | null = null;
    before(async () => {
      ironic = await RealIronic.launch();
    });
    after(async () => {
      await ironic?.dispose();
    });
    runConformance(ironicFixture({
      name: 'real Ironic, noauth',
      get url() {
        return ironic!.url;
      },
      get config() {
        return { auth_type: 'noauth', endpoint_override: ironic!.url, image_formats: 'ami,raw,qcow2' };
      },
      image: IMAGE,
      refusesMissingTraits: true,
      headers: async () => ({}),
    }));
  });
}
