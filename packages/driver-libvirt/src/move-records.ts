/**
 * What a move step leaves for the next ones (and for a driver restarted between them): one
 * small JSON file per migration and role in `<stateDir>/moves/`, written whole (tmp + rename),
 * so a step run again after a crash finds what the first run did.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UUID } from './host.js';

/** source: the guest kept for revert (moved to another host); aside: a copy set aside on this node; live-*: a live migration. */
export type MoveRole = 'source' | 'aside' | 'live-source' | 'live-dest';

export interface MoveRecord {
  migrationId: string;
  role: MoveRole;
  uuid: string;
  state: string;
  /** Live migration: the destination shares this host's instances_path (nothing to copy or remove). */
  shared?: boolean;
  /** live-dest: what preLiveMigration answered, and the paths it made (rollback removes them). */
  target?: { node: string; data: Record<string, string> };
  created?: string[];
  /** live-dest: the images the instance boots from (its orrery.json once it arrived). */
  images?: string[];
  /** live-dest: the flavor's root_gb (kept in the instance's orrery.json once it arrived). */
  rootGb?: number;
}

export class MoveRecords {
  constructor(private readonly dir: string) {}

  #path(migrationId: string, role: MoveRole): string {
    // The migration id comes from the caller: only a UUID becomes part of a file name.
    if (!UUID.test(migrationId)) throw new Error(`libvirt driver: migration id ${JSON.stringify(migrationId)} is not a UUID`);
    return join(this.dir, `${migrationId.toLowerCase()}.${role}.json`);
  }

  async get(migrationId: string, role: MoveRole): Promise<MoveRecord | null> {
    try {
      return JSON.parse(await readFile(this.#path(migrationId, role), 'utf8')) as MoveRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async put(rec: MoveRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const path = this.#path(rec.migrationId, rec.role);
    await writeFile(`${path}.tmp`, `${JSON.stringify(rec)}\n`);
    await rename(`${path}.tmp`, path);
  }

  async delete(migrationId: string, role: MoveRole): Promise<void> {
    await rm(this.#path(migrationId, role), { force: true });
  }

  /** Scratch space of one migration (a flattened disk, a destination XML). */
  async scratch(migrationId: string, name: string): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    return `${this.#path(migrationId, 'source').slice(0, -'.source.json'.length)}.${name}`;
  }
}
