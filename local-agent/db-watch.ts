/**
 * Notices commits to the app's database by any process. The app writes the file directly, so
 * the only reliable signal is SQLite's own: `PRAGMA data_version` on a connection of ours
 * changes whenever another connection commits. A watch on the folder (the db file and its WAL)
 * makes us look at once; a slow poll is the safety net for file systems where watches are lossy.
 */
import { watch, statSync, type FSWatcher } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type LibsqlDatabase from "libsql";

type Database = LibsqlDatabase.Database;
type Statement = LibsqlDatabase.Statement;
type DatabaseCtor = typeof LibsqlDatabase;

/** Re-checks after file activity that showed no commit yet (see onActivity). */
const FOLLOW_UP_MS = [2, 5, 10, 20, 50];
/** File events closer together than this are one burst: a big write fires one per WAL frame. */
const BURST_MS = 5;

export interface DbWatchOptions {
  pollMs?: number;
  /** Told why the database could not be read (not there yet, replaced, locked). */
  onError(err: unknown): void;
}

export class DbWatch {
  private db: Database | null = null;
  private stmt: Statement | null = null;
  private ino: number | null = null;
  private last: number | null = null;
  private watcher: FSWatcher | null = null;
  private poll: ReturnType<typeof setInterval> | null = null;
  private followUps: ReturnType<typeof setTimeout>[] = [];
  private lastLook = -Infinity;
  private burst: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly file: string,
    private readonly onChange: () => void,
    private readonly opts: DbWatchOptions,
  ) {}

  start(): void {
    const dir = path.dirname(this.file);
    const names = new Set([path.basename(this.file), `${path.basename(this.file)}-wal`]);
    try {
      this.watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name !== null && names.has(String(name))) this.onActivity();
      });
      this.watcher.on("error", (err) => this.opts.onError(err));
    } catch (err) {
      // No watch (e.g. too many inotify watches): the poll alone still works, just later.
      this.opts.onError(err);
    }
    this.poll = setInterval(() => this.check(), this.opts.pollMs ?? 250);
    this.check();
  }

  /**
   * The file changed. The event fires at the first write of a transaction, often before its
   * commit is visible, and inotify folds the rest into it; so look now and, if nothing moved
   * yet, look again a few times over the next ~50 ms rather than wait for the poll.
   */
  private onActivity(): void {
    const since = performance.now() - this.lastLook;
    if (since < BURST_MS) {
      // Inside a burst (thousands of events while a sync applies a page): look once it settles, not at every event.
      this.burst ??= setTimeout(() => {
        this.burst = null;
        this.onActivity();
      }, BURST_MS - since);
      return;
    }
    this.lastLook = performance.now();
    if (this.check()) return;
    for (const t of this.followUps) clearTimeout(t);
    this.followUps = FOLLOW_UP_MS.map((ms) =>
      setTimeout(() => {
        if (this.check()) for (const t of this.followUps) clearTimeout(t);
      }, ms),
    );
  }

  stop(): void {
    for (const t of this.followUps) clearTimeout(t);
    this.followUps = [];
    if (this.burst !== null) clearTimeout(this.burst);
    this.burst = null;
    this.watcher?.close();
    this.watcher = null;
    if (this.poll !== null) clearInterval(this.poll);
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

  private closeDb(): void {
    try {
      this.db?.close();
    } catch {
      // Closing a broken handle can fail; we are dropping it either way.
    }
    this.db = null;
    this.stmt = null;
    this.ino = null;
  }
}

function openReadOnly(file: string): Database {
  // libsql is a native module kept out of the bundle; load it lazily so the CLI never needs it.
  const Ctor = createRequire(import.meta.url)("libsql") as DatabaseCtor;
  return new Ctor(file, { readonly: true, fileMustExist: true });
}
