import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createComputeApp } from '../../src/api/compute-app.js';
import { TokenService } from '../../src/auth/tokens.js';
import { ImageClient } from '../../src/clients/image-client.js';
import { Config } from '../../src/common/config.js';
import { newUuid } from '../../src/common/ids.js';
import { createLogger } from '../../src/common/logging.js';
import { sleep } from '../../src/common/time.js';
import { migrate, openDatabase, type Db } from '../../src/db/connection.js';
import { createFlavor } from '../../src/db/flavors.js';
import { insertImage } from '../../src/db/images.js';
import { createImageApp } from '../../src/image/app.js';
import { unwrap } from '../../src/objects/envelope.js';
import type { Instance, RequestSpec } from '../../src/objects/compute.js';
import type { RpcMessage } from '../../src/rpc/bus.js';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';
import { CONDUCTOR_TOPIC, ConductorRpcApi } from '../../src/rpc/conductor-api.js';
import { ComputeRpcApi, computeTopic } from '../../src/rpc/compute-api.js';
import { callApi, type Session } from '../support/http.js';
import { seedTenants } from '../support/tenants.js';
import { defaultEnforcer } from '../../src/cmd/policies.js';

/**
 * The compute API (createComputeApp, every route module) on a free port over a fresh in-memory
 * database, with the real token service, the real image API beside it, and the real in-process
 * bus. Stand-ins for the conductor and one compute node record what the API casts; tests put
 * instances where a build would leave them with `placeOnNode`.
 */
export interface Cast {
  topic: string;
  method: string;
  args: Record<string, unknown>;
  requestId: string;
}

export interface Harness {
  db: Db;
  config: Config;
  url: string;
  compute: FastifyInstance;
  admin: Session;
  member: Session;
  /** A second member of `member`'s project. */
  peer: Session;
  /** A member of another project. */
  other: Session;
  /** A public active image (min_ram 0), a queued one, and one that needs 4 GB of RAM. */
  images: { active: string; queued: string; big: string; otherPrivate: string };
  /** Flavors "1" (1 vCPU, 512 MB, 1 GB) and "2" (2 vCPU, 2048 MB, 20 GB); "private" shared with nobody. */
  node: { host: string; name: string; uuid: string };
  casts: Cast[];
  /** What get_console_output answers. */
  consoleOutput: string;
  close(): Promise<void>;
}

export const ALL_CAPABILITY_TRAITS = [
  'COMPUTE_PAUSE', 'COMPUTE_SUSPEND', 'COMPUTE_REBOOT', 'COMPUTE_POWER_CONTROL', 'COMPUTE_REBUILD', 'COMPUTE_SNAPSHOT', 'COMPUTE_CONSOLE_OUTPUT',
];

