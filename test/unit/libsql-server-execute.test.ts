import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { Connection } from "../../local-agent/libsql-server/connection.js";
import { executeRequest, type ExecContext, type RequestOutcome } from "../../local-agent/libsql-server/execute.js";
import type { BatchCond, BatchResult, Stmt, StmtResult, StreamRequest, StreamResponse } from "../../local-agent/libsql-server/protocol.js";
import { sqlToHrana, type HranaValue } from "../../local-agent/libsql-server/values.js";

const dir = mkdtempSync(join(tmpdir(), "libsql-server-execute-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileCounter = 0;

function ctxFor(conn: Connection): ExecContext {
  return { connection: () => conn, isAutocommit: () => !conn.inTransaction, sqls: new Map() };
}

type Req = Exclude<StreamRequest, { type: "close" }>;

function run(ctx: ExecContext, req: Req): RequestOutcome {
  return executeRequest(ctx, req);
}

function okResponse(outcome: RequestOutcome): StreamResponse {
  if (outcome.result.type !== "ok") throw new Error(`expected ok, got ${JSON.stringify(outcome.result)}`);
  return outcome.result.response;
}

/** A result with its rows as the Hrana values the client receives (the server keeps SQLite's values until it writes them). */
function hrana(result: StmtResult): Omit<StmtResult, "rows"> & { rows: HranaValue[][] } {
  return { ...result, rows: result.rows.map((row) => row.map(sqlToHrana)) };
}

function exec(ctx: ExecContext, stmt: Stmt): ReturnType<typeof hrana> {
  const response = okResponse(run(ctx, { type: "execute", stmt }));
  if (response.type !== "execute") throw new Error("not an execute response");
  return hrana(response.result);
}

function errorCode(outcome: RequestOutcome): string {
  if (outcome.result.type !== "error") throw new Error(`expected an error, got ${JSON.stringify(outcome.result)}`);
  return outcome.result.error.code;
}

const int = (v: bigint | number): { type: "integer"; value: string } => ({ type: "integer", value: String(v) });
const text = (value: string): { type: "text"; value: string } => ({ type: "text", value });

function batch(ctx: ExecContext, steps: { sql: string; condition?: BatchCond }[]): RequestOutcome {
  return run(ctx, { type: "batch", batch: { steps: steps.map((s) => ({ condition: s.condition, stmt: { sql: s.sql } })) } });
}

function batchResult(outcome: RequestOutcome): { step_results: (ReturnType<typeof hrana> | null)[]; step_errors: BatchResult["step_errors"] } {
  const response = okResponse(outcome);
  if (response.type !== "batch") throw new Error("not a batch response");
  return { ...response.result, step_results: response.result.step_results.map((r) => (r === null ? null : hrana(r))) };
}

describe("execute", () => {
  let conn: Connection;
  let ctx: ExecContext;
  beforeEach(() => {
    conn = new Connection(":memory:");
    ctx = ctxFor(conn);
    exec(ctx, { sql: "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, score REAL, data)" });
  });
  afterEach(() => conn.close());

  it("returns columns with decltypes, rows, counts and rowids", () => {
    const ins = exec(ctx, { sql: "INSERT INTO t(name, score) VALUES ('a', 1.5), ('b', 2)" });
    expect(ins).toMatchObject({ cols: [], rows: [], affected_row_count: 2, last_insert_rowid: "2" });
    const sel = exec(ctx, { sql: "SELECT id, name AS n, score, score + 1 FROM t ORDER BY id" });
    expect(sel.cols).toEqual([
      { name: "id", decltype: "INTEGER" },
      { name: "n", decltype: "TEXT" },
      { name: "score", decltype: "REAL" },
      { name: "score + 1", decltype: null },
    ]);
    expect(sel.rows).toEqual([
      [int(1), text("a"), { type: "float", value: 1.5 }, { type: "float", value: 2.5 }],
      [int(2), text("b"), { type: "float", value: 2 }, { type: "float", value: 3 }],
    ]);
    expect(sel.affected_row_count).toBe(0);
    expect(exec(ctx, { sql: "SELECT 1", want_rows: false }).rows).toEqual([]);
  });

  it("counts rows changed by RETURNING statements and ignores DDL", () => {
    exec(ctx, { sql: "INSERT INTO t(name) VALUES ('a'), ('b'), ('c')" });
    const upd = exec(ctx, { sql: "UPDATE t SET score = 1 WHERE name <> 'a' RETURNING name" });
    expect(upd.rows).toEqual([[text("b")], [text("c")]]);
    expect(upd.affected_row_count).toBe(2);
    expect(exec(ctx, { sql: "CREATE TABLE u(x)" }).affected_row_count).toBe(0);
    expect(exec(ctx, { sql: "PRAGMA table_info(u)" }).affected_row_count).toBe(0);
  });

  it("reports a rowid beyond 2^53 exactly", () => {
    const big = 2n ** 62n + 1n;
    expect(exec(ctx, { sql: "INSERT INTO t(id, name) VALUES (?, 'x')", args: [int(big)] }).last_insert_rowid).toBe(big.toString());
    expect(exec(ctx, { sql: "INSERT INTO t(name) VALUES ('y') RETURNING id" }).last_insert_rowid).toBe((big + 1n).toString());
  });

  it("binds named arguments with or without their prefix, and positional ones", () => {
    const r = exec(ctx, {
      sql: "SELECT :a, @b, $c, ?4, :a",
      args: [text("p1"), text("p2"), text("p3"), text("p4")],
      named_args: [
        { name: "a", value: int(1) },
        { name: "@b", value: int(2) },
      ],
    });
    // Named wins over positional; $c falls back to its position.
    expect(r.rows).toEqual([[int(1), int(2), text("p3"), text("p4"), int(1)]]);
    const nulls = exec(ctx, { sql: "SELECT :a, :b", named_args: [{ name: ":a", value: { type: "null" } }, { name: "b", value: int(3) }] });
    expect(nulls.rows).toEqual([[{ type: "null" }, int(3)]]);
  });

  it.each<[Stmt, string]>([
    [{ sql: "SELECT ?, ?", args: [int(1)] }, "ARGS_INVALID"],
    [{ sql: "SELECT ?", args: [int(1), int(2)] }, "ARGS_INVALID"],
    [{ sql: "SELECT :a", named_args: [{ name: "b", value: int(1) }] }, "ARGS_INVALID"],
    [{ sql: "SELECT 1; SELECT 2" }, "SQL_MANY_STATEMENTS"],
    [{ sql: " -- nothing" }, "SQL_NO_STATEMENT"],
    [{ sql_id: 42 }, "SQL_NOT_FOUND"],
    [{ sql: "SELEC 1" }, "SQLITE_ERROR"],
    [{ sql: "SELECT * FROM nosuch" }, "SQLITE_ERROR"],
    [{ sql: "ATTACH 'other.db' AS o" }, "SQLITE_AUTH"],
    [{ sql: "VACUUM INTO 'copy.db'" }, "SQLITE_AUTH"],
    [{ sql: "PRAGMA busy_timeout = 5000" }, "SQLITE_AUTH"],
  ])("refuses %j with %s", (stmt, code) => {
    expect(errorCode(run(ctx, { type: "execute", stmt }))).toBe(code);
  });

  it("turns constraint violations into error results with the extended code", () => {
    exec(ctx, { sql: "INSERT INTO t(name) VALUES ('a')" });
    const outcome = run(ctx, { type: "execute", stmt: { sql: "INSERT INTO t(name) VALUES ('a')" } });
    expect(errorCode(outcome)).toBe("SQLITE_CONSTRAINT_UNIQUE");
    expect(outcome.retry).toBe(false);
    expect(errorCode(run(ctx, { type: "execute", stmt: { sql: "INSERT INTO t(name) VALUES (NULL)" } }))).toBe("SQLITE_CONSTRAINT_NOTNULL");
  });

  it("stores, uses and closes SQL texts", () => {
    okResponse(run(ctx, { type: "store_sql", sql_id: 7, sql: "SELECT ?" }));
    expect(errorCode(run(ctx, { type: "store_sql", sql_id: 7, sql: "SELECT 2" }))).toBe("SQL_STORE_EXISTS");
    expect(exec(ctx, { sql_id: 7, args: [int(5)] }).rows).toEqual([[int(5)]]);
    okResponse(run(ctx, { type: "close_sql", sql_id: 7 }));
    okResponse(run(ctx, { type: "close_sql", sql_id: 7 }));
    expect(errorCode(run(ctx, { type: "execute", stmt: { sql_id: 7 } }))).toBe("SQL_NOT_FOUND");
  });

  it("runs sequences and stops at the first error", () => {
    okResponse(run(ctx, { type: "sequence", sql: "INSERT INTO t(name) VALUES ('s1'); SELECT 1; INSERT INTO t(name) VALUES ('s2');" }));
    const failed = run(ctx, { type: "sequence", sql: "INSERT INTO t(name) VALUES ('s3'); INSERT INTO nosuch VALUES (1); INSERT INTO t(name) VALUES ('s4')" });
    expect(errorCode(failed)).toBe("SQLITE_ERROR");
    expect(exec(ctx, { sql: "SELECT name FROM t ORDER BY id" }).rows).toEqual([[text("s1")], [text("s2")], [text("s3")]]);
  });

  it("describes statements", () => {
    const response = okResponse(run(ctx, { type: "describe", sql: "SELECT id, name AS n FROM t WHERE id = ? OR name = :name OR id = ?5" }));
    expect(response).toEqual({
      type: "describe",
      result: {
        params: [{ name: null }, { name: ":name" }, { name: null }, { name: null }, { name: "?5" }],
        cols: [
          { name: "id", decltype: "INTEGER" },
          { name: "n", decltype: "TEXT" },
        ],
        is_explain: false,
        is_readonly: true,
      },
    });
    const ins = okResponse(run(ctx, { type: "describe", sql: "INSERT INTO t(name) VALUES (?)" }));
    expect(ins.type === "describe" && ins.result.is_readonly).toBe(false);
    const explain = okResponse(run(ctx, { type: "describe", sql: "EXPLAIN SELECT 1" }));
    expect(explain.type === "describe" && explain.result.is_explain).toBe(true);
    // Describing does not run anything.
    expect(exec(ctx, { sql: "SELECT count(*) FROM t" }).rows).toEqual([[int(0)]]);
  });

  it("reports the autocommit state", () => {
    expect(okResponse(run(ctx, { type: "get_autocommit" }))).toEqual({ type: "get_autocommit", is_autocommit: true });
    exec(ctx, { sql: "BEGIN" });
    expect(okResponse(run(ctx, { type: "get_autocommit" }))).toEqual({ type: "get_autocommit", is_autocommit: false });
    exec(ctx, { sql: "ROLLBACK" });
  });
});

describe("batch", () => {
  let conn: Connection;
  let ctx: ExecContext;
  beforeEach(() => {
    conn = new Connection(":memory:");
    ctx = ctxFor(conn);
    exec(ctx, { sql: "CREATE TABLE t(x UNIQUE)" });
  });
  afterEach(() => conn.close());

  it("evaluates ok, error, not, and, or and is_autocommit conditions", () => {
    const r = batchResult(
      batch(ctx, [
        { sql: "INSERT INTO t VALUES (1)" }, // 0 ok
        { sql: "INSERT INTO t VALUES (1)" }, // 1 error
        { sql: "SELECT 'ok0'", condition: { type: "ok", step: 0 } }, // 2 runs
        { sql: "SELECT 'error1'", condition: { type: "error", step: 1 } }, // 3 runs
        { sql: "SELECT 'not ok1'", condition: { type: "not", cond: { type: "ok", step: 1 } } }, // 4 runs
        { sql: "SELECT 'and'", condition: { type: "and", conds: [{ type: "ok", step: 0 }, { type: "ok", step: 1 }] } }, // 5 skipped
        { sql: "SELECT 'or'", condition: { type: "or", conds: [{ type: "ok", step: 5 }, { type: "error", step: 1 }] } }, // 6 runs
        { sql: "SELECT 'skipped is not error'", condition: { type: "error", step: 5 } }, // 7 skipped
        { sql: "SELECT 'autocommit'", condition: { type: "is_autocommit" } }, // 8 runs
      ]),
    );
    const ran = r.step_results.map((s) => (s === null ? null : s.rows[0]?.[0] ?? "no rows"));
    expect(ran).toEqual([
      "no rows",
      null,
      text("ok0"),
      text("error1"),
      text("not ok1"),
      null,
      text("or"),
      null,
      text("autocommit"),
    ]);
    expect(r.step_errors.map((e) => e?.code ?? null)).toEqual([null, "SQLITE_CONSTRAINT_UNIQUE", null, null, null, null, null, null, null]);
  });

  it("rolls back the way @libsql/client's batch asks when a step fails", () => {
    const r = batchResult(
      batch(ctx, [
        { sql: "BEGIN DEFERRED" },
        { sql: "INSERT INTO t VALUES (1)", condition: { type: "ok", step: 0 } },
        { sql: "INSERT INTO t VALUES (1)", condition: { type: "ok", step: 1 } },
        { sql: "COMMIT", condition: { type: "ok", step: 2 } },
        { sql: "ROLLBACK", condition: { type: "not", cond: { type: "ok", step: 3 } } },
      ]),
    );
    expect(r.step_errors[2]?.code).toBe("SQLITE_CONSTRAINT_UNIQUE");
    expect(r.step_results[3]).toBeNull();
    expect(r.step_results[4]).not.toBeNull();
    expect(conn.inTransaction).toBe(false);
    expect(exec(ctx, { sql: "SELECT count(*) FROM t" }).rows).toEqual([[int(0)]]);
  });

  it("refuses a condition on a step that has not run", () => {
    expect(errorCode(batch(ctx, [{ sql: "SELECT 1", condition: { type: "ok", step: 0 } }]))).toBe("BATCH_COND_INVALID");
  });
});

describe("SQLITE_BUSY", () => {
  let file: string;
  let holder: InstanceType<typeof Database>;
  let conn: Connection;
  let ctx: ExecContext;
  beforeEach(() => {
    file = join(dir, `busy-${++fileCounter}.db`);
    conn = new Connection(file);
    conn.exec("PRAGMA journal_mode=WAL; CREATE TABLE t(x)");
    ctx = ctxFor(conn);
    holder = new Database(file);
    holder.exec("BEGIN IMMEDIATE");
  });
  afterEach(() => {
    if (holder.inTransaction) holder.exec("ROLLBACK");
    holder.close();
    conn.close();
  });

  it("fails at once (no busy_timeout) and marks a lone statement retryable", () => {
    const outcome = run(ctx, { type: "execute", stmt: { sql: "INSERT INTO t VALUES (1)" } });
    expect(errorCode(outcome)).toBe("SQLITE_BUSY");
    expect(outcome.retry).toBe(true);
    expect(conn.tainted).toBe(true);
    holder.exec("COMMIT");
    expect(okResponse(run(ctx, { type: "execute", stmt: { sql: "INSERT INTO t VALUES (1)" } })).type).toBe("execute");
  });

  it("retries a client batch whose BEGIN IMMEDIATE was busy", () => {
    const steps = [
      { sql: "BEGIN IMMEDIATE" },
      { sql: "INSERT INTO t VALUES (1)", condition: { type: "ok", step: 0 } as const },
      { sql: "COMMIT", condition: { type: "ok", step: 1 } as const },
      { sql: "ROLLBACK", condition: { type: "not", cond: { type: "ok", step: 2 } } as const },
    ];
    const first = batch(ctx, steps);
    expect(batchResult(first).step_errors[0]?.code).toBe("SQLITE_BUSY");
    expect(first.retry).toBe(true);
    holder.exec("COMMIT");
    const second = batch(ctx, steps);
    expect(second.retry).toBe(false);
    expect(batchResult(second).step_errors).toEqual([null, null, null, null]);
  });

  it("retries a deferred batch whose first write was busy, rolling back its empty transaction", () => {
    const outcome = batch(ctx, [
      { sql: "BEGIN DEFERRED" },
      { sql: "INSERT INTO t VALUES (1)", condition: { type: "ok", step: 0 } },
      { sql: "COMMIT", condition: { type: "ok", step: 1 } },
    ]);
    expect(outcome.retry).toBe(true);
    expect(conn.inTransaction).toBe(false);
  });

  it("does not retry a batch that already committed something", () => {
    holder.exec("ROLLBACK");
    const other = new Database(file);
    try {
      // Step 0 commits on its own; step 1 then meets the lock.
      const outcome = run(ctx, {
        type: "batch",
        batch: {
          steps: [
            { stmt: { sql: "INSERT INTO t VALUES (1)" } },
            { stmt: { sql: "SELECT 1" } },
          ],
        },
      });
      expect(outcome.retry).toBe(false);
      other.exec("BEGIN IMMEDIATE");
      const busy = batch(ctx, [{ sql: "INSERT INTO t VALUES (2)" }, { sql: "INSERT INTO t VALUES (3)" }]);
      expect(batchResult(busy).step_errors.map((e) => e?.code)).toEqual(["SQLITE_BUSY", "SQLITE_BUSY"]);
      expect(busy.retry).toBe(true);
      const mixed = batch(ctx, [{ sql: "SELECT 1" }, { sql: "INSERT INTO t VALUES (4)" }]);
      expect(mixed.retry).toBe(false);
      other.exec("ROLLBACK");
    } finally {
      other.close();
    }
  });

  it("retries a sequence only while nothing before the busy statement changed data", () => {
    const clean = run(ctx, { type: "sequence", sql: "BEGIN; INSERT INTO t VALUES (1); COMMIT" });
    expect(errorCode(clean)).toBe("SQLITE_BUSY");
    expect(clean.retry).toBe(true);
    expect(conn.inTransaction).toBe(false);
    holder.exec("ROLLBACK");
    okResponse(run(ctx, { type: "sequence", sql: "CREATE TABLE u(x)" }));
    holder.exec("BEGIN IMMEDIATE");
    const dirty = run(ctx, { type: "sequence", sql: "SELECT 1; INSERT INTO t VALUES (1)" });
    expect(errorCode(dirty)).toBe("SQLITE_BUSY");
    expect(dirty.retry).toBe(false);
  });

  it("does not retry SQLITE_BUSY_SNAPSHOT, which waiting cannot cure", () => {
    holder.exec("ROLLBACK");
    exec(ctx, { sql: "BEGIN" });
    exec(ctx, { sql: "SELECT * FROM t" });
    holder.exec("INSERT INTO t VALUES (9)");
    const outcome = run(ctx, { type: "execute", stmt: { sql: "INSERT INTO t VALUES (1)" } });
    expect(errorCode(outcome)).toBe("SQLITE_BUSY_SNAPSHOT");
    expect(outcome.retry).toBe(false);
    expect(conn.tainted).toBe(true);
    exec(ctx, { sql: "ROLLBACK" });
  });
});
