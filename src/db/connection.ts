import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import {
  Kysely, Migrator, PostgresAdapter, PostgresDialect, SqliteDialect,
  type CompiledQuery, type DatabaseConnection, type Dialect, type Driver, type Migration, type MigrationProvider,
  type QueryCompiler, type QueryResult, type Transaction, type TransactionBuilder, type TransactionSettings,
} from 'kysely';
import type { Config } from '../common/config.js';
import { Conflict } from '../common/errors.js';
import { OPTIONS } from '../common/options.js';
import { DatabaseUnavailable, isConnectionLoss, neverSent, retryingConnectionLoss, unavailable } from './connection-loss.js';
import type { Database } from './schema.js';
import * as m001 from './migrations/001_initial.js';
import * as m002 from './migrations/002_inventory_free_index.js';
import * as m003 from './migrations/003_token_hashes_and_lockout.js';
import * as m004 from './migrations/004_cluster_node_owners.js';
import * as m005 from './migrations/005_policy_implied_roles.js';
import * as m006 from './migrations/006_mv_servers.js';
import * as m007 from './migrations/007_mv_resources.js';
import * as m008 from './migrations/008_groups_admin.js';
import * as m009 from './migrations/009_resource_classes.js';
import * as m010 from './migrations/010_moves.js';
import * as m011 from './migrations/011_network.js';
import * as m012 from './migrations/012_identity.js';
import * as m013 from './migrations/013_catalog_credentials_tasks.js';
import * as m014 from './migrations/014_net_l3_auto_allocated.js';
import * as m015 from './migrations/015_console_auth_tokens.js';
import * as m016 from './migrations/016_baremetal.js';

export type Db = Kysely<Database>;

/** Migrations in order; expand/contract steps are separate entries. */
/**
 * Schema changes follow expand/contract. An `expand` migration only adds (tables, nullable
 * columns, indexes) so that services of the previous release keep working on it; it runs before
 * the upgrade. A `contract` migration removes what only the previous release needed; it runs
 * once every service is new. Names sort in the order they were written.
 */
export type MigrationPhase = 'expand' | 'contract';

const MIGRATIONS: Record<string, Migration & { phase: MigrationPhase }> = {
  '001_initial': { ...m001, phase: 'expand' },
  '002_inventory_free_index': { ...m002, phase: 'expand' },
  '003_token_hashes_and_lockout': { ...m003, phase: 'expand' },
  '004_cluster_node_owners': { ...m004, phase: 'expand' },
  '005_policy_implied_roles': { ...m005, phase: 'expand' },
  '006_mv_servers': { ...m006, phase: 'expand' },
  '007_mv_resources': { ...m007, phase: 'expand' },
  '008_groups_admin': { ...m008, phase: 'expand' },
  '009_resource_classes': { ...m009, phase: 'expand' },
  '010_moves': { ...m010, phase: 'expand' },
  '011_network': { ...m011, phase: 'expand' },
  '012_identity': { ...m012, phase: 'expand' },
  '013_catalog_credentials_tasks': { ...m013, phase: 'expand' },
  '014_net_l3_auto_allocated': { ...m014, phase: 'expand' },
  '015_console_auth_tokens': { ...m015, phase: 'expand' },
  '016_baremetal': { ...m016, phase: 'expand' },
};

/** Every migration's name, in the order they apply. */
export const MIGRATION_NAMES: readonly string[] = Object.keys(MIGRATIONS);

class StaticMigrations implements MigrationProvider {
  constructor(private readonly phases: MigrationPhase[]) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    return Object.fromEntries(Object.entries(MIGRATIONS).filter(([, m]) => this.phases.includes(m.phase)));
  }
}

export interface DatabaseOptions {
  /** Most connections one process holds to PostgreSQL (SQLite has one). */
  maxPoolSize?: number;
}

/** Connections per process when `[database] max_pool_size` is not set. */
export const DEFAULT_MAX_POOL_SIZE = Number(OPTIONS.database.max_pool_size.default);

