/**
 * The fake hypervisor's state: a small SQLite database per compute host, outside the compute
 * process. The driver and tests open it alike, so a test can change a guest "behind
 * Orrery's back" or arm a fault in a running cloud. Every per-instance statement is prepared
 * once and keyed by primary key, so an operation costs O(1) however many guests there are.
 */
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { PowerState, type DriverErrorCode, type DriverMethod } from '@orrery/virt-api';
import { MoveRecords } from './move-records.js';
import { VifRecords } from './vif-records.js';

/**
 * error: the call raises `code` (default BackendUnavailable).
 * hang:  the call never returns; after delayMs (if set) it raises Timeout.
 * delay: the call waits delayMs, then works.
 * lose:  the call works, then the instance vanishes from the back-end.
 * crash: the call throws a plain Error, as a driver bug would (the guard makes it DriverFault).
 */
export type FaultKind = 'error' | 'hang' | 'delay' | 'lose' | 'crash';

export interface FaultSpec {
  /** The driver method it hits, or '*' for all of them. */
  op: DriverMethod | '*';
  kind?: FaultKind;
  code?: DriverErrorCode;
  message?: string;
  delayMs?: number | null;
  /** Only calls about this node / instance. */
  node?: string | null;
  uuid?: string | null;
  /** How many calls it hits (default 1); null: every call until cleared. */
  times?: number | null;
}

export interface Fault {
  id: number;
  op: DriverMethod | '*';
  kind: FaultKind;
  code: DriverErrorCode;
  message: string | null;
  delayMs: number | null;
  node: string | null;
  uuid: string | null;
  times: number | null;
}

