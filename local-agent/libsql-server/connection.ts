// One SQLite connection of the server, over the `libsql` package.
//
// Two quirks of `libsql` 0.5 shape this class:
// - A statement that failed with SQLITE_BUSY/LOCKED is left active (SQLite keeps a busy VM
//   resumable, and `libsql` resets a statement only before running it again). An active VM
//   keeps its read snapshot and counts as a pending writer, even after ROLLBACK, until the JS
//   object is garbage-collected; every later write on the connection then fails with
//   SQLITE_BUSY_SNAPSHOT (or COMMIT with "SQL statements in progress"). So such statements stay
//   in the cache and are remembered as stale until they run to completion again; while any is
//   stale the connection is `tainted`, and its owner replaces it once in autocommit, unless the
//   next statement is the stale one itself: running it resets it first, which is what the
//   BUSY retry does, so a retry does not cost a new connection.
// - `Statement.run()` on a statement that returns rows steps once and leaves it active too, so
//   statements with result columns are always read to the end with `.all()`.

import Database from "libsql";
import { isBusyFamily, sqliteErrorCode } from "./errors.js";

type Statement = Database.Statement;

const STATEMENT_CACHE_SIZE = 64;
/** Page cache per connection, in KiB as SQLite takes it (negative); it grows only as pages are read. */
const CACHE_KIB = -32 * 1024;
/**
 * What a WAL file is cut back to once copied: ~1,000 pages, SQLite's checkpoint threshold. A
 * WAL larger than this holds that much written since it was last copied (checkpointer.ts).
 */
export const WAL_KEEP_BYTES = 4 * 1024 * 1024;

export class Connection {
  readonly #db: Database.Database;
  readonly #cache = new Map<string, Statement>();
  #counters: Statement | undefined;
  /** total_changes() at the last wroteSinceLastLook. */
  #seen = 0n;
  /** Statements that failed with BUSY/LOCKED and have not run to completion since. */
  readonly #stale = new Set<Statement>();
  /** The connection ran something that a later stream must not inherit (pragmas, temp objects). */
  dirty = false;
  #closed = false;

  constructor(readonly file: string) {
    this.#db = new Database(file);
    try {
      // busy_timeout 0: waiting happens asynchronously in the pipeline, never by blocking the
      // event loop. foreign_keys OFF: `libsql` turns it on by default; the sync engine needs SQLite's default.
      // cache_size: a catch-up batch touches pages all over the user table and the version rows,
      // more than SQLite's 2 MiB default holds, so each page was read again for every row on it.
      // wal_autocheckpoint 0: our commits never copy the WAL back themselves, a thread does
      // (checkpointer.ts). journal_size_limit: a catch-up's WAL of hundreds of MB is cut back
      // once it has been copied, instead of staying on disk.
      this.#db.exec(
        `PRAGMA busy_timeout=0; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF; PRAGMA cache_size=${CACHE_KIB}; PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=${WAL_KEEP_BYTES}`,
      );
    } catch (e) {
      this.#db.close();
      throw e;
    }
  }

  get inTransaction(): boolean {
    return this.#db.inTransaction;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A statement failed with BUSY/LOCKED and may be holding a stale snapshot (see the file comment). */
  get tainted(): boolean {
    return this.#stale.size > 0;
  }

  /**
   * Whether a stale statement other than the one `sql` would reuse is left: then the
   * connection must be replaced (in autocommit) before `sql` runs on it.
   */
  staleBesides(sql?: string): boolean {
    if (this.#stale.size === 0) return false;
    if (sql === undefined || this.#stale.size > 1) return true;
    const cached = this.#cache.get(sql);
    return cached === undefined || !this.#stale.has(cached);
  }

  /** A prepared statement for `sql`, from the cache when possible. Throws SQLite's prepare errors. */
  prepare(sql: string): Statement {
    const hit = this.#cache.get(sql);
    if (hit !== undefined) {
      this.#cache.delete(sql);
      this.#cache.set(sql, hit);
      return hit;
    }
    const stmt = this.#db.prepare(sql);
    if (stmt.reader) stmt.raw(true).safeIntegers(true);
    this.#cache.set(sql, stmt);
    if (this.#cache.size > STATEMENT_CACHE_SIZE) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
    return stmt;
  }

  /** Runs SQL text without parameters or results (may hold several statements). */
  exec(sql: string): void {
    this.#db.exec(sql);
  }

  /** Rows of a statement that is not cached (e.g. EXPLAIN for describe). */
  queryUncached(sql: string): unknown[][] {
    const stmt = this.#db.prepare(sql);
    if (!stmt.reader) {
      stmt.run();
      return [];
    }
    return stmt.raw(true).safeIntegers(true).all() as unknown[][];
  }

  /** total_changes(), changes(), last_insert_rowid() of the connection, exactly. */
  counters(): { total: bigint; changes: bigint; lastInsertRowid: bigint } {
    this.#counters ??= this.#db
      .prepare("SELECT total_changes(), changes(), last_insert_rowid()")
      .raw(true)
      .safeIntegers(true);
    const row = this.#counters.all()[0] as [bigint, bigint, bigint];
    return { total: row[0], changes: row[1], lastInsertRowid: row[2] };
  }

  /**
   * Whether rows were written since the last call (or since the connection opened: its count
   * starts at 0). DDL is not counted; a rolled back write is; a connection that cannot tell says yes.
   */
  wroteSinceLastLook(): boolean {
    try {
      const total = this.counters().total;
      const wrote = total !== this.#seen;
      this.#seen = total;
      return wrote;
    } catch {
      return true;
    }
  }

  /** Records that `stmt` (from `prepare`) failed; without a statement, preparing failed and left nothing active. */
  noteError(e: unknown, stmt: Statement | undefined): void {
    if (stmt !== undefined && isBusyFamily(sqliteErrorCode(e))) this.#stale.add(stmt);
  }

  /** Records that `stmt` ran to completion: `libsql` reset it before running, so it is no longer stale. */
  noteDone(stmt: Statement): void {
    this.#stale.delete(stmt);
  }

  /** Rolls back an open transaction; false if the connection could not be brought back to autocommit. */
  rollback(): boolean {
    if (!this.#db.inTransaction) return true;
    try {
      this.#db.exec("ROLLBACK");
    } catch {
      // Reported through the return value.
    }
    return !this.#db.inTransaction;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cache.clear();
    this.#counters = undefined;
    try {
      this.#db.close();
    } catch {
      // Closing is best effort; the handle is dropped either way.
    }
  }
}
