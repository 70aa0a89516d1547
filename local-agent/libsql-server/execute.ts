// Stream requests (execute, batch, sequence, describe, store_sql, close_sql, get_autocommit)
// run synchronously against the stream's connection. Each returns whether it failed with
// SQLITE_BUSY before changing anything, in which case the pipeline may run it again later.

import type { Connection } from "./connection.js";
import { RequestError, sqliteErrorCode, toProtoError, type ProtoError } from "./errors.js";
import type {
  Batch,
  BatchCond,
  BatchResult,
  Col,
  DescribeResult,
  SqlRow,
  Stmt,
  StmtResult,
  StreamRequest,
  StreamResponse,
  StreamResult,
} from "./protocol.js";
import { analyzeSql, type SqlInfo } from "./sql-text.js";
import { hranaToSql, type SqlValue } from "./values.js";

/** What a request needs from its stream. */
export interface ExecContext {
  /** The stream's connection, opened on first use; `sql` is the statement about to run on it, if any. */
  connection(sql?: string): Connection;
  /** True when the stream is outside an explicit transaction (also when it has no connection yet). */
  isAutocommit(): boolean;
  /** SQL texts stored with store_sql, by id. */
  readonly sqls: Map<number, string>;
}

export interface RequestOutcome {
  result: StreamResult;
  /** Failed with SQLITE_BUSY before changing anything: running it again is safe. */
  retry: boolean;
}

const MAX_STORED_SQL = 5_000;

function resolveSql(ctx: ExecContext, source: { sql?: string | null | undefined; sql_id?: number | null | undefined }): string {
  if (source.sql !== undefined && source.sql !== null) return source.sql;
  const id = source.sql_id;
  const sql = id === undefined || id === null ? undefined : ctx.sqls.get(id);
  if (sql === undefined) throw new RequestError("SQL_NOT_FOUND", `SQL text with id ${String(id)} was not stored on this stream`);
  return sql;
}

function singleStatement(sql: string): SqlInfo {
  const info = analyzeSql(sql);
  if (info.statements.length === 0) throw new RequestError("SQL_NO_STATEMENT", "SQL string does not contain any statement");
  if (info.statements.length > 1) throw new RequestError("SQL_MANY_STATEMENTS", "SQL string contains more than one statement");
  return info;
}

/** Statements that could write outside the served files or stall the whole server. */
function refuseUnsafe(info: SqlInfo): void {
  if (info.kind === "pragma" && info.setsPragma && info.pragmaName === "busy_timeout") {
    // A busy_timeout would block the event loop, and with it every other stream of the server.
    throw new RequestError(
      "SQLITE_AUTH",
      "setting busy_timeout is not allowed: the server keeps it at 0 and retries SQLITE_BUSY itself without blocking",
    );
  }
  if (info.kind === "attach") {
    throw new RequestError("SQLITE_AUTH", "ATTACH is not allowed: this server only serves its configured database files");
  }
  if (info.kind === "vacuum_into") {
    throw new RequestError("SQLITE_AUTH", "VACUUM INTO is not allowed: this server only writes its configured database files");
  }
}

function lookupNamed(named: Map<string, SqlValue>, name: string, used: Set<string>): SqlValue | undefined {
  const bare = name.slice(1);
  for (const key of [name, bare, `:${bare}`, `@${bare}`, `$${bare}`]) {
    const v = named.get(key);
    if (v !== undefined) {
      used.add(key);
      return v;
    }
  }
  return undefined;
}

/**
 * Arguments in SQLite's parameter order. Named arguments may be given with or without their
 * prefix (`:id`, `id`); a named argument wins over a positional one for the same parameter.
 */
export function bindArgs(info: SqlInfo, stmt: Pick<Stmt, "args" | "named_args">): SqlValue[] {
  const positional = (stmt.args ?? []).map(hranaToSql);
  const slots = info.params;
  if ((stmt.named_args === undefined || stmt.named_args.length === 0) && positional.length === slots.length) {
    return positional;
  }
  const named = new Map<string, SqlValue>();
  for (const arg of stmt.named_args ?? []) named.set(arg.name, hranaToSql(arg.value));
  if (positional.length > slots.length) {
    throw new RequestError(
      "ARGS_INVALID",
      `too many positional arguments: the statement has ${slots.length} parameters, got ${positional.length}`,
    );
  }
  const used = new Set<string>();
  const values: SqlValue[] = [];
  slots.forEach((slot, i) => {
    let v: SqlValue | undefined;
    if (slot.name !== null && !slot.name.startsWith("?")) v = lookupNamed(named, slot.name, used);
    if (v === undefined) v = positional[i];
    if (v === undefined) {
      if (slot.referenced && !info.isExplain) {
        throw new RequestError("ARGS_INVALID", `value for parameter ${slot.name ?? `?${i + 1}`} not found`);
      }
      v = null;
    }
    values.push(v);
  });
  for (const key of named.keys()) {
    if (!used.has(key)) throw new RequestError("ARGS_INVALID", `named argument ${key} matches no parameter of the statement`);
  }
  return values;
}

