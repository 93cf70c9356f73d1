/**
 * The fake back-end's record of the moves under way (contract 1.2), in the host's own database
 * beside its guests: what a step kept or set aside, so that the next step — on this host, after
 * a restart, or run again by a conductor that died — finds it. One row per (migration, role).
 */
import type Database from 'better-sqlite3';
import type { FakeInstance } from './backend.js';

/**
 * source:      a cold move's guest kept on its source host (no longer listed) until confirm or revert.
 * aside:       a resize on the same node: the guest as it was, until confirm or revert.
 * live-dest:   a live migration's destination, made ready by preLiveMigration (state prepared → arrived).
 * live-source: what a live migration left on its source, until postLiveMigrationAtSource.
 */
export type MoveRole = 'source' | 'aside' | 'live-dest' | 'live-source';

export interface MoveRecord {
  migrationId: string;
  role: MoveRole;
  uuid: string;
  node: string;
  /** Where the step reached (per role: kept, aside, finished, restored, prepared, arrived, migrated). */
  state: string;
  /** The guest as kept or set aside, when the role keeps one. */
  row: FakeInstance | null;
  createdAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS moves (
  migration_id TEXT NOT NULL,
  role TEXT NOT NULL,
  uuid TEXT NOT NULL,
  node TEXT NOT NULL,
  state TEXT NOT NULL,
  row TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (migration_id, role)
);
`;

interface Stored extends Omit<MoveRecord, 'row'> {
  row: string | null;
}

const COLUMNS = 'migration_id AS migrationId, role, uuid, node, state, row, created_at AS createdAt';
const parse = (r: Stored): MoveRecord => ({ ...r, row: r.row === null ? null : (JSON.parse(r.row) as FakeInstance) });

export class MoveRecords {
  readonly #q;

  constructor(db: Database.Database) {
    db.exec(SCHEMA);
    this.#q = {
      get: db.prepare(`SELECT ${COLUMNS} FROM moves WHERE migration_id = ? AND role = ?`),
      put: db.prepare(`INSERT OR REPLACE INTO moves (migration_id, role, uuid, node, state, row, created_at)
        VALUES (@migrationId, @role, @uuid, @node, @state, @row, @createdAt)`),
      delete: db.prepare('DELETE FROM moves WHERE migration_id = ? AND role = ?'),
      list: db.prepare(`SELECT ${COLUMNS} FROM moves ORDER BY created_at, migration_id, role`),
    };
  }

  get(migrationId: string, role: MoveRole): MoveRecord | undefined {
    const r = this.#q.get.get(migrationId, role) as Stored | undefined;
    return r === undefined ? undefined : parse(r);
  }

  /** Writes a record whole (a step reached). */
  put(rec: Omit<MoveRecord, 'createdAt'> & { createdAt?: number }): void {
    this.#q.put.run({ ...rec, row: rec.row === null ? null : JSON.stringify(rec.row), createdAt: rec.createdAt ?? Date.now() });
  }

  /** Removes a record; false when there was none. */
  delete(migrationId: string, role: MoveRole): boolean {
    return this.#q.delete.run(migrationId, role).changes === 1;
  }

  /** Every record, oldest first: what tests look at for leaks. */
  list(): MoveRecord[] {
    return (this.#q.list.all() as Stored[]).map(parse);
  }
}