/**
 * PostgreSQL URL schemes Nova's configs use: the SQLAlchemy `+driver` suffix names a Python
 * driver and means nothing here.
 */
const POSTGRES_URL = /^postgres(?:ql)?(?:\+[a-z0-9_]+)?:\/\//i;

/** Whether a connection URL names PostgreSQL (rather than SQLite). */
export function isPostgresUrl(url: string): boolean {
  return POSTGRES_URL.test(url);
}

/**
 * Opens the database named by a Nova-style URL: `sqlite:///relative/or//absolute/path`,
 * `sqlite://` (in memory), or `postgresql://user[:password]@host[:port]/dbname` (also
 * `postgres://` and `postgresql+psycopg2://`). Everything above this layer sees the same Db.
 */
export function openDatabase(url: string, opts: DatabaseOptions = {}): Db {
  if (isPostgresUrl(url)) return openPostgres(url.replace(POSTGRES_URL, 'postgresql://'), opts);
  const m = /^sqlite:\/\/(\/?)(.*)$/.exec(url);
  if (!m) throw new Error(`database: unsupported connection URL ${redact(url)}`);
  const path = m[2] === '' ? ':memory:' : m[2]!;
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  cachePreparedStatements(sqlite);
  return new RetryingKysely({ dialect: translatingErrors(new SqliteDialect({ database: sqlite })) });
}

/** Whether `db` (or a transaction of it) is on PostgreSQL: for the few spellings the two differ in. */
export function isPostgres(db: Db): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** Opens `[database] connection` with `[database] max_pool_size`. */
export function openConfiguredDatabase(config: Config): Db {
  const size = Number(config.opt('database', 'max_pool_size') ?? DEFAULT_MAX_POOL_SIZE);
  if (!Number.isInteger(size) || size < 1) throw new Error('config: [database] max_pool_size must be a positive integer');
  return openDatabase(config.str('database', 'connection'), { maxPoolSize: size });
}

// pg returns 64-bit integers (count(*), sum(), bigint columns) and numerics as strings so as
// not to lose precision; every such value here (counts, sizes in bytes) fits a double, and
// SQLite hands back numbers, so both databases give the layers above the same types.
const INT8_OID = 20;
const NUMERIC_OID = 1700;
const numericTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if ((oid === INT8_OID || oid === NUMERIC_OID) && format !== 'binary') return (v: string) => Number(v);
    return format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : pg.types.getTypeParser(oid, 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

function openPostgres(url: string, opts: DatabaseOptions): Db {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.maxPoolSize ?? DEFAULT_MAX_POOL_SIZE,
    types: numericTypes,
    application_name: 'orrery',
  });
  // A connection the server drops (restart, failover, pg_terminate_backend) must not crash the
  // process. The pool listens for errors only on its idle clients (and re-emits them here); a
  // client checked out between two statements — in a transaction, say — emits 'error' on
  // itself, which with no listener is an uncaught exception: every client gets one. The pool
  // discards a client that failed, and the next query opens a fresh connection.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = new RetryingKysely({ dialect: translatingErrors(new PostgresDialect({ pool })) });
  pools.set(db, pool);
  return db;
}

/** Each PostgreSQL database's pool, for its counts (the metrics' DB pool gauges). */
const pools = new WeakMap<Db, pg.Pool>();

/** The pool's connections (open, idle) and the queries waiting for one; null on SQLite, which has no pool. */
export function poolCounts(db: Db): { total: number; idle: number; waiting: number } | null {
  const pool = pools.get(db);
  return pool ? { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount } : null;
}

/**
 * A write that breaks a unique constraint: the row exists already. Code checks before it
 * inserts, but on PostgreSQL two transactions can both pass the check (on SQLite one process's
 * transactions never interleave), so the constraint is the last word — and the answer is the
 * same 409 on both databases rather than a 500.
 */
