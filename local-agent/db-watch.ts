/**
 * Notices commits to the app's database by any process. The app writes the file directly, so
 * the only reliable signal is SQLite's own: `PRAGMA data_version` on a connection of ours
 * changes whenever another connection commits. A watch on the folder (the db file and its WAL)
 * makes us look at once; a slow poll is the safety net for file systems where watches are lossy,
 * and the only signal, polled faster, when the watch could not be set up.
 */
import { watch, statSync, type FSWatcher } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type LibsqlDatabase from "libsql";
import { freshRowsSql } from "../functions/sql/triggers.js";

type Database = LibsqlDatabase.Database;
type Statement = LibsqlDatabase.Statement;
type DatabaseCtor = typeof LibsqlDatabase;

/** While writes keep coming, look this often instead of at every file event (see onActivity). */
const BURST_POLL_MS = 3;
/** A burst is over after this long without a new commit; the watch then takes over again. */
const BURST_QUIET_MS = 60;
/**
 * The safety-net poll while the watch is set: each wake of an idle process costs CPU (a bare
 * Node timer every 250 ms is ~0.13 % of a core here, B7), and every tick captures anyway.
 */
const WATCHED_POLL_MS = 2_000;
/** Without a watch (no inotify instance left, say) the poll is the only signal. */
const UNWATCHED_POLL_MS = 250;

const CAPTURE_VIEW_SQL = "SELECT (SELECT schema_version FROM pragma_schema_version), EXISTS (SELECT 1 FROM _scoutsync_log), (SELECT count(*) FROM _scoutsync_hw)";
/** The tables with a high-water mark; inserts above it are not logged (functions/sql/triggers.ts). */
const MARKED_TABLES_SQL = "SELECT tbl FROM _scoutsync_hw";

export interface DbWatchOptions {
  /** One poll interval whether or not the watch is set (tests). */
  pollMs?: number;
  /** Told why the database could not be read (not there yet, replaced, locked). */
  onError(err: unknown): void;
}

export class DbWatch {
  private db: Database | null = null;
  private stmt: Statement | null = null;
  private view: Statement | null = null;
  /** Whether a marked table holds rows above its mark, made for the schema version and number of marks `freshAt`. */
  private fresh: Statement | null = null;
  private freshAt: string | null = null;
  private ino: number | null = null;
  private last: number | null = null;
  private watcher: FSWatcher | null = null;
  private poll: ReturnType<typeof setTimeout> | null = null;
  private burst: ReturnType<typeof setInterval> | null = null;
  private stopped = false;

  constructor(
    private readonly file: string,
    private readonly onChange: () => void,
    private readonly opts: DbWatchOptions,
  ) {}

  start(): void {
    this.watchFolder();
    this.schedulePoll();
    this.check();
  }

  private schedulePoll(): void {
    if (this.stopped) return;
    // During a burst the burst's own look every few ms covers the poll's.
    const watched = this.watcher !== null || this.burst !== null;
    this.poll = setTimeout(() => {
      this.check();
      this.schedulePoll();
    }, this.opts.pollMs ?? (watched ? WATCHED_POLL_MS : UNWATCHED_POLL_MS));
  }

  private watchFolder(): void {
    const names = new Set([path.basename(this.file), `${path.basename(this.file)}-wal`]);
    try {
      this.watcher = watch(path.dirname(this.file), { persistent: false }, (_event, name) => {
        if (name !== null && names.has(String(name))) this.onActivity();
      });
      // A failed watch reports nothing more: the poll takes over, at its faster pace.
      this.watcher.on("error", (err) => {
        this.watcher?.close();
        this.watcher = null;
        this.opts.onError(err);
      });
    } catch (err) {
      // No watch (e.g. too many inotify watches): the poll alone still works, just later.
      this.opts.onError(err);
    }
  }