export interface FakeInstance {
  uuid: string;
  node: string;
  name: string;
  powerState: PowerState;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  /** The root disk alone (diskGb less the ephemeral disk): a resize may grow it, never shrink it. */
  rootGb: number;
  imageId: string;
  projectId: string;
  createdAt: number;
  updatedAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS nodes (
  name TEXT PRIMARY KEY,
  uuid TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS instances (
  uuid TEXT PRIMARY KEY,
  node TEXT NOT NULL,
  name TEXT NOT NULL,
  power_state INTEGER NOT NULL,
  vcpus INTEGER NOT NULL,
  memory_mb INTEGER NOT NULL,
  disk_gb INTEGER NOT NULL,
  root_gb INTEGER,
  image_id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  host TEXT NOT NULL,
  op TEXT NOT NULL,
  node TEXT,
  uuid TEXT
);
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS spawns (
  uuid TEXT NOT NULL,
  node TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS faults (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  op TEXT NOT NULL,
  kind TEXT NOT NULL DEFAULT 'error',
  code TEXT NOT NULL DEFAULT 'BackendUnavailable',
  message TEXT,
  delay_ms INTEGER,
  node TEXT,
  uuid TEXT,
  times INTEGER
);
`;

const INSTANCE_COLUMNS = `uuid, node, name, power_state AS powerState, vcpus, memory_mb AS memoryMb, disk_gb AS diskGb,
  COALESCE(root_gb, disk_gb) AS rootGb, image_id AS imageId, project_id AS projectId, created_at AS createdAt, updated_at AS updatedAt`;
const FAULT_COLUMNS = 'id, op, kind, code, message, delay_ms AS delayMs, node, uuid, times';

function prepare(db: Database.Database) {
  return {
    insertNode: db.prepare('INSERT OR IGNORE INTO nodes (name, uuid) VALUES (?, ?)'),
    nodes: db.prepare('SELECT name, uuid FROM nodes'),
    deleteNode: db.prepare('DELETE FROM nodes WHERE name = ?'),
    hasNode: db.prepare('SELECT 1 FROM nodes WHERE name = ?'),
    findStatusFault: db.prepare(`SELECT ${FAULT_COLUMNS} FROM faults
      WHERE op = 'status' OR (op = '*' AND times IS NULL) ORDER BY id LIMIT 1`),
    insert: db.prepare(`INSERT OR IGNORE INTO instances
      (uuid, node, name, power_state, vcpus, memory_mb, disk_gb, root_gb, image_id, project_id, created_at, updated_at)
      VALUES (@uuid, @node, @name, @powerState, @vcpus, @memoryMb, @diskGb, @rootGb, @imageId, @projectId, @createdAt, @updatedAt)`),
    put: db.prepare(`INSERT OR REPLACE INTO instances
      (uuid, node, name, power_state, vcpus, memory_mb, disk_gb, root_gb, image_id, project_id, created_at, updated_at)
      VALUES (@uuid, @node, @name, @powerState, @vcpus, @memoryMb, @diskGb, @rootGb, @imageId, @projectId, @createdAt, @updatedAt)`),
    get: db.prepare(`SELECT ${INSTANCE_COLUMNS} FROM instances WHERE uuid = ?`),
    list: db.prepare(`SELECT ${INSTANCE_COLUMNS} FROM instances`),
    setPower: db.prepare('UPDATE instances SET power_state = ?, updated_at = ? WHERE uuid = ?'),
    setImage: db.prepare('UPDATE instances SET image_id = ?, power_state = ?, updated_at = ? WHERE uuid = ?'),
    delete: db.prepare('DELETE FROM instances WHERE uuid = ?'),
    insertFault: db.prepare(`INSERT INTO faults (op, kind, code, message, delay_ms, node, uuid, times)
      VALUES (@op, @kind, @code, @message, @delayMs, @node, @uuid, @times)`),
    findFault: db.prepare(`SELECT ${FAULT_COLUMNS} FROM faults
      WHERE op IN (?, '*') AND (node IS NULL OR node = ?) AND (uuid IS NULL OR uuid = ?) ORDER BY id LIMIT 1`),
    useFault: db.prepare('UPDATE faults SET times = times - 1 WHERE id = ?'),
    deleteFault: db.prepare('DELETE FROM faults WHERE id = ?'),
    faults: db.prepare(`SELECT ${FAULT_COLUMNS} FROM faults ORDER BY id`),
    recordSpawn: db.prepare('INSERT INTO spawns (uuid, node, at) VALUES (?, ?, ?)'),
    spawnCounts: db.prepare('SELECT uuid, COUNT(*) AS n FROM spawns GROUP BY uuid'),
    nodeInventories: db.prepare('SELECT name, uuid, inventory FROM nodes ORDER BY name'),
    addNode: db.prepare('INSERT OR IGNORE INTO nodes (name, uuid, inventory) VALUES (?, ?, ?)'),
    setNodeInventory: db.prepare('UPDATE nodes SET inventory = ? WHERE name = ?'),
    recordCall: db.prepare('INSERT INTO calls (at, host, op, node, uuid) VALUES (?, ?, ?, ?, ?)'),
    calls: db.prepare('SELECT id, at, host, op, node, uuid FROM calls ORDER BY id'),
    getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
    setMeta: db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)'),
  };
}

/** Where the fake driver of `host` keeps its database. */
export function fakeBackendPath(stateDir: string, host: string): string {
  return join(stateDir, `fake-${host.replace(/[^A-Za-z0-9._-]/g, '_')}.sqlite`);
}

/** Opens (creating if needed) a fake back-end database. Close it when done. */
export function openFakeBackend(path: string): FakeBackend {
  return new FakeBackend(path);
}

export class FakeBackend {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #q: ReturnType<typeof prepare>;
  /** The moves under way on this back-end (move-records.ts). */
  readonly moves: MoveRecords;
  /** The host's network plumbing and the guests' NICs (vif-records.ts, contract 1.3). */
  readonly vifs: VifRecords;

  constructor(path: string) {
    this.path = path;
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(SCHEMA);
    // Per-node inventory (cluster mode: nodes added and resized at run time) came after the
    // first files were written: added to a file that lacks it.
    const columns = this.#db.prepare('PRAGMA table_info(nodes)').all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === 'inventory')) this.#db.exec('ALTER TABLE nodes ADD COLUMN inventory TEXT');
    // Likewise the root disk's own size (moves, contract 1.2): a guest of an older file has disk_gb as its root.
    const instanceColumns = this.#db.prepare('PRAGMA table_info(instances)').all() as Array<{ name: string }>;
    if (!instanceColumns.some((c) => c.name === 'root_gb')) this.#db.exec('ALTER TABLE instances ADD COLUMN root_gb INTEGER');
    this.#q = prepare(this.#db);
    this.moves = new MoveRecords(this.#db);
    this.vifs = new VifRecords(this.#db);
  }

  /** Runs `fn` in one transaction (nested: a savepoint). */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  // nodes

  /** Gives each named node a UUID the first time it is seen; returns name → uuid for all of them. */
  ensureNodes(names: string[]): Map<string, string> {
    this.#db.transaction(() => {
      for (const name of names) this.#q.insertNode.run(name, randomUUID());
    })();
    return new Map((this.#q.nodes.all() as Array<{ name: string; uuid: string }>).map((r) => [r.name, r.uuid]));
  }

  listNodes(): Array<{ name: string; uuid: string }> {
    return this.#q.nodes.all() as Array<{ name: string; uuid: string }>;
  }

  /** Every node with its own inventory (resource class → total), null where the configuration's applies. */
  nodeInventories(): Array<{ name: string; uuid: string; inventory: Record<string, number> | null }> {
    return (this.#q.nodeInventories.all() as Array<{ name: string; uuid: string; inventory: string | null }>)
      .map((r) => ({ name: r.name, uuid: r.uuid, inventory: r.inventory === null ? null : (JSON.parse(r.inventory) as Record<string, number>) }));
  }

  /** Adds a node (a machine joining the pool) with its own inventory; false when the name exists. */
  addNode(name: string, inventory: Record<string, number> | null): boolean {
    return this.#q.addNode.run(name, randomUUID(), inventory === null ? null : JSON.stringify(inventory)).changes === 1;
  }

  /** Gives a node a new inventory (resized); false when there is no such node. */
  setNodeInventory(name: string, inventory: Record<string, number>): boolean {
    return this.#q.setNodeInventory.run(JSON.stringify(inventory), name).changes === 1;
  }

  /**
   * Runs `seed` once in the life of this file, atomically with recording that it ran: several
   * compute processes starting over one shared file seed it exactly once, and a node removed
   * later is not brought back by a restart.
   */
  seedOnce(key: string, seed: () => void): void {
    this.#db.transaction(() => {
      if (this.#q.getMeta.get(key) !== undefined) return;
      seed();
      this.#q.setMeta.run(key, String(Date.now()));
    }).immediate();
  }

  /** The call record (cluster mode): one row per back-end call that names a node or an instance. */
  recordCall(host: string, op: string, node: string | null, uuid: string | null): void {
    this.#q.recordCall.run(Date.now(), host, op, node, uuid);
  }

  calls(): Array<{ id: number; at: number; host: string; op: string; node: string | null; uuid: string | null }> {
    return this.#q.calls.all() as Array<{ id: number; at: number; host: string; op: string; node: string | null; uuid: string | null }>;
  }

  hasNode(name: string): boolean {
    return this.#q.hasNode.get(name) !== undefined;
  }

  /**
   * Takes a node off the back-end (out of band, from a test): the driver stops reporting it and
   * emits a node event. Configured nodes come back (with a new UUID) when the driver next starts.
   */
  removeNode(name: string): boolean {
    return this.#q.deleteNode.run(name).changes === 1;
  }

  // instances

  /** Inserts a guest; false when the uuid already exists. */
  insertInstance(row: FakeInstance): boolean {
    return this.#q.insert.run(row).changes === 1;
  }

  /** Writes a guest whole, replacing the one of the same uuid (a move's arrival or restore). */
  putInstance(row: FakeInstance): void {
    this.#q.put.run(row);
  }

  getInstance(uuid: string): FakeInstance | undefined {
    return this.#q.get.get(uuid) as FakeInstance | undefined;
  }

  listInstances(): FakeInstance[] {
    return this.#q.list.all() as FakeInstance[];
  }

  /** Sets a guest's power state (out of band, when a test calls it); false when it does not exist. */
  setPowerState(uuid: string, state: PowerState): boolean {
    return this.#q.setPower.run(state, Date.now(), uuid).changes === 1;
  }

  setImage(uuid: string, imageId: string, state: PowerState): boolean {
    return this.#q.setImage.run(imageId, state, Date.now(), uuid).changes === 1;
  }

  /** Removes a guest (out of band: "lose" it); false when it did not exist. */
  deleteInstance(uuid: string): boolean {
    return this.#q.delete.run(uuid).changes === 1;
  }

  /** Every spawn call is recorded, kept even after the guest is gone: tests check none ran twice. */
  recordSpawn(uuid: string, node: string): void {
    this.#q.recordSpawn.run(uuid, node, Date.now());
  }

  /** How many times each instance was spawned. */
  spawnCounts(): Map<string, number> {
    return new Map((this.#q.spawnCounts.all() as Array<{ uuid: string; n: number }>).map((r) => [r.uuid, r.n]));
  }

  // faults

  /** Arms a fault; returns its id. */
  injectFault(f: FaultSpec): number {
    const row = {
      op: f.op,
      kind: f.kind ?? 'error',
      code: f.code ?? 'BackendUnavailable',
      message: f.message ?? null,
      delayMs: f.delayMs ?? null,
      node: f.node ?? null,
      uuid: f.uuid ?? null,
      times: f.times === undefined ? 1 : f.times,
    };
    return Number(this.#q.insertFault.run(row).lastInsertRowid);
  }

  /** The first armed fault matching a call, used up by one. */
  takeFault(op: DriverMethod, node: string | null, uuid: string | null): Fault | undefined {
    return this.#take(() => this.#q.findFault.get(op, node, uuid) as Fault | undefined);
  }

  /** The fault `find` answers, used up by one. */
  #take(find: () => Fault | undefined): Fault | undefined {
    // The common case, no fault armed, is one read of a (nearly always empty) table, no write.
    if (find() === undefined) return undefined;
    return this.#db.transaction(() => {
      const f = find();
      if (f && f.times !== null) {
        if (f.times <= 1) this.#q.deleteFault.run(f.id);
        else this.#q.useFault.run(f.id);
      }
      return f;
    }).immediate();
  }

  /**
   * The fault a status probe meets: one armed on 'status' (used up by one), or a lasting one on
   * every call ('*' until cleared, e.g. setDown). A '*' fault meant for a number of calls is left
   * to the calls it was meant for: the periodic probe must not use it up.
   */
  takeStatusFault(): Fault | undefined {
    return this.#take(() => this.#q.findStatusFault.get() as Fault | undefined);
  }

  listFaults(): Fault[] {
    return this.#q.faults.all() as Fault[];
  }

  clearFaults(): void {
    this.#db.exec('DELETE FROM faults');
  }

  /** Takes the whole back-end down (every call raises BackendUnavailable) or brings it back. */
  setDown(down: boolean): void {
    if (down) this.injectFault({ op: '*', code: 'BackendUnavailable', message: 'fake back-end is down', times: null });
    else this.#db.prepare(`DELETE FROM faults WHERE op = '*' AND kind = 'error' AND code = 'BackendUnavailable' AND times IS NULL`).run();
  }

  /** Changes whenever ANOTHER connection commits to the database (SQLite's data_version). */
  dataVersion(): number {
    return this.#db.pragma('data_version', { simple: true }) as number;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