type Statement = ReturnType<Connection["prepare"]>;

function columnsOf(stmt: Statement): Col[] {
  return stmt.columns().map((c) => ({ name: c.name, decltype: c.type }));
}

export function executeStmt(ctx: ExecContext, stmt: Stmt): StmtResult {
  const sql = resolveSql(ctx, stmt);
  return runStmt(ctx, sql, singleStatement(sql), stmt);
}

function runStmt(ctx: ExecContext, sql: string, info: SqlInfo, stmt: Stmt): StmtResult {
  refuseUnsafe(info);
  const args = bindArgs(info, stmt);
  const conn = ctx.connection(sql);
  const started = performance.now();
  if (info.touchesConnectionState) conn.dirty = true;
  let prepared: Statement | undefined;
  try {
    prepared = conn.prepare(sql);
    if (prepared.reader) {
      // SELECT/VALUES/EXPLAIN cannot write; anything else with rows (RETURNING, PRAGMA) may.
      const mayWrite = info.kind !== "select";
      const before = mayWrite ? conn.counters().total : 0n;
      const raw = prepared.all(args) as SqlRow[];
      conn.noteDone(prepared);
      const cols = columnsOf(prepared);
      const rows = stmt.want_rows === false ? [] : raw;
      let affected = 0;
      let lastInsertRowid: string | null = null;
      if (mayWrite) {
        const after = conn.counters();
        affected = after.total === before ? 0 : Number(after.changes);
        lastInsertRowid = after.lastInsertRowid.toString();
      }
      return {
        cols,
        rows,
        affected_row_count: affected,
        last_insert_rowid: lastInsertRowid,
        rows_read: raw.length,
        rows_written: affected,
        query_duration_ms: performance.now() - started,
      };
    }
    const run = prepared.run(args);
    conn.noteDone(prepared);
    const rowid = run.lastInsertRowid;
    // `libsql` reports the rowid as a double: ask SQLite again when that lost precision.
    const lastInsertRowid =
      typeof rowid === "bigint" || Number.isSafeInteger(rowid) ? String(rowid) : conn.counters().lastInsertRowid.toString();
    return {
      cols: [],
      rows: [],
      affected_row_count: run.changes,
      last_insert_rowid: lastInsertRowid,
      rows_read: 0,
      rows_written: run.changes,
      query_duration_ms: performance.now() - started,
    };
  } catch (e) {
    conn.noteError(e, prepared);
    throw e;
  }
}

/**
 * Statements that change no data, so a batch or sequence made only of them (and of failed
 * statements) can be run again after SQLITE_BUSY. Only from autocommit: inside a transaction
 * that existed before the request, ending or starting a transaction is not harmless.
 */
function isHarmless(info: SqlInfo): boolean {
  return (
    info.kind === "begin" ||
    info.kind === "commit" ||
    info.kind === "rollback" ||
    (info.kind === "pragma" && info.pragmaName === "foreign_keys")
  );
}

function evalCond(cond: BatchCond, outcomes: readonly ("ok" | "error" | "skipped")[], ctx: ExecContext): boolean {
  switch (cond.type) {
    case "ok":
      return outcomes[cond.step] === "ok";
    case "error":
      return outcomes[cond.step] === "error";
    case "not":
      return !evalCond(cond.cond, outcomes, ctx);
    case "and":
      return cond.conds.every((c) => evalCond(c, outcomes, ctx));
    case "or":
      return cond.conds.some((c) => evalCond(c, outcomes, ctx));
    case "is_autocommit":
      return ctx.isAutocommit();
  }
}

function checkCondSteps(cond: BatchCond, step: number): void {
  switch (cond.type) {
    case "ok":
    case "error":
      if (cond.step >= step) {
        throw new RequestError("BATCH_COND_INVALID", `the condition of step ${step} refers to step ${cond.step}, which has not run yet`);
      }
      return;
    case "not":
      checkCondSteps(cond.cond, step);
      return;
    case "and":
    case "or":
      for (const c of cond.conds) checkCondSteps(c, step);
      return;
    case "is_autocommit":
      return;
  }
}

export function executeBatch(ctx: ExecContext, batch: Batch): { result: BatchResult; retry: boolean } {
  batch.steps.forEach((step, i) => {
    if (step.condition !== undefined && step.condition !== null) checkCondSteps(step.condition, i);
  });
  const startedInAutocommit = ctx.isAutocommit();
  const outcomes: ("ok" | "error" | "skipped")[] = [];
  const stepResults: (StmtResult | null)[] = [];
  const stepErrors: (ProtoError | null)[] = [];
  let busy = false;
  let changedSomething = false;
  for (const step of batch.steps) {
    if (step.condition !== undefined && step.condition !== null && !evalCond(step.condition, outcomes, ctx)) {
      outcomes.push("skipped");
      stepResults.push(null);
      stepErrors.push(null);
      continue;
    }
    try {
      const sql = resolveSql(ctx, step.stmt);
      const info = singleStatement(sql);
      stepResults.push(runStmt(ctx, sql, info, step.stmt));
      stepErrors.push(null);
      outcomes.push("ok");
      if (!startedInAutocommit || !isHarmless(info)) changedSomething = true;
    } catch (e) {
      stepResults.push(null);
      stepErrors.push(toProtoError(e));
      outcomes.push("error");
      if (sqliteErrorCode(e) === "SQLITE_BUSY") busy = true;
    }
  }
  const retry = busy && !changedSomething && (startedInAutocommit || !ctx.isAutocommit());
  // The transaction, if any, was opened by this batch and holds nothing: end it before waiting.
  if (retry && startedInAutocommit && !ctx.isAutocommit() && !ctx.connection().rollback()) {
    return { result: { step_results: stepResults, step_errors: stepErrors }, retry: false };
  }
  return { result: { step_results: stepResults, step_errors: stepErrors }, retry };
}