export class DuplicateEntry extends Conflict {
  constructor(override readonly cause: unknown) {
    super('The resource already exists: a concurrent request may have just created it.');
  }
}

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** The dialect, with unique violations raised as DuplicateEntry and connection losses survived (connection-loss.ts). */
function translatingErrors(dialect: Dialect): Dialect {
  return {
    createDriver: () => new TranslatingDriver(dialect.createDriver()),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
  };
}

/** Whether a statement only reads (repeating it after a lost connection is harmless). */
function isRead(query: CompiledQuery): boolean {
  return query.query.kind === 'SelectQueryNode' || (query.query.kind === 'RawNode' && /^\s*select\b/i.test(query.sql));
}

/**
 * A connection whose errors are translated (unique violations, connection losses). Outside a
 * transaction, a statement lost with its connection is repeated on a fresh one when that is
 * safe (connection-loss.ts); inside one, the whole transaction is repeated (Db.transaction()).
 */
class TranslatingConnection implements DatabaseConnection {
  inTransaction = false;
  /** Whether `inner` was given back already (lost, and no fresh one could be had yet). */
  private released = false;

  constructor(public inner: DatabaseConnection, private readonly driver: Driver) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (this.inTransaction) {
      try {
        return await this.inner.executeQuery<R>(query);
      } catch (err) {
        throw translate(err, false);
      }
    }
    let lost = false;
    return retryingConnectionLoss(async () => {
      if (lost) await this.replaceInner();
      try {
        return await this.inner.executeQuery<R>(query);
      } catch (err) {
        lost = isConnectionLoss(err);
        throw translate(err, !isRead(query) && !neverSent(err));
      }
    }, (err) => isRead(query) || neverSent(err));
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }

  /**
   * Gives the lost connection back (the pool discards it) and takes a fresh one, once: the
   * statement's own retries (retryingConnectionLoss) pace the attempts, so an unreachable
   * database costs one retry budget, not one per attempt.
   */
  private async replaceInner(): Promise<void> {
    await this.release().catch(() => undefined);
    this.inner = await this.driver.acquireConnection();
    this.released = false;
  }

  /** Gives `inner` back to the pool, unless it was already. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.driver.releaseConnection(this.inner);
  }
}

/** Unique violations as DuplicateEntry, connection losses as DatabaseUnavailable; anything else as it is. */
function translate(err: unknown, mayHaveApplied: boolean): unknown {
  if (isUniqueViolation(err)) return new DuplicateEntry(err);
  if (isConnectionLoss(err)) return unavailable(err, mayHaveApplied);
  return err;
}

/** Opens (or takes from the pool) a connection, trying again while the database cannot be reached: nothing was sent. */
function acquireRetrying(driver: Driver): Promise<DatabaseConnection> {
  return retryingConnectionLoss(() => driver.acquireConnection(), () => true);
}

class TranslatingDriver implements Driver {
  constructor(private readonly inner: Driver) {}

