// A conductor and fake compute services over one in-process bus and an in-memory database, for
// the move steps' tests: instances are rows the test inserts, guests are what the steps make.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDriver, fakeBackendPath, openFakeBackend, type FakeBackend } from '@orrery/driver-fake';
import { MemoryImageService } from '@orrery/virt-api/conformance';
import { Config } from '../../../src/common/config.js';
import { newRequestId, newUuid } from '../../../src/common/ids.js';
import { createLogger } from '../../../src/common/logging.js';
import { ComputeService } from '../../../src/compute/manager.js';
import { ConductorService } from '../../../src/conductor/conductor.js';
import { migrate, openDatabase, type Db } from '../../../src/db/connection.js';
import { getInstance, insertInstance } from '../../../src/db/instances.js';
import type { Flavor, ImageMeta, Instance } from '../../../src/objects/compute.js';
import type { RpcContext } from '../../../src/rpc/bus.js';
import { ComputeRpcApi } from '../../../src/rpc/compute-api.js';
import { InProcessBus } from '../../../src/rpc/inprocess-bus.js';

export const flavor = (rootGb = 1, name = 'm1.tiny'): Flavor => ({
  flavorid: name, name, vcpus: 1, memoryMb: 128, rootGb, ephemeralGb: 0, swap: 0, rxtxFactor: 1, isPublic: true, disabled: false, description: null, extraSpecs: {},
} as Flavor);
export const image: ImageMeta = { id: 'img-1', name: 'img', status: 'active', diskFormat: 'raw', containerFormat: 'bare', size: 1, checksum: null, minDisk: 0, minRam: 0, properties: {} };

export const ctx = (): RpcContext => ({ requestId: newRequestId(), userId: 'u1', projectId: 'p1', roles: ['admin'], isAdmin: true });

export interface Host {
  name: string;
  compute: ComputeService;
  backend: FakeBackend;
  /** Starts the host's compute service again (its guests stay on the fake back-end). */
  restart(): Promise<void>;
}

export class MoveRig {
  readonly stateDir = mkdtempSync(join(tmpdir(), 'orrery-moves-'));
  readonly db: Db = openDatabase('sqlite://');
  readonly bus = new InProcessBus();
  readonly images = new MemoryImageService();
  readonly log = createLogger('test', 'silent');
  readonly rpc = new ComputeRpcApi(this.bus, 20_000);
  readonly hosts = new Map<string, Host>();
  conductor!: ConductorService;

  private config(fake: Record<string, string>): Config {
    return new Config(undefined, {}).with({
      DEFAULT: { state_path: this.stateDir, report_interval: '0', sync_power_state_interval: '0' },
      compute: { stopped_event_delay: '0' },
      fake: { watch_interval_ms: '0', ...fake },
    });
  }

  async start(): Promise<void> {
    await migrate(this.db);
    this.conductor = new ConductorService(this.db, this.config({}), this.log, 'conductor-moves');
    await this.conductor.start(this.bus);
  }

  /** A compute service `name` with one fake node of the same name; `fake`: its [fake] options. */
  async host(name: string, fake: Record<string, string> = {}): Promise<Host> {
    const config = this.config(fake);
    const make = () => new ComputeService(this.bus, { config, host: name, log: this.log, driver: createDriver(), images: this.images });
    const h: Host = {
      name, compute: make(),
      backend: undefined as unknown as FakeBackend,
      restart: async () => {
        await h.compute.stop();
        h.compute = make();
        await h.compute.start();
      },
    };
    await h.compute.start();
    h.backend = openFakeBackend(fakeBackendPath(config.statePath('compute', name), name));
    this.hosts.set(name, h);
    return h;
  }

  /** Inserts an instance row on `host` (node of the same name); answers it as an object. */
  async instance(host: string, opts: { vmState?: string; taskState?: string | null; powerState?: number } = {}): Promise<Instance> {
    const uuid = newUuid();
    const ts = new Date().toISOString();
    const f = flavor();
    await insertInstance(this.db, {
      uuid, display_name: `mv-${uuid.slice(0, 8)}`, display_description: null, project_id: 'p1', user_id: 'u1', image_ref: image.id,
      flavor: JSON.stringify(f), flavor_id: f.flavorid, vcpus: f.vcpus, memory_mb: f.memoryMb, root_gb: f.rootGb, ephemeral_gb: 0,
      vm_state: opts.vmState ?? 'active', task_state: opts.taskState ?? null, power_state: opts.powerState ?? 1, host, node: host, node_uuid: null,
      availability_zone: null, key_name: null, key_data: null, user_data: null, hostname: 'vm', reservation_id: 'r-1',
      launch_index: 0, locked: 0, locked_by: null, config_drive: '', access_ip_v4: null, access_ip_v6: null, progress: 0,
      image_meta: JSON.stringify(image), tags: '[]', launched_at: null, terminated_at: null, created_at: ts, updated_at: ts,
      deleted_at: null, deleted: 0,
    }, {});
    return (await getInstance(this.db, uuid))!;
  }

  /** A guest of `inst` on its node, made by the step that makes one (spawn_moved_instance). */
  async guest(inst: Instance, powerOn = true): Promise<number> {
    return (await this.rpc.moveStep(ctx(), 'spawn_moved_instance', { instance: inst, image, powerOn })).powerState;
  }

  /** A migration record of `inst` (as the API creates it with its flow); answers its uuid. */
  async migration(inst: Instance, type: string, status: string, dest: string | null = null): Promise<string> {
    const uuid = newUuid();
    const ts = new Date().toISOString();
    await this.db.insertInto('migrations').values({
      uuid, instance_uuid: inst.uuid, migration_type: type, status, source_compute: inst.host, source_node: inst.node, source_node_uuid: null,
      dest_compute: dest, dest_node: dest, dest_node_uuid: null, dest_host: dest, old_flavor: null, new_flavor: null,
      memory_total: null, memory_processed: null, memory_remaining: null, disk_total: null, disk_processed: null, disk_remaining: null,
      user_id: 'u1', project_id: 'p1', created_at: ts, updated_at: ts, deleted_at: null,
    }).execute();
    return uuid;
  }

  async close(): Promise<void> {
    for (const h of this.hosts.values()) {
      await h.compute.stop();
      h.backend.close();
    }
    await this.conductor?.stop();
    await this.db.destroy();
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
