/**
 * Contract 1.3's VIF calls for libvirt, as Nova's linuxbridge VIF driver does them: each port
 * is `<interface type='bridge'>` with the port's tap (`target dev`) on the network's bridge,
 * libvirt making the tap when the guest starts and removing it when it stops. plugVifs makes
 * sure the bridges exist in the host's network namespace (`[libvirt] host_netns`, where
 * libvirtd runs) and never changes one that exists (the network agent owns it: its VXLAN
 * device, its address); unplugVifs removes only a tap left behind that no guest holds.
 * Interfaces attach and detach with `virsh attach-device/detach-device --live --config`.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  bridgeNameOf, InvalidState, NotSupported, PowerState, Timeout, type InstanceRef, type VifCalls, type VifInfo,
} from '@orrery/virt-api';
import { interfaceXml, nicsOf, type Nic } from './domain-xml.js';
import { CommandError, run } from './exec.js';
import { sleep, type LibvirtHost } from './host.js';

/** What `ip -j -d link show` says of a device. */
interface Link {
  ifname: string;
  flags?: string[];
  linkinfo?: { info_kind?: string };
}

const MAC_IN_LINE = /([0-9a-f]{2}(?::[0-9a-f]{2}){5})\s*$/i;

export class LibvirtVifs implements Required<VifCalls> {
  constructor(readonly h: LibvirtHost) {}