  init(): Promise<void> {
    return this.inner.init();
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    return new TranslatingConnection(await acquireRetrying(this.inner), this.inner);
  }
  async beginTransaction(c: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    try {
      await this.inner.beginTransaction(unwrapConnection(c), settings);
    } catch (err) {
      throw translate(err, false);
    }
    if (c instanceof TranslatingConnection) c.inTransaction = true;
  }
  async commitTransaction(c: DatabaseConnection): Promise<void> {
    try {
      await this.inner.commitTransaction(unwrapConnection(c));
    } catch (err) {
      // The COMMIT was sent unless the client knew its connection dead: it may have landed.
      throw translate(err, !neverSent(err));
    } finally {
      if (c instanceof TranslatingConnection) c.inTransaction = false;
    }
  }
  async rollbackTransaction(c: DatabaseConnection): Promise<void> {
    try {
      await this.inner.rollbackTransaction(unwrapConnection(c));
    } catch (err) {
      // A session that is gone has rolled back its transaction already: the error that made
      // the caller roll back is the one to report.
      if (!isConnectionLoss(err)) throw err;
    } finally {
      if (c instanceof TranslatingConnection) c.inTransaction = false;
    }
  }
  async savepoint(c: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    if (!this.inner.savepoint) throw new Error('database: savepoints are not supported');
    await this.inner.savepoint(unwrapConnection(c), name, compile);
  }
  async rollbackToSavepoint(c: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    if (!this.inner.rollbackToSavepoint) throw new Error('database: savepoints are not supported');
    await this.inner.rollbackToSavepoint(unwrapConnection(c), name, compile);
  }
  async releaseSavepoint(c: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    if (!this.inner.releaseSavepoint) throw new Error('database: savepoints are not supported');
    await this.inner.releaseSavepoint(unwrapConnection(c), name, compile);
  }
  releaseConnection(c: DatabaseConnection): Promise<void> {
    return c instanceof TranslatingConnection ? c.release() : this.inner.releaseConnection(c);
  }
  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

/**
 * Kysely whose transactions are repeated from BEGIN when their connection was lost before the
 * COMMIT was sent (the server rolled them back). Transaction bodies are database work only —
 * reads, writes and their checks — so running one again is running it as if for the first time.
 */
class RetryingKysely extends Kysely<Database> {
  override transaction(): TransactionBuilder<Database> {
    return repeatingTransactions(super.transaction());
  }
}

function repeatingTransactions(b: TransactionBuilder<Database>): TransactionBuilder<Database> {
  const wrapped = {
    execute: <T>(callback: (tx: Transaction<Database>) => Promise<T>): Promise<T> =>
      retryingConnectionLoss(() => b.execute(callback), (err) => err instanceof DatabaseUnavailable && err.outcome === 'not-applied'),
    setAccessMode: (mode: Parameters<TransactionBuilder<Database>['setAccessMode']>[0]) => repeatingTransactions(b.setAccessMode(mode)),
    setIsolationLevel: (level: Parameters<TransactionBuilder<Database>['setIsolationLevel']>[0]) => repeatingTransactions(b.setIsolationLevel(level)),
  };
  return wrapped as unknown as TransactionBuilder<Database>;
}

function unwrapConnection(c: DatabaseConnection): DatabaseConnection {
  return c instanceof TranslatingConnection ? c.inner : c;
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/** Applies every pending migration (the admin CLI's `db sync`). Safe to run from several processes at once. */
export async function migrate(db: Db, phases: MigrationPhase[] = ['expand', 'contract']): Promise<void> {
  // Contract steps land after expand steps written later than them: the order may interleave.
  const migrator = new Migrator({ db, provider: new StaticMigrations(phases), allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  // A database that does not answer is not a failed migration: say it is unreachable.
  if (error && isConnectionLoss(error)) throw unavailable(error, true);
  if (error || failed) {
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
  }
}

/** Statements kept per connection: far more than the distinct queries Orrery issues. */
const STATEMENT_CACHE_SIZE = 2000;

/**
 * Kysely prepares every statement anew, and preparing costs as much as running it: keep the
 * prepared statements by their SQL text (better-sqlite3 runs each to completion, so one
 * statement is never in use twice at once).
 */
function cachePreparedStatements(sqlite: SQLite.Database): void {
  const prepare = sqlite.prepare.bind(sqlite);
  const cache = new Map<string, SQLite.Statement>();
  sqlite.prepare = ((source: string) => {
    let stmt = cache.get(source);
    if (!stmt) {
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear();
      stmt = prepare(source);
      cache.set(source, stmt);
    }
    return stmt;
  }) as typeof sqlite.prepare;
}

/** Migrations of these phases not yet applied (a service refuses to start on a schema behind it). */
export async function pendingMigrations(db: Db, phases: MigrationPhase[] = ['expand']): Promise<string[]> {
  const all = await new Migrator({ db, provider: new StaticMigrations(phases) }).getMigrations();
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}

export { DatabaseUnavailable, isConnectionLoss } from './connection-loss.js';