  /**
   * The file changed. The event fires at the first write of a transaction, often before its
   * commit is visible, and a big write fires one per WAL frame (a synced page: thousands, a
   * third of a core spent hearing them). So look now, stop listening, and look every few ms
   * until the writes have settled; then listen again.
   */
  private onActivity(): void {
    if (this.burst !== null) return;
    this.check();
    this.watcher?.close();
    this.watcher = null;
    let lastChange = performance.now();
    this.burst = setInterval(() => {
      if (this.check()) lastChange = performance.now();
      else if (performance.now() - lastChange >= BURST_QUIET_MS) {
        this.endBurst();
        this.watchFolder();
        // A commit between the last look and the new watch.
        this.check();
      }
    }, BURST_POLL_MS);
  }

  private endBurst(): void {
    if (this.burst !== null) clearInterval(this.burst);
    this.burst = null;
  }

  stop(): void {
    this.stopped = true;
    this.endBurst();
    this.watcher?.close();
    this.watcher = null;
    if (this.poll !== null) clearTimeout(this.poll);
    this.poll = null;
    this.closeDb();
  }

  /**
   * Compare data_version with the last value seen; call onChange when it moved. The first
   * successful read also counts as a change: commits made while the agent was down still
   * need capturing. Returns whether a change was reported.
   */
  check(): boolean {
    try {
      const version = this.readVersion();
      if (version === this.last) return false;
      this.last = version;
      this.onChange();
      return true;
    } catch (err) {
      this.closeDb();
      this.opts.onError(err);
      return false;
    }
  }

  private readVersion(): number {
    const ino = statSync(this.file).ino;
    // The file was replaced (restore from backup, app recreated it): our handle sees the old one.
    if (this.db !== null && ino !== this.ino) this.closeDb();
    if (this.db === null) {
      this.db = openReadOnly(this.file);
      this.ino = ino;
      // A new connection starts its own count, so compare from scratch but still report once.
      this.last = null;
    }
    this.stmt ??= this.db.prepare("PRAGMA data_version").raw(true);
    // raw(): libsql 0.5 ignores pluck() and returns objects with a _metadata field.
    const row = this.stmt.get();
    const value = Array.isArray(row) ? row[0] : undefined;
    if (typeof value !== "number" && typeof value !== "bigint") throw new Error(`PRAGMA data_version returned ${JSON.stringify(row)}`);
    return Number(value);
  }

  /**
   * What a capture would find, as this connection sees the file now: its schema version, and
   * whether there is a write to capture (in the log, or a row above its table's mark). Null
   * when it cannot tell (no connection yet, capture tables not made yet, a table dropped, a
   * failed read).
   */
  captureView(): { schema: number; logged: boolean } | null {
    try {
      if (this.db === null) return null;
      this.view ??= this.db.prepare(CAPTURE_VIEW_SQL).raw(true);
      const row = this.view.get();
      if (!Array.isArray(row)) return null;
      const schema = Number(row[0]);
      if (Number(row[1]) === 1) return { schema, logged: true };
      // A table gets its mark in a schema change, or at the first capture that finds the log empty.
      const at = `${schema}:${Number(row[2])}`;
      if (this.fresh === null || this.freshAt !== at) {
        const tables = (this.db.prepare(MARKED_TABLES_SQL).raw(true).all() as unknown[][]).map((r) => String(r[0]));
        this.fresh = this.db.prepare(freshRowsSql(tables)).raw(true);
        this.freshAt = at;
      }
      const fresh = this.fresh.get();
      return { schema, logged: Array.isArray(fresh) && Number(fresh[0]) === 1 };
    } catch {
      this.view = null;
      this.fresh = null;
      return null;
    }
  }

  private closeDb(): void {
    try {
      this.db?.close();
    } catch {
      // Closing a broken handle can fail; we are dropping it either way.
    }
    this.db = null;
    this.stmt = null;
    this.view = null;
    this.fresh = null;
    this.ino = null;
  }
}

function openReadOnly(file: string): Database {
  // libsql is a native module kept out of the bundle; load it lazily so the CLI never needs it.
  const Ctor = createRequire(import.meta.url)("libsql") as DatabaseCtor;
  return new Ctor(file, { readonly: true, fileMustExist: true });
}
