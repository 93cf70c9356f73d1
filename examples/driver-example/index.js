// orrery-driver-example: an out-of-tree Orrery driver in plain JavaScript.
//
// Its "hypervisor" is a Map, saved to a JSON file in ctx.stateDir after every change so guests
// and the node's UUID survive a restart, as the contract requires. It declares pause, reboot, power
// control and console output, and not suspend, rebuild or snapshot, so the compute service
// never calls those. Load it with:  compute_driver = ./examples/driver-example
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CapacityExceeded, InstanceExists, InstanceNotFound, InvalidState, NodeNotFound, NotSupported, PowerState,
  supportsImageFormat, transitionFor,
} from '@orrery/virt-api';

/**
 * @typedef {import('@orrery/virt-api').VirtDriver} VirtDriver
 * @typedef {import('@orrery/virt-api').DriverContext} DriverContext
 * @typedef {import('@orrery/virt-api').Capabilities} Capabilities
 * @typedef {import('@orrery/virt-api').InstanceInfo} InstanceInfo
 * @typedef {import('@orrery/virt-api').InstanceRef} InstanceRef
 * @typedef {import('@orrery/virt-api').InstanceSpec} InstanceSpec
 * @typedef {import('@orrery/virt-api').EventListener} EventListener
 */

/** @type {Capabilities} */
const CAPABILITIES = {
  pause: true,
  suspend: false,
  reboot: true,
  powerControl: true,
  rebuild: false,
  snapshot: false,
  consoleOutput: true,
  multiNode: false,
  imageFormats: ['raw', 'qcow2'],
  hypervisorType: 'example',
};

/** @implements {VirtDriver} */
export class ExampleDriver {
  /** @type {DriverContext | null} */ #ctx = null;
  #stateFile = '';
  /** @type {Map<string, InstanceInfo & { name: string }>} */ #guests = new Map();
  /** @type {Set<EventListener>} */ #listeners = new Set();
  #nodeUuid = '';
  #size = { vcpus: 8, memoryMb: 16384, diskGb: 100 };

  version() {
    return { name: 'example', driverVersion: '0.1.0', contract: { min: '1.0', max: '1.0' } };
  }

  capabilities() {
    return CAPABILITIES;
  }