  /** `ip …` in the host's network namespace. */
  #ip(args: string[]): Promise<string> {
    const ns = this.h.requireCfg().hostNetns;
    return ns ? run('nsenter', [`--net=${ns}`, 'ip', ...args], { timeoutMs: 30_000 }) : run('ip', args, { timeoutMs: 30_000 });
  }

  async #link(name: string): Promise<Link | null> {
    try {
      const out = JSON.parse(await this.#ip(['-j', '-d', 'link', 'show', 'dev', name])) as Link[];
      return out[0] ?? null;
    } catch (err) {
      if (err instanceof CommandError && /does not exist|Cannot find device/i.test(err.stderr)) return null;
      throw err;
    }
  }

  /** The bridge exists (made, up, when missing); an existing one is left as it is. */
  async #ensureBridge(name: string): Promise<void> {
    const link = await this.#link(name);
    if (link) {
      if (link.linkinfo?.info_kind !== 'bridge') throw new NotSupported(`${name} exists on the host but is not a bridge`);
      return;
    }
    try {
      await this.#ip(['link', 'add', 'name', name, 'type', 'bridge']);
    } catch (err) {
      // The network agent may make it at the same moment.
      if (!(err instanceof CommandError && /File exists/i.test(err.stderr))) throw err;
      return;
    }
    await this.#ip(['link', 'set', 'dev', name, 'up']);
  }

  async plugVifs(_ref: InstanceRef, ports: VifInfo[]): Promise<void> {
    const bridges = new Set(ports.map((p) => p.bridge ?? bridgeNameOf(p.networkId)));
    for (const b of [...bridges].sort()) await this.#ensureBridge(b);
  }

  async unplugVifs(_ref: InstanceRef, ports: VifInfo[]): Promise<void> {
    for (const p of ports) {
      if (!p.devName) continue;
      const link = await this.#link(p.devName);
      // A tap a running QEMU holds has carrier: only one nobody holds is a leftover.
      if (!link || link.linkinfo?.info_kind !== 'tun' || !(link.flags ?? []).includes('NO-CARRIER')) continue;
      await this.#ip(['link', 'del', 'dev', p.devName]).catch((err: unknown) => {
        if (!(err instanceof CommandError && /does not exist|Cannot find device/i.test(err.stderr))) throw err;
      });
    }
  }

  /** The MACs of the domain's NICs, live (the running guest) or as defined. */
  async macs(ref: InstanceRef, live: boolean): Promise<string[]> {
    const out = await this.h.virshOn(ref.uuid, ['domiflist', ...(live ? [] : ['--inactive']), this.h.domainName(ref.uuid)]);
    return out.split('\n').map((l) => MAC_IN_LINE.exec(l.trim())?.[1]?.toLowerCase()).filter((m): m is string => m !== undefined);
  }

  /** Whether the change applies to the running guest too, and refusals of states it cannot. */
  async #where(ref: InstanceRef, what: string): Promise<{ live: boolean }> {
    const st = await this.h.status(ref);
    if (st.powerState === PowerState.SUSPENDED) {
      // A managed save restores the devices it was saved with: changing the definition would break it.
      throw new InvalidState(`cannot ${what} instance ${ref.uuid} while it is suspended`);
    }
    return { live: st.powerState === PowerState.RUNNING || st.powerState === PowerState.PAUSED };
  }

  /** `virsh <op> <domain> <file of nic's XML> <flags…>`. */
  async #device(ref: InstanceRef, op: 'attach-device', nic: Nic, flags: string[]): Promise<void> {
    const file = join(this.h.instanceDir(ref.uuid), `nic-${nic.mac.replace(/:/g, '')}.xml`); // a MAC checked by the guard: a safe name
    await writeFile(file, `${interfaceXml(nic, '')}\n`);
    try {
      await this.h.virshOn(ref.uuid, [op, this.h.domainName(ref.uuid), file, ...flags], 60_000);
    } finally {
      await rm(file, { force: true });
    }
  }

  /** `virsh detach-interface` of the bridge NIC with `mac` (libvirt finds it by type and MAC). */
  async #detach(ref: InstanceRef, mac: string, flag: '--live' | '--config'): Promise<void> {
    await this.h.virshOn(ref.uuid, ['detach-interface', this.h.domainName(ref.uuid), 'bridge', '--mac', mac, flag], 60_000);
  }

  /** libvirt.xml follows the definition (as Nova keeps it). */
  async #saveDefinition(ref: InstanceRef): Promise<void> {
    const xml = await this.h.virshOn(ref.uuid, ['dumpxml', '--inactive', this.h.domainName(ref.uuid)]);
    await writeFile(join(this.h.instanceDir(ref.uuid), 'libvirt.xml'), xml);
  }

  attachInterface(ref: InstanceRef, port: VifInfo): Promise<void> {
    return this.h.locked(ref.uuid, async () => {
      const { live } = await this.#where(ref, 'attach an interface to');
      const [nic] = nicsOf([port]) as [Nic];
      if (!nic.bridge) nic.bridge = bridgeNameOf(port.networkId);
      const mac = nic.mac.toLowerCase();
      await this.#ensureBridge(nic.bridge);
      const inConfig = (await this.macs(ref, false)).includes(mac);
      const inGuest = live ? (await this.macs(ref, true)).includes(mac) : inConfig;
      if (inConfig && inGuest) return;
      // Half attached (a call cut short) finishes only the missing half.
      const flags = inConfig ? ['--live'] : inGuest || !live ? ['--config'] : ['--config', '--live'];
      await this.#device(ref, 'attach-device', nic, flags);
      await this.#saveDefinition(ref);
    });
  }

  detachInterface(ref: InstanceRef, port: VifInfo): Promise<void> {
    return this.h.locked(ref.uuid, async () => {
      const { live } = await this.#where(ref, 'detach an interface from');
      const mac = port.mac.toLowerCase();
      if ((await this.macs(ref, false)).includes(mac)) await this.#detach(ref, mac, '--config');
      if (live) await this.#detachLive(ref, mac);
      await this.#saveDefinition(ref);
    });
  }

  /**
   * A live detach is a request to the guest (PCI hot-unplug): asked again every few seconds, as
   * Nova does, until the NIC is gone or device_detach_timeout passes.
   */
  async #detachLive(ref: InstanceRef, mac: string): Promise<void> {
    const deadline = Date.now() + this.h.requireCfg().detachTimeout * 1000;
    for (let asked = 0; ; asked++) {
      if (!(await this.macs(ref, true)).includes(mac)) return;
      if (Date.now() > deadline) throw new Timeout(`the guest of ${ref.uuid} did not release NIC ${mac} within ${this.h.requireCfg().detachTimeout} s`);
      if (asked % 10 === 0) {
        await this.#detach(ref, mac, '--live').catch((err: unknown) => {
          // Already on its way out (an earlier request), or gone between the look and the request.
          if (!/not found|no matching|already in the process of unplug|device not found/i.test(String(err))) throw err;
        });
      }
      await sleep(300);
    }
  }
}
