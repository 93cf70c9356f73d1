// The ironic driver runs the contract's conformance kit against a real Ironic (Debian's Zed
// ironic-api + ironic-conductor, fake-hardware, noauth, JSON-RPC), one started for this file.
// The fixture (packages/driver-ironic/test/support/kit.ts) gives each check nodes of its own
// resource class; it lives beside the driver and this file starts the back-end, because a
// driver package may import nothing of the repository's test support.
import { after, before, describe } from 'node:test';
import { runConformance } from '@orrery/virt-api/conformance';
import { ironicFixture } from '../../packages/driver-ironic/test/support/kit.js';
import { RealIronic, realIronicSkip } from './support/real-ironic.js';

const skip = realIronicSkip();

if (skip) {
  const { it } = await import('node:test');
  it('ironic driver conformance against a real Ironic', { skip }, () => {});
} else {
  describe('ironic driver against a real Ironic (fake-hardware)', () => {
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
      image: { id: '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d' },
      headers: async () => ({}),
    }));
  });
}