  /** @param {DriverContext} ctx */
  async init(ctx) {
    this.#ctx = ctx;
    const num = (/** @type {string} */ key, /** @type {number} */ dflt) => Number(ctx.config[key] ?? dflt);
    this.#size = { vcpus: num('vcpus', 8), memoryMb: num('memory_mb', 16384), diskGb: num('disk_gb', 100) };
    // Guests and the node's UUID outlive the compute service: keep them in the state directory.
    mkdirSync(ctx.stateDir, { recursive: true });
    this.#stateFile = join(ctx.stateDir, 'example-driver.json');
    const saved = existsSync(this.#stateFile) ? JSON.parse(readFileSync(this.#stateFile, 'utf8')) : null;
    this.#nodeUuid = saved?.nodeUuid ?? randomUUID();
    this.#guests = new Map((saved?.guests ?? []).map((/** @type {InstanceInfo & { name: string }} */ g) => [g.uuid, g]));
    this.#save();
  }

  async shutdown() {}

  async listNodes() {
    const ctx = /** @type {DriverContext} */ (this.#ctx);
    const inv = (/** @type {number} */ total) => ({ total, reserved: 0, minUnit: 1, maxUnit: total, stepSize: 1, allocationRatio: null });
    return [{
      name: ctx.host,
      uuid: this.#nodeUuid,
      hypervisorType: 'example',
      hypervisorVersion: 1,
      cpuInfo: { arch: 'x86_64', model: 'example', vendor: 'example', topology: { sockets: 1, cores: this.#size.vcpus, threads: 1 }, features: [] },
      hostIp: '127.0.0.1',
      inventory: { VCPU: inv(this.#size.vcpus), MEMORY_MB: inv(this.#size.memoryMb), DISK_GB: inv(this.#size.diskGb) },
      traits: [],
    }];
  }

  async listInstances() {
    return [...this.#guests.values()].map(({ uuid, node, powerState }) => ({ uuid, node, powerState }));
  }

  /** @param {InstanceRef} ref */
  async getInstance(ref) {
    const { uuid, node, powerState } = this.#find(ref);
    return { uuid, node, powerState };
  }

  /** @param {InstanceSpec} spec */
  async spawn(spec) {
    // Check everything before creating anything: a failed spawn must leave nothing behind.
    if (spec.node !== this.#ctx?.host) throw new NodeNotFound(`node ${spec.node} is not managed here`);
    if (!supportsImageFormat(CAPABILITIES, spec.image.diskFormat)) throw new NotSupported(`cannot boot ${spec.image.diskFormat} images`);
    if (this.#guests.has(spec.uuid)) throw new InstanceExists(`instance ${spec.uuid} exists`);
    const f = spec.flavor;
    if (f.vcpus > this.#size.vcpus || f.memoryMb > this.#size.memoryMb || f.rootGb + f.ephemeralGb > this.#size.diskGb) {
      throw new CapacityExceeded(`flavor ${f.name} does not fit node ${spec.node}`);
    }
    this.#guests.set(spec.uuid, { uuid: spec.uuid, node: spec.node, name: spec.name, powerState: PowerState.NOSTATE });
    this.#set(spec.uuid, PowerState.RUNNING);
    return { uuid: spec.uuid, node: spec.node, powerState: PowerState.RUNNING };
  }

  /** @param {InstanceRef} ref */
  async destroy(ref) {
    if (this.#guests.delete(ref.uuid)) this.#save(); // idempotent: a missing guest is already destroyed
  }

  /** @param {InstanceRef} ref @param {'soft' | 'hard'} type */
  async reboot(ref, type) {
    this.#move(ref, type === 'soft' ? [PowerState.RUNNING] : null, PowerState.RUNNING);
  }

  /** @param {InstanceRef} ref */
  async powerOff(ref) {
    this.#move(ref, null, PowerState.SHUTDOWN);
  }

  /** @param {InstanceRef} ref */
  async powerOn(ref) {
    this.#move(ref, [PowerState.SHUTDOWN, PowerState.CRASHED, PowerState.RUNNING], PowerState.RUNNING);
  }

  /** @param {InstanceRef} ref */
  async pause(ref) {
    this.#move(ref, [PowerState.RUNNING], PowerState.PAUSED);
  }

  /** @param {InstanceRef} ref */
  async unpause(ref) {
    this.#move(ref, [PowerState.PAUSED], PowerState.RUNNING);
  }

  // Not declared: the guard never lets these through, but the driver still refuses them itself.
  async suspend() { throw new NotSupported('example driver cannot suspend'); }
  async resume() { throw new NotSupported('example driver cannot resume'); }
  /** @returns {Promise<InstanceInfo>} */
  async rebuild() { throw new NotSupported('example driver cannot rebuild'); }
  async snapshot() { throw new NotSupported('example driver cannot snapshot'); }

  /** @param {InstanceRef} ref */
  async getConsoleOutput(ref) {
    const g = this.#find(ref);
    return `example hypervisor: ${g.name} (${g.uuid}) is ${g.powerState === PowerState.RUNNING ? 'up' : 'down'}\n`;
  }

  /** @param {EventListener} listener */
  onEvent(listener) {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** @param {InstanceRef} ref */
  #find(ref) {
    const g = this.#guests.get(ref.uuid);
    if (!g) throw new InstanceNotFound(`instance ${ref.uuid} not found`);
    return g;
  }

  #save() {
    const tmp = `${this.#stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify({ nodeUuid: this.#nodeUuid, guests: [...this.#guests.values()] }));
    renameSync(tmp, this.#stateFile); // atomic: a crash never leaves half a file
  }

  /** @param {InstanceRef} ref @param {number[] | null} from allowed power states (null: any) @param {PowerState} to */
  #move(ref, from, to) {
    const g = this.#find(ref);
    if (from && !from.includes(g.powerState)) throw new InvalidState(`instance ${ref.uuid} is in power state ${g.powerState}`);
    this.#set(ref.uuid, to);
  }

  /** Sets a power state and tells the listeners about the transition. @param {string} uuid @param {PowerState} to */
  #set(uuid, to) {
    const g = /** @type {InstanceInfo & { name: string }} */ (this.#guests.get(uuid));
    const transition = transitionFor(g.powerState, to);
    g.powerState = to;
    this.#save();
    if (!transition) return;
    const event = { uuid, node: g.node, transition, powerState: to, at: Date.now() };
    for (const l of this.#listeners) l(event);
  }
}

/** The factory the Orrery loader calls. */
export default function createDriver() {
  return new ExampleDriver();
}
