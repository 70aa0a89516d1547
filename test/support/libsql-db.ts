/**
 * The engine's SqlDb port over an in-process libsql database, for tests: the same engine code
 * the worker runs over HTTP, without servers.
 */
import Database from "libsql";
import type { Row, SqlDb, SqlExec, Stmt } from "../../functions/db/port.js";

type Db = InstanceType<typeof Database>;

export function openDb(file = ":memory:"): Db {
  const db = new Database(file);
  if (file !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
  // The libsql package turns foreign keys on by default; SQLite (and so the app) has them off.
  db.exec("PRAGMA foreign_keys = OFF");
  return db;
}

function exec(db: Db): SqlExec {
  return {
    async batch(stmts: Stmt[]): Promise<Row[][]> {
      return stmts.map((s) => {
        const st = db.prepare(s.sql);
        const args = (s.args ?? []).map((a) => (a instanceof Uint8Array ? Buffer.from(a) : a));
        if (st.reader) return (st.raw(true).safeIntegers(true).all(...args) as Row[]).map((r) => r.map(normalizeValue));
        st.run(...args);
        return [];
      });
    },
  };
}

function normalizeValue(v: unknown): Row[number] {
  if (Buffer.isBuffer(v)) return new Uint8Array(v);
  return v as Row[number];
}

export function sqlDb(db: Db): SqlDb {
  const run = async <T>(begin: string, fn: (tx: SqlExec) => Promise<T>): Promise<T> => {
    db.exec(begin);
    try {
      const out = await fn(exec(db));
      db.exec("COMMIT");
      return out;
    } catch (err) {
      if (db.inTransaction) db.exec("ROLLBACK");
      throw err;
    }
  };
  return {
    write: (fn) => run("BEGIN IMMEDIATE", fn),
    read: (fn) => run("BEGIN", fn),
    snapshot: (stmts) => run("BEGIN", (tx) => tx.batch(stmts)),
  };
}