export async function startHarness(configOverrides: Record<string, Record<string, string>> = {}): Promise<Harness> {
  const stateDir = mkdtempSync(join(tmpdir(), 'orrery-servers-'));
  const db = openDatabase('sqlite://');
  await migrate(db);
  const config = new Config(undefined, {}).with({ DEFAULT: { state_path: stateDir }, ...configOverrides });
  const log = createLogger('test', process.env.TEST_LOG ?? 'silent');
  const tokens = new TokenService(db, config);
  const ts = new Date().toISOString();

  const { projects, admin, member, peer, other } = await seedTenants(db, tokens);

  // flavors
  await createFlavor(db, { flavorid: '1', name: 'm1.tiny', vcpus: 1, memory_mb: 512, root_gb: 1, ephemeral_gb: 0, swap: 0, rxtx_factor: 1, is_public: 1, disabled: 0, description: null });
  await createFlavor(db, { flavorid: '2', name: 'm1.small', vcpus: 2, memory_mb: 2048, root_gb: 20, ephemeral_gb: 0, swap: 0, rxtx_factor: 1, is_public: 1, disabled: 0, description: null });
  await createFlavor(db, { flavorid: 'private', name: 'secret', vcpus: 1, memory_mb: 256, root_gb: 1, ephemeral_gb: 0, swap: 0, rxtx_factor: 1, is_public: 0, disabled: 0, description: null });

  // images (rows as an upload would leave them; the image API serves them)
  const image = async (f: { status: string; minRam?: number; owner?: string; visibility?: string; name: string }): Promise<string> => {
    const id = newUuid();
    await insertImage(db, {
      id, name: f.name, owner: f.owner ?? projects.admin, status: f.status, visibility: f.visibility ?? 'public', container_format: 'bare',
      disk_format: 'qcow2', size: f.status === 'active' ? 8192 : null, virtual_size: null, checksum: null, os_hash_algo: null,
      os_hash_value: null, min_disk: 0, min_ram: f.minRam ?? 0, protected: 0, os_hidden: 0, properties: JSON.stringify({ os_distro: 'cirros' }),
      tags: '[]', created_at: ts, updated_at: ts,
    });
    return id;
  };
  const images = {
    active: await image({ status: 'active', name: 'cirros' }),
    queued: await image({ status: 'queued', name: 'empty' }),
    big: await image({ status: 'active', name: 'big', minRam: 4096 }),
    otherPrivate: await image({ status: 'active', name: 'beta-only', owner: projects.beta, visibility: 'private' }),
  };

  // a compute host with one node in the default zone, able to do everything
  const node = { host: 'compute1', name: 'compute1', uuid: newUuid() };
  await db.insertInto('services').values({
    uuid: newUuid(), host: node.host, binary: 'nova-compute', topic: 'compute', disabled: 0, disabled_reason: null, forced_down: 0,
    last_seen_up: ts, report_count: 1, version: '1.0', created_at: ts, updated_at: ts, deleted: 0,
  }).execute();
  await db.insertInto('node_traits').values(ALL_CAPABILITY_TRAITS.map((trait) => ({ node_uuid: node.uuid, trait }))).execute();

  const imageApp = createImageApp({ db, config, tokens, log, policy: defaultEnforcer() });
  const imageUrl = await imageApp.listen({ host: '127.0.0.1', port: 0 });

  const bus = new InProcessBus(log);
  const casts: Cast[] = [];
  const h = {} as Harness;
  const record = (topic: string) => async (msg: RpcMessage): Promise<unknown> => {
    casts.push({ topic, method: msg.method, args: msg.args, requestId: msg.context.requestId });
    if (msg.method === 'get_console_output') return h.consoleOutput;
    return null;
  };
  await bus.serve(CONDUCTOR_TOPIC, record(CONDUCTOR_TOPIC));
  await bus.serve(computeTopic(node.name), record(computeTopic(node.name)));

  const compute = createComputeApp({
    db, config, log, tokens, policy: defaultEnforcer(),
    conductor: new ConductorRpcApi(bus, 5000),
    compute: new ComputeRpcApi(bus, 5000),
    images: new ImageClient(imageUrl),
  });
  const url = await compute.listen({ host: '127.0.0.1', port: 0 });

  Object.assign(h, {
    db, config, url, compute, admin, member, peer, other, images, node, casts, consoleOutput: 'login: ',
    close: async () => {
      await compute.close();
      await imageApp.close();
      await bus.close();
      await db.destroy();
      rmSync(stateDir, { recursive: true, force: true });
    },
  });
  return h;
}

/** One API call: JSON in and out, optionally at a microversion. */
export const call = callApi;

/** A create body with what every create needs. */
export function serverBody(h: Harness, extra: Record<string, unknown> = {}): { server: Record<string, unknown> } {
  return { server: { name: 'vm', imageRef: h.images.active, flavorRef: '1', ...extra } };
}

/** Creates a server through the API and returns its id. */
export async function createServer(h: Harness, who: Session, extra: Record<string, unknown> = {}, microversion?: string): Promise<string> {
  const res = await call(h, who, 'POST', '/v2.1/servers', serverBody(h, extra), microversion);
  if (res.status !== 202) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.server.id as string;
}

/** Puts an instance where a successful build leaves it: ACTIVE on the harness node. */
export async function placeOnNode(h: Harness, uuid: string, state: { vm_state?: string; task_state?: string | null; power_state?: number } = {}): Promise<void> {
  await h.db.updateTable('instances').set({
    host: h.node.host, node: h.node.name, node_uuid: h.node.uuid, availability_zone: 'nova',
    vm_state: state.vm_state ?? 'active', task_state: state.task_state ?? null, power_state: state.power_state ?? 1,
    launched_at: new Date().toISOString(),
  }).where('uuid', '=', uuid).execute();
}

/** Creates a server and places it: an ACTIVE instance. */
export async function activeServer(h: Harness, who: Session, extra: Record<string, unknown> = {}): Promise<string> {
  const id = await createServer(h, who, extra);
  await placeOnNode(h, id);
  return id;
}

export async function instanceRow(h: Harness, uuid: string) {
  return h.db.selectFrom('instances').selectAll().where('uuid', '=', uuid).executeTakeFirstOrThrow();
}

/** Waits (bounded) until the casts include one matching `pred`; casts are delivered on a later tick. */
export async function waitForCast(h: Harness, pred: (c: Cast) => boolean): Promise<Cast> {
  for (let i = 0; i < 200; i++) {
    const hit = h.casts.find(pred);
    if (hit) return hit;
    await sleep(5);
  }
  throw new Error('the expected cast never arrived');
}

export function castInstance(c: Cast): Instance {
  return unwrap<Instance>(c.args.instance, 'Instance');
}

export function castSpec(c: Cast): RequestSpec {
  return unwrap<RequestSpec>(c.args.request_spec, 'RequestSpec');
}
