/**
 * The fake driver's VIF calls (contract 1.3). The fake host has no kernel devices: plugging a
 * port records it plugged and its bridge made (vif-records.ts), a guest's NICs are rows beside
 * it. Each call is idempotent, as the contract asks, and takes faults like any other call.
 */
import {
  bridgeNameOf, InstanceNotFound, NotSupported, type DriverMethod, type InstanceRef, type VifCalls, type VifInfo,
} from '@orrery/virt-api';
import type { FakeBackend } from './backend.js';

/** What the VIF calls need of the driver they belong to. */
export interface VifHost {
  backend(): FakeBackend;
  /** One back-end call about `ref`: latency, the armed fault, then `fn`. */
  op<T>(method: DriverMethod, ref: InstanceRef, fn: (b: FakeBackend) => T): Promise<T>;
  /** NotSupported when the driver is configured without interfaceAttach. */
  requireAttach(): void;
}

export class FakeVifs implements Required<VifCalls> {
  readonly #h: VifHost;

  constructor(host: VifHost) {
    this.#h = host;
  }

  plugVifs(ref: InstanceRef, ports: VifInfo[]): Promise<void> {
    return this.#h.op('plugVifs', ref, (b) => b.transaction(() => {
      for (const p of ports) {
        b.vifs.plug(ref.uuid, p, p.bridge ?? bridgeNameOf(p.networkId));
        b.vifs.record('plugVifs', ref.uuid, p.id);
      }
    }));
  }

  unplugVifs(ref: InstanceRef, ports: VifInfo[]): Promise<void> {
    return this.#h.op('unplugVifs', ref, (b) => b.transaction(() => {
      for (const p of ports) {
        b.vifs.unplug(ref.uuid, p.id);
        b.vifs.record('unplugVifs', ref.uuid, p.id);
      }
    }));
  }

  async attachInterface(ref: InstanceRef, port: VifInfo): Promise<void> {
    this.#h.requireAttach();
    return this.#h.op('attachInterface', ref, (b) => b.transaction(() => {
      this.#guest(b, ref);
      const had = b.vifs.nic(ref.uuid, port.id);
      if (had && had.mac !== port.mac) throw new NotSupported(`port ${port.id} is attached to ${ref.uuid} with another MAC (${had.mac})`);
      b.vifs.addNic(ref.uuid, port);
      b.vifs.record('attachInterface', ref.uuid, port.id);
    }));
  }

  async detachInterface(ref: InstanceRef, port: VifInfo): Promise<void> {
    this.#h.requireAttach();
    return this.#h.op('detachInterface', ref, (b) => b.transaction(() => {
      this.#guest(b, ref);
      b.vifs.deleteNic(ref.uuid, port.id);
      b.vifs.record('detachInterface', ref.uuid, port.id);
    }));
  }

  /** After a spawn or a move's arrival: the guest's NICs are the spec's ports. */
  arrived(b: FakeBackend, uuid: string, ports: readonly VifInfo[]): void {
    if (b.getInstance(uuid)) b.vifs.setNics(uuid, ports);
  }

  /** After a cleanup step (confirm, revert, post/rollback of a live move): NICs of a guest gone from here go too. */
  settled(b: FakeBackend, uuid: string): void {
    if (!b.getInstance(uuid) && !b.moves.list().some((m) => m.uuid === uuid && m.row !== null)) b.vifs.dropNics(uuid);
  }

  #guest(b: FakeBackend, ref: InstanceRef): void {
    if (!b.getInstance(ref.uuid)) throw new InstanceNotFound(`instance ${ref.uuid} not found on the fake back-end`);
  }
}
