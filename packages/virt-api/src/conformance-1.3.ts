/**
 * The conformance checks of contract 1.3's VIF calls. They apply only to a driver that agrees
 * 1.3 (the interface checks only to one declaring interfaceAttach). The ports are the
 * fixture's (samplePorts: e.g. bridges a libvirt host can make) or made up here; what a guest
 * holds is seen from outside the driver when the fixture can tell (guestMacs).
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Harness } from './conformance.js';
import { expectCode, must, refOf, Skip, type Check } from './conformance-steps.js';
import { PowerState, type InstanceRef } from './contract.js';
import { agreeContract, atLeast, requiredMethods } from './version.js';
import { bridgeNameOf, tapNameOf, type VifInfo } from './vifs.js';

/** The agreement is 1.3 or later; Skip otherwise. */
function agrees13(h: Harness): void {
  let version: string;
  try {
    version = agreeContract(h.driver.version()).version;
  } catch (err) {
    throw new Skip(`no agreed contract (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!atLeast(version, '1.3')) throw new Skip(`the driver agrees contract ${version}`);
}

/** `n` ports on one made-up network, as the network service would bind them (linuxbridge). */
export function sampleVifs(n: number, networkId: string = randomUUID()): VifInfo[] {
  return Array.from({ length: n }, (_, i) => {
    const id = randomUUID();
    const mac = `fa:16:3e:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
    return {
      id, mac, networkId, fixedIps: [`10.253.0.${10 + i}`], mtu: 1450, bridge: bridgeNameOf(networkId), devName: tapNameOf(id),
      vifType: 'bridge' as const, subnets: [{ cidr: '10.253.0.0/24', gateway: '10.253.0.1', version: 4 as const }],
    };
  });
}

function portsFor(h: Harness, n: number): VifInfo[] {
  return h.fixture.samplePorts?.(n) ?? sampleVifs(n);
}

/** The MACs the guest holds, seen from outside; undefined when the fixture cannot tell. */
async function macsOf(h: Harness, ref: InstanceRef): Promise<string[] | undefined> {
  const macs = await h.inst.guestMacs?.(ref);
  return macs?.map((m) => m.toLowerCase());
}

export const CHECKS_1_3: Check[] = [
  {
    name: '1.3: the VIF calls of the agreed contract (and of interfaceAttach when declared) are there',
    async run(h) {
      agrees13(h);
      const a = agreeContract(h.driver.version());
      const d = h.driver as unknown as Record<string, unknown>;
      const missing = requiredMethods(a, h.caps).filter((m) => typeof d[m] !== 'function');
      assert.deepEqual(missing, [], `methods of contract ${a.version}${h.caps.interfaceAttach ? ' with interfaceAttach' : ''}`);
    },
  },
  {
    name: '1.3: plugVifs before spawn and unplugVifs after destroy are idempotent; the guest holds its ports in order',
    async run(h) {
      agrees13(h);
      const ports = portsFor(h, 2);
      const s = h.spec();
      s.network = { ports };
      const ref = refOf(s);
      await must(h.driver.unplugVifs!(ref, ports), 'unplugVifs() of ports never plugged');
      await must(h.driver.plugVifs!(ref, ports), 'plugVifs() before spawn');
      await must(h.driver.plugVifs!(ref, ports), 'a second plugVifs()');
      await must(h.spawn(s), 'spawn() with two ports');
      const macs = await macsOf(h, ref);
      if (macs) assert.deepEqual(macs, ports.map((p) => p.mac), 'the guest NICs after spawn, in order');
      await must(h.driver.plugVifs!(ref, ports), 'plugVifs() of a running guest (a host restart)');
      await h.expectState(ref, PowerState.RUNNING, 'plugVifs() of a running guest');
      await h.driver.destroy(ref);
      await must(h.driver.unplugVifs!(ref, ports), 'unplugVifs() after destroy');
      await must(h.driver.unplugVifs!(ref, ports), 'a second unplugVifs()');
      await h.assertNoLeaks([s.uuid]);
    },
  },
  {
    name: '1.3 interfaceAttach: attach and detach on a running guest are idempotent and seen by the guest',
    async run(h) {
      agrees13(h);
      if (h.caps.interfaceAttach !== true) throw new Skip('capability interfaceAttach not declared');
      const [first, second] = portsFor(h, 2) as [VifInfo, VifInfo];
      const s = h.spec();
      s.network = { ports: [first] };
      const ref = refOf(s);
      await h.driver.plugVifs!(ref, [first]);
      await h.spawn(s);
      await must(h.driver.plugVifs!(ref, [second]), 'plugVifs() of the port to attach');
      await must(h.driver.attachInterface!(ref, second), 'attachInterface()');
      await must(h.driver.attachInterface!(ref, second), 'a second attachInterface() of the same port');
      let macs = await macsOf(h, ref);
      if (macs) assert.deepEqual(macs, [first.mac, second.mac], 'the guest NICs after attach');
      await h.expectState(ref, PowerState.RUNNING, 'attachInterface()');
      await must(h.driver.detachInterface!(ref, second), 'detachInterface()');
      await must(h.driver.detachInterface!(ref, second), 'a second detachInterface() of the same port');
      macs = await macsOf(h, ref);
      if (macs) assert.deepEqual(macs, [first.mac], 'the guest NICs after detach');
      await h.expectState(ref, PowerState.RUNNING, 'detachInterface()');
      await h.driver.destroy(ref);
      await h.driver.unplugVifs!(ref, [first, second]);
      const missing = refOf(h.spec());
      await expectCode(h.driver.attachInterface!(missing, second), 'InstanceNotFound', 'attachInterface() to a missing instance');
      await expectCode(h.driver.detachInterface!(missing, second), 'InstanceNotFound', 'detachInterface() from a missing instance');
      await h.assertNoLeaks([s.uuid]);
    },
  },
  {
    name: '1.3: without interfaceAttach, the interface calls raise NotSupported',
    async run(h) {
      agrees13(h);
      if (h.caps.interfaceAttach === true) throw new Skip('capability interfaceAttach declared');
      const d = h.driver;
      if (typeof d.attachInterface !== 'function' && typeof d.detachInterface !== 'function') throw new Skip('the driver has no interface calls');
      const s = await h.spawn();
      const [port] = portsFor(h, 1) as [VifInfo];
      if (d.attachInterface) await expectCode(d.attachInterface(refOf(s), port), 'NotSupported', 'attachInterface() undeclared');
      if (d.detachInterface) await expectCode(d.detachInterface(refOf(s), port), 'NotSupported', 'detachInterface() undeclared');
      await d.destroy(refOf(s));
    },
  },
];
