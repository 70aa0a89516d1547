/**
 * The app's side of the database benchmarks: a plain `libsql` connection to a site's app.db,
 * opened the way an app opens it (its own process' connection, foreign keys off as in SQLite,
 * a busy timeout because the site writes the same file), plus read-only connections for polling.
 */
import Database from "libsql";
import { changeArgs, CHANGE_SQL, FINGERPRINT_SQL, INSERT_SQL, SCHEMA_SQL, type Change, type Row, type ScoutingWorkload, type Value } from "./workload-db.js";

export type Db = InstanceType<typeof Database>;

export function openWriter(file: string): Db {
  const db = new Database(file);
  // A capture of a large burst can hold the write lock for seconds (that is reported, not fatal).
  db.exec("PRAGMA busy_timeout = 60000; PRAGMA foreign_keys = OFF");
  const mode = db.prepare("PRAGMA journal_mode = WAL").raw(true).get() as unknown[];
  if (String(mode[0]).toLowerCase() !== "wal") throw new Error(`${file}: could not switch to WAL`);
  return db;
}

export function openReader(file: string): Db {
  const db = new Database(file, { readonly: true });
  db.exec("PRAGMA busy_timeout = 10000");
  return db;
}

export function createSchema(db: Db): void {
  db.exec(SCHEMA_SQL);
}

function bind(row: readonly Value[]): unknown[] {
  return row.map((v) => (v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v));
}

/** Inserts the whole workload with prepared statements in one transaction; returns the rows written. */
export function insertWorkload(db: Db, w: ScoutingWorkload, entries: Iterable<Row> = w.entries()): number {
  const stmts = {
    teams: db.prepare(INSERT_SQL.teams),
    matches: db.prepare(INSERT_SQL.matches),
    entries: db.prepare(INSERT_SQL.entries),
    pit_notes: db.prepare(INSERT_SQL.pit_notes),
  };
  let n = 0;
  db.exec("BEGIN IMMEDIATE");
  try {
    for (const r of w.teams) (stmts.teams.run(...bind(r)), n++);
    for (const r of w.matches) (stmts.matches.run(...bind(r)), n++);
    for (const r of w.pitNotes) (stmts.pit_notes.run(...bind(r)), n++);
    for (const r of entries) (stmts.entries.run(...bind(r)), n++);
    db.exec("COMMIT");
  } catch (err) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw err;
  }
  return n;
}

/**
 * Runs a change script as an app would: `perTransaction` statements per commit, so the site's
 * capture interleaves. BEGIN IMMEDIATE: a deferred transaction whose snapshot a capture commit
 * made stale fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT, no busy wait), which
 * an app using Python's default deferred transactions would see too; here the writes are the
 * set-up, not the measurement, so they wait for the lock instead.
 */
export function applyScript(db: Db, changes: readonly Change[], perTransaction: number): void {
  const stmts = { insert: db.prepare(CHANGE_SQL.insert), update: db.prepare(CHANGE_SQL.update), delete: db.prepare(CHANGE_SQL.delete) };
  for (let i = 0; i < changes.length; i += perTransaction) {
    db.exec("BEGIN IMMEDIATE");
    try {
      for (const c of changes.slice(i, i + perTransaction)) stmts[c.kind].run(...bind(changeArgs(c)));
      db.exec("COMMIT");
    } catch (err) {
      if (db.inTransaction) db.exec("ROLLBACK");
      throw err;
    }
  }
}

export function fingerprint(db: Db): string {
  return JSON.stringify(db.prepare(FINGERPRINT_SQL).raw(true).get());
}

/** Like fingerprint(), but a database whose tables do not exist yet (or is locked) reads as "". */
export function fingerprintOf(file: string): string {
  let db: Db | null = null;
  try {
    db = openReader(file);
    return fingerprint(db);
  } catch {
    return "";
  } finally {
    db?.close();
  }
}

export function count(db: Db, table: string): number {
  return Number((db.prepare(`SELECT count(*) FROM "${table.replace(/"/g, '""')}"`).raw(true).get() as unknown[])[0]);
}
