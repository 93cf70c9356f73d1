/**
 * The fake host's network plumbing (contract 1.3), in the host's own database beside its
 * guests: the NICs each guest holds (in the guest's order), the ports plugged on the host, the
 * bridges the driver made there, and a record of every VIF call — what tests look at to see
 * that the compute service plugged before spawning, unplugged after destroying, and attached
 * or detached what the user asked.
 */
import type Database from 'better-sqlite3';
import type { VifInfo } from '@orrery/virt-api';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS nics (
  uuid TEXT NOT NULL,
  port_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  vif TEXT NOT NULL,
  PRIMARY KEY (uuid, port_id)
);
CREATE TABLE IF NOT EXISTS plugs (
  uuid TEXT NOT NULL,
  port_id TEXT NOT NULL,
  bridge TEXT NOT NULL,
  PRIMARY KEY (uuid, port_id)
);
CREATE TABLE IF NOT EXISTS bridges (
  name TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS vif_calls (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  op TEXT NOT NULL,
  uuid TEXT NOT NULL,
  port_id TEXT NOT NULL
);
`;

export type VifOp = 'plugVifs' | 'unplugVifs' | 'attachInterface' | 'detachInterface';

export interface VifCall {
  id: number;
  at: number;
  op: VifOp;
  uuid: string;
  portId: string;
}

export class VifRecords {
  readonly #db: Database.Database;
  readonly #q;

  constructor(db: Database.Database) {
    this.#db = db;
    db.exec(SCHEMA);
    this.#q = {
      nics: db.prepare('SELECT vif FROM nics WHERE uuid = ? ORDER BY position, port_id'),
      nic: db.prepare('SELECT vif FROM nics WHERE uuid = ? AND port_id = ?'),
      putNic: db.prepare('INSERT OR REPLACE INTO nics (uuid, port_id, position, vif) VALUES (?, ?, ?, ?)'),
      nextPosition: db.prepare('SELECT COALESCE(MAX(position) + 1, 0) AS n FROM nics WHERE uuid = ?'),
      deleteNic: db.prepare('DELETE FROM nics WHERE uuid = ? AND port_id = ?'),
      dropNics: db.prepare('DELETE FROM nics WHERE uuid = ?'),
      plug: db.prepare('INSERT OR REPLACE INTO plugs (uuid, port_id, bridge) VALUES (?, ?, ?)'),
      unplug: db.prepare('DELETE FROM plugs WHERE uuid = ? AND port_id = ?'),
      plugged: db.prepare('SELECT port_id AS portId FROM plugs WHERE uuid = ? ORDER BY port_id'),
      bridge: db.prepare('INSERT OR IGNORE INTO bridges (name, created_at) VALUES (?, ?)'),
      bridges: db.prepare('SELECT name FROM bridges ORDER BY name'),
      record: db.prepare('INSERT INTO vif_calls (at, op, uuid, port_id) VALUES (?, ?, ?, ?)'),
      calls: db.prepare('SELECT id, at, op, uuid, port_id AS portId FROM vif_calls ORDER BY id'),
      callsOf: db.prepare('SELECT id, at, op, uuid, port_id AS portId FROM vif_calls WHERE uuid = ? ORDER BY id'),
    };
  }

  /** The NICs the guest holds, in its order. */
  nics(uuid: string): VifInfo[] {
    return (this.#q.nics.all(uuid) as Array<{ vif: string }>).map((r) => JSON.parse(r.vif) as VifInfo);
  }

  nic(uuid: string, portId: string): VifInfo | undefined {
    const r = this.#q.nic.get(uuid, portId) as { vif: string } | undefined;
    return r === undefined ? undefined : (JSON.parse(r.vif) as VifInfo);
  }

  /** The guest's NICs become exactly `ports` (a spawn, a move's arrival). */
  setNics(uuid: string, ports: readonly VifInfo[]): void {
    this.#db.transaction(() => {
      this.#q.dropNics.run(uuid);
      ports.forEach((p, i) => this.#q.putNic.run(uuid, p.id, i, JSON.stringify(p)));
    })();
  }

  /** Adds a NIC after the others (or replaces the port's, keeping its place). */
  addNic(uuid: string, port: VifInfo): void {
    this.#db.transaction(() => {
      const had = this.#q.nic.get(uuid, port.id) !== undefined;
      const position = had
        ? (this.#db.prepare('SELECT position FROM nics WHERE uuid = ? AND port_id = ?').get(uuid, port.id) as { position: number }).position
        : (this.#q.nextPosition.get(uuid) as { n: number }).n;
      this.#q.putNic.run(uuid, port.id, position, JSON.stringify(port));
    })();
  }

  /** False when the guest had no NIC of that port. */
  deleteNic(uuid: string, portId: string): boolean {
    return this.#q.deleteNic.run(uuid, portId).changes === 1;
  }

  dropNics(uuid: string): void {
    this.#q.dropNics.run(uuid);
  }

  /** Marks the port plugged on this host and its bridge made (kept when it exists). */
  plug(uuid: string, port: VifInfo, bridge: string): void {
    this.#db.transaction(() => {
      this.#q.bridge.run(bridge, Date.now());
      this.#q.plug.run(uuid, port.id, bridge);
    })();
  }

  unplug(uuid: string, portId: string): void {
    this.#q.unplug.run(uuid, portId);
  }

  /** The ports of `uuid` plugged on this host. */
  plugged(uuid: string): string[] {
    return (this.#q.plugged.all(uuid) as Array<{ portId: string }>).map((r) => r.portId);
  }

  /** The bridges the driver made on this host (never removed: the network agent owns them). */
  bridges(): string[] {
    return (this.#q.bridges.all() as Array<{ name: string }>).map((r) => r.name);
  }

  /** NICs of guests this host no longer lists, and ports still plugged: what a test calls a leak. */
  leftovers(): string[] {
    const nics = this.#db.prepare('SELECT uuid, port_id AS portId FROM nics WHERE uuid NOT IN (SELECT uuid FROM instances) ORDER BY uuid, port_id')
      .all() as Array<{ uuid: string; portId: string }>;
    const plugs = this.#db.prepare('SELECT uuid, port_id AS portId FROM plugs ORDER BY uuid, port_id').all() as Array<{ uuid: string; portId: string }>;
    return [...nics.map((n) => `nic ${n.portId} of gone guest ${n.uuid}`), ...plugs.map((p) => `port ${p.portId} of ${p.uuid} still plugged`)];
  }

  record(op: VifOp, uuid: string, portId: string): void {
    this.#q.record.run(Date.now(), op, uuid, portId);
  }

  /** Every VIF call, oldest first (of one guest when `uuid` is given). */
  calls(uuid?: string): VifCall[] {
    return (uuid === undefined ? this.#q.calls.all() : this.#q.callsOf.all(uuid)) as VifCall[];
  }
}