export function executeSequence(ctx: ExecContext, sql: string): { error: unknown; retry: boolean } | undefined {
  const pieces = analyzeSql(sql).statements.map((text) => ({ text, info: analyzeSql(text) }));
  for (const piece of pieces) refuseUnsafe(piece.info);
  const startedInAutocommit = ctx.isAutocommit();
  let changedSomething = false;
  for (const piece of pieces) {
    const conn = ctx.connection();
    if (piece.info.touchesConnectionState) conn.dirty = true;
    try {
      // exec() finalizes its statements even on error, unlike prepared statements (see connection.ts).
      conn.exec(piece.text);
    } catch (e) {
      let retry = sqliteErrorCode(e) === "SQLITE_BUSY" && !changedSomething && (startedInAutocommit || conn.inTransaction);
      if (retry && startedInAutocommit && conn.inTransaction && !conn.rollback()) retry = false;
      return { error: e, retry };
    }
    if (!startedInAutocommit || !isHarmless(piece.info)) changedSomething = true;
  }
  return undefined;
}

/** SQLite's sqlite3_stmt_readonly, recovered from the program EXPLAIN lists. */
function isReadonly(conn: Connection, sql: string, info: SqlInfo): boolean {
  if (info.isExplain || info.kind === "select") return true;
  if (["begin", "commit", "rollback", "savepoint", "release"].includes(info.kind)) return true;
  const program = conn.queryUncached(`EXPLAIN ${sql}`);
  return !program.some((op) => {
    const opcode = op[1];
    return (
      (opcode === "Transaction" && op[3] !== 0n && op[3] !== 0) ||
      opcode === "Checkpoint" ||
      opcode === "Vacuum" ||
      opcode === "JournalMode"
    );
  });
}

export function describeStmt(ctx: ExecContext, sql: string): DescribeResult {
  const info = singleStatement(sql);
  const conn = ctx.connection();
  // Only prepares (and EXPLAINs): no statement is left active, whatever fails.
  const prepared = conn.prepare(sql);
  return {
    params: info.params.map((p) => ({ name: p.name })),
    cols: columnsOf(prepared),
    is_explain: info.isExplain,
    is_readonly: isReadonly(conn, sql, info),
  };
}

function ok(response: StreamResponse): RequestOutcome {
  return { result: { type: "ok", response }, retry: false };
}

function failed(e: unknown, retry = false): RequestOutcome {
  return { result: { type: "error", error: toProtoError(e) }, retry };
}

/** Runs one stream request other than `close` (which the pipeline handles, as it ends the stream). */
export function executeRequest(ctx: ExecContext, req: Exclude<StreamRequest, { type: "close" }>): RequestOutcome {
  try {
    switch (req.type) {
      case "execute":
        try {
          return ok({ type: "execute", result: executeStmt(ctx, req.stmt) });
        } catch (e) {
          // A single statement that failed changed nothing.
          return failed(e, sqliteErrorCode(e) === "SQLITE_BUSY");
        }
      case "batch": {
        const { result, retry } = executeBatch(ctx, req.batch);
        return { result: { type: "ok", response: { type: "batch", result } }, retry };
      }
      case "sequence": {
        const failure = executeSequence(ctx, resolveSql(ctx, req));
        return failure === undefined ? ok({ type: "sequence" }) : failed(failure.error, failure.retry);
      }
      case "describe":
        return ok({ type: "describe", result: describeStmt(ctx, resolveSql(ctx, req)) });
      case "store_sql":
        if (ctx.sqls.has(req.sql_id)) {
          throw new RequestError("SQL_STORE_EXISTS", `SQL text id ${req.sql_id} is already in use on this stream`);
        }
        if (ctx.sqls.size >= MAX_STORED_SQL) {
          throw new RequestError("SQL_STORE_FULL", `a stream can store at most ${MAX_STORED_SQL} SQL texts`);
        }
        ctx.sqls.set(req.sql_id, req.sql);
        return ok({ type: "store_sql" });
      case "close_sql":
        ctx.sqls.delete(req.sql_id);
        return ok({ type: "close_sql" });
      case "get_autocommit":
        return ok({ type: "get_autocommit", is_autocommit: ctx.isAutocommit() });
    }
  } catch (e) {
    return failed(e);
  }
}
