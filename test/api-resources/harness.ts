import type { FastifyInstance } from 'fastify';
import { Config } from '../../src/common/config.js';
import { newUuid } from '../../src/common/ids.js';
import { createLogger } from '../../src/common/logging.js';
import { migrate, openDatabase, type Db } from '../../src/db/connection.js';
import { TokenService } from '../../src/auth/tokens.js';
import { createApp } from '../../src/httpkit/app.js';
import { installMicroversions } from '../../src/api/microversion.js';
import { callApi, type Session } from '../support/http.js';
import { seedTenants } from '../support/tenants.js';
import { defaultEnforcer } from '../../src/cmd/policies.js';

/**
 * A compute API on a free port with just the route modules under test, over a fresh in-memory
 * database with real identity rows and real tokens: an admin and two members in two projects.
 */
export interface Harness {
  app: FastifyInstance;
  db: Db;
  config: Config;
  tokens: TokenService;
  url: string;
  admin: Session;
  member: Session;
  /** A member of another project. */
  other: Session;
  /** A second member of `member`'s project. */
  peer: Session;
  close(): Promise<void>;
}

type Register = (app: FastifyInstance, deps: { db: Db; config: Config }) => void;

export async function startHarness(modules: Register[], configOverrides: Record<string, Record<string, string>> = {}): Promise<Harness> {
  const db = openDatabase('sqlite://');
  await migrate(db);
  const config = new Config(undefined, {}).with(configOverrides);
  const tokens = new TokenService(db, config);
  const { admin, member, peer, other } = await seedTenants(db, tokens);

  const app = createApp({ name: 'compute', format: 'nova', tokens, log: createLogger('test', 'silent'), policy: { enforcer: defaultEnforcer(), style: 'nova' } });
  installMicroversions(app);
  for (const register of modules) register(app, { db, config });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    app, db, config, tokens, url, admin, member, other, peer,
    close: async () => {
      await app.close();
      await db.destroy();
    },
  };
}

/** One API call: JSON in and out, optional microversion (a bare version means compute's). */
export const call = callApi;

/** Rows the tests put in place of what compute services would report. */
export async function addComputeHost(
  db: Db, host: string, opts: { disabled?: boolean; up?: boolean; binary?: string; nodes?: number; vcpus?: number; memoryMb?: number; diskGb?: number } = {},
): Promise<{ serviceId: number; nodes: Array<{ id: number; uuid: string; name: string }> }> {
  const ts = new Date().toISOString();
  const seen = opts.up === false ? new Date(Date.now() - 3600_000).toISOString() : ts;
  await db.insertInto('services').values({
    uuid: newUuid(), host, binary: opts.binary ?? 'nova-compute', topic: 'compute', disabled: opts.disabled ? 1 : 0, disabled_reason: null,
    forced_down: 0, last_seen_up: seen, report_count: 1, version: '1.0', created_at: ts, updated_at: seen, deleted: 0,
  }).execute();
  const svc = await db.selectFrom('services').select('id').where('host', '=', host).where('binary', '=', opts.binary ?? 'nova-compute').where('deleted', '=', 0).executeTakeFirstOrThrow();
  const nodes: Array<{ id: number; uuid: string; name: string }> = [];
  if ((opts.binary ?? 'nova-compute') !== 'nova-compute') return { serviceId: svc.id, nodes };
  for (let i = 0; i < (opts.nodes ?? 1); i++) {
    const uuid = newUuid();
    const name = opts.nodes && opts.nodes > 1 ? `${host}-node${i}` : host;
    await db.insertInto('compute_nodes').values({
      uuid, host, hypervisor_hostname: name, hypervisor_type: 'fake', hypervisor_version: 1000, host_ip: '192.0.2.10',
      cpu_info: JSON.stringify({ arch: 'x86_64', model: 'Nehalem', vendor: 'Intel', topology: { sockets: 1, cores: 4, threads: 1 }, features: [] }),
      created_at: ts, updated_at: ts, deleted: 0,
    }).execute();
    const row = await db.selectFrom('compute_nodes').select('id').where('uuid', '=', uuid).executeTakeFirstOrThrow();
    const inv = [
      { resource_class: 'VCPU', total: opts.vcpus ?? 8, reserved: 0 },
      { resource_class: 'MEMORY_MB', total: opts.memoryMb ?? 16384, reserved: 512 },
      { resource_class: 'DISK_GB', total: opts.diskGb ?? 100, reserved: 0 },
    ];
    for (const r of inv) {
      await db.insertInto('inventories').values({
        node_uuid: uuid, ...r, min_unit: 1, max_unit: r.total, step_size: 1, allocation_ratio: 1, used: 0,
      }).execute();
    }
    await db.insertInto('node_traits').values([{ node_uuid: uuid, trait: 'COMPUTE_NET_ATTACH_INTERFACE' }, { node_uuid: uuid, trait: 'HW_CPU_X86_AVX' }]).execute();
    nodes.push({ id: row.id, uuid, name });
  }
  return { serviceId: svc.id, nodes };
}

/** A live instance row on a node, with its resources claimed in the inventories. */
export async function addInstance(
  db: Db, f: { projectId: string; userId: string; host?: string | null; nodeUuid?: string | null; vcpus?: number; memoryMb?: number; rootGb?: number; taskState?: string | null },
): Promise<string> {
  const uuid = newUuid();
  const ts = new Date().toISOString();
  const vcpus = f.vcpus ?? 1;
  const memoryMb = f.memoryMb ?? 512;
  const rootGb = f.rootGb ?? 1;
  await db.insertInto('instances').values({
    uuid, display_name: `vm-${uuid.slice(0, 4)}`, display_description: null, project_id: f.projectId, user_id: f.userId, image_ref: newUuid(),
    flavor: '{}', flavor_id: '1', vcpus, memory_mb: memoryMb, root_gb: rootGb, ephemeral_gb: 0, vm_state: 'active', task_state: f.taskState ?? null,
    power_state: 1, host: f.host ?? null, node: f.host ?? null, node_uuid: f.nodeUuid ?? null, availability_zone: null, key_name: null,
    key_data: null, user_data: null, hostname: 'vm', reservation_id: 'r-1', launch_index: 0, locked: 0, locked_by: null, config_drive: '',
    access_ip_v4: null, access_ip_v6: null, progress: 0, image_meta: '{}', tags: '[]', launched_at: ts, terminated_at: null,
    created_at: ts, updated_at: ts, deleted_at: null, deleted: 0,
  }).execute();
  if (f.nodeUuid) {
    for (const [rc, amount] of [['VCPU', vcpus], ['MEMORY_MB', memoryMb], ['DISK_GB', rootGb]] as const) {
      await db.updateTable('inventories').set((eb) => ({ used: eb('used', '+', amount) }))
        .where('node_uuid', '=', f.nodeUuid).where('resource_class', '=', rc).execute();
    }
  }
  return uuid;
}
