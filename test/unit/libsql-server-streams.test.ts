import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { HttpError } from "../../local-agent/libsql-server/errors.js";
import { executeRequest } from "../../local-agent/libsql-server/execute.js";
import { DatabasePool } from "../../local-agent/libsql-server/pool.js";
import { StreamRegistry, type Stream } from "../../local-agent/libsql-server/streams.js";
import { sqlToHrana } from "../../local-agent/libsql-server/values.js";

const dir = mkdtempSync(join(tmpdir(), "libsql-server-streams-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function sql(stream: Stream, text: string): unknown {
  const { result } = executeRequest(stream, { type: "execute", stmt: { sql: text } });
  if (result.type === "error") throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.response.type === "execute" ? result.response.result.rows.map((row) => row.map(sqlToHrana)) : undefined;
}

async function until(check: () => boolean, what: string, limitMs = 5_000): Promise<void> {
  for (let waited = 0; !check(); waited += 10) {
    if (waited > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("streams and batons", () => {
  let pool: DatabasePool;
  let other: DatabasePool;
  let registry: StreamRegistry;
  const logs: string[] = [];
  beforeEach(async () => {
    pool = new DatabasePool("app", join(dir, `app-${++n}.db`));
    other = new DatabasePool("state", join(dir, `state-${n}.db`));
    await pool.init();
    await other.init();
    registry = new StreamRegistry(100, 3, (line) => logs.push(line));
  });
  afterEach(() => {
    registry.closeAll();
    pool.close();
    other.close();
  });

  it("gives a new unguessable baton per request and refuses used ones", () => {
    const stream = registry.open(pool);
    const b1 = registry.park(stream);
    expect(b1).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(registry.take(b1, pool)).toBe(stream);
    const b2 = registry.park(stream);
    expect(b2).not.toBe(b1);
    expect(() => registry.take(b1, pool)).toThrow(/already used/);
    expect(() => registry.take("forged", pool)).toThrow(HttpError);
    expect(() => registry.take(b2, other)).toThrow(/database "app"/);
    expect(registry.take(b2, pool)).toBe(stream);
    registry.dispose(stream);
  });

  it("limits the number of open streams", () => {
    for (let i = 0; i < 3; i++) registry.open(pool);
    expect(() => registry.open(pool)).toThrow(/too many open streams/);
  });

  it("expires an idle stream, rolls back its transaction and releases the write lock", async () => {
    const stream = registry.open(pool);
    sql(stream, "CREATE TABLE t(x)");
    sql(stream, "BEGIN IMMEDIATE");
    sql(stream, "INSERT INTO t VALUES (1)");
    const baton = registry.park(stream);
    await until(() => registry.size === 0, "the stream to expire");
    expect(() => registry.take(baton, pool)).toThrow(/expired/);
    expect(logs.some((l) => l.includes("rolled back"))).toBe(true);
    const check = new Database(pool.file);
    try {
      check.exec("BEGIN IMMEDIATE; INSERT INTO t VALUES (2); COMMIT");
      expect(check.prepare("SELECT x FROM t").raw(true).all()).toEqual([[2]]);
    } finally {
      check.close();
    }
  });

  it("replaces a connection left stale by SQLITE_BUSY_SNAPSHOT once it is back in autocommit", () => {
    const stream = registry.open(pool);
    sql(stream, "CREATE TABLE t(x)");
    sql(stream, "BEGIN");
    sql(stream, "SELECT * FROM t");
    const writer = new Database(pool.file);
    try {
      writer.exec("INSERT INTO t VALUES (1)");
      expect(() => sql(stream, "INSERT INTO t VALUES (2)")).toThrow(/SQLITE_BUSY_SNAPSHOT/);
      sql(stream, "ROLLBACK");
      // Without the replacement, the failed statement's snapshot would make this fail too.
      sql(stream, "INSERT INTO t VALUES (3)");
      expect(sql(stream, "SELECT count(*) FROM t")).toEqual([[{ type: "integer", value: "2" }]]);
    } finally {
      writer.close();
    }
    registry.dispose(stream);
  });

  it("pools clean connections and drops those with connection state", () => {
    const a = registry.open(pool);
    sql(a, "SELECT 1");
    const first = a.connection();
    registry.dispose(a);
    const b = registry.open(pool);
    expect(b.connection()).toBe(first);
    sql(b, "CREATE TEMP TABLE scratch(x)");
    registry.dispose(b);
    const c = registry.open(pool);
    expect(c.connection()).not.toBe(first);
    expect(sql(c, "SELECT count(*) FROM temp.sqlite_schema")).toEqual([[{ type: "integer", value: "0" }]]);
    expect(sql(c, "PRAGMA foreign_keys")).toEqual([[{ type: "integer", value: "0" }]]);
    expect(sql(c, "PRAGMA journal_mode")).toEqual([[{ type: "text", value: "wal" }]]);
    registry.dispose(c);
  });

  it("reuses a connection that only read pragmas", () => {
    const a = registry.open(pool);
    sql(a, "CREATE TABLE IF NOT EXISTS t(x)");
    const first = a.connection();
    for (const read of ["PRAGMA data_version", "pragma table_xinfo(t)", "PRAGMA main.table_info('t')", "PRAGMA schema_version", "PRAGMA foreign_keys", "SELECT name FROM pragma_table_xinfo('t')"]) {
      sql(a, read);
    }
    expect(first.dirty).toBe(false);
    registry.dispose(a);
    const b = registry.open(pool);
    expect(b.connection()).toBe(first);
    registry.dispose(b);
  });

  it("keeps its connection while it retries a statement that met SQLITE_BUSY, and replaces it before any other", () => {
    const stream = registry.open(pool);
    sql(stream, "CREATE TABLE t(x)");
    const holder = new Database(pool.file);
    try {
      const steps = [{ stmt: { sql: "BEGIN IMMEDIATE" } }, { condition: { type: "ok", step: 0 } as const, stmt: { sql: "INSERT INTO t VALUES (1)" } }];
      const conn = stream.connection();
      holder.exec("BEGIN IMMEDIATE");
      for (let attempt = 0; attempt < 3; attempt++) {
        const busy = executeRequest(stream, { type: "batch", batch: { steps } });
        expect(busy.retry).toBe(true);
        expect(conn.tainted).toBe(true);
        // The retry's first statement is the stale BEGIN, which running resets: no new connection.
        expect(stream.connection("BEGIN IMMEDIATE")).toBe(conn);
      }
      holder.exec("COMMIT");
      expect(executeRequest(stream, { type: "batch", batch: { steps } }).retry).toBe(false);
      expect(conn.tainted).toBe(false);
      sql(stream, "COMMIT");
      expect(sql(stream, "SELECT count(*) FROM t")).toEqual([[{ type: "integer", value: "1" }]]);
      expect(stream.connection()).toBe(conn);

      holder.exec("BEGIN IMMEDIATE");
      expect(executeRequest(stream, { type: "execute", stmt: { sql: "INSERT INTO t VALUES (2)" } }).retry).toBe(true);
      holder.exec("COMMIT");
      // Anything but the stale statement could trip over it (COMMIT would see a pending writer).
      sql(stream, "BEGIN IMMEDIATE");
      expect(stream.connection()).not.toBe(conn);
      sql(stream, "INSERT INTO t VALUES (3)");
      sql(stream, "COMMIT");
      expect(sql(stream, "SELECT x FROM t ORDER BY x")).toEqual([[{ type: "integer", value: "1" }], [{ type: "integer", value: "3" }]]);
    } finally {
      holder.close();
    }
    registry.dispose(stream);
  });
});

describe("the WAL", () => {
  it("is copied back into the database file once the pool is quiet (below SQLite's own threshold, commits leave it there)", async () => {
    const file = join(dir, `wal-${++n}.db`);
    const pool = new DatabasePool("app", file);
    await pool.init();
    try {
      const conn = pool.acquire();
      conn.exec("CREATE TABLE t (x)");
      // ~400 pages, under the 1,000 at which a commit copies the WAL back itself.
      conn.exec("BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO t SELECT randomblob(3000) FROM n; COMMIT");
      // The main file alone, as a copy without its WAL shows it.
      const inFile = (): number => {
        const copy = join(dir, `wal-copy-${n}.db`);
        rmSync(copy, { force: true });
        copyFileSync(file, copy);
        const db = new Database(copy, { readonly: true });
        try {
          const tables = db.prepare("SELECT count(*) AS c FROM sqlite_schema WHERE name = 't'").get() as { c: number };
          return tables.c === 0 ? 0 : (db.prepare("SELECT count(*) AS c FROM t").get() as { c: number }).c;
        } finally {
          db.close();
        }
      };
      expect(inFile(), "the commit left the rows in the WAL").toBe(0);
      pool.release(conn);
      await until(() => inFile() === 500, "the quiet pool's checkpoint", 10_000);
    } finally {
      pool.close();
    }
  });

  it("opens a file another process holds locked once the lock is gone (the app writing as the site starts)", async () => {
    const file = join(dir, `locked-${++n}.db`);
    const app = new Database(file);
    app.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
    // A rollback-journal writer committing: even reading the schema is refused meanwhile.
    app.exec("BEGIN EXCLUSIVE; INSERT INTO t VALUES (2)");
    const pool = new DatabasePool("app", file);
    let opened = false;
    const init = pool.init().then(() => (opened = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(opened, "still waiting for the lock").toBe(false);
    app.exec("COMMIT");
    await init;
    try {
      const conn = pool.acquire();
      expect(conn.queryUncached("PRAGMA journal_mode")[0]?.[0]).toBe("wal");
      expect(Number(conn.queryUncached("SELECT count(*) FROM t")[0]?.[0])).toBe(2);
      pool.release(conn);
    } finally {
      app.close();
      pool.close();
    }
  });
});
