/**
 * The one I/O boundary of the database engine: a SQL connection that runs statement batches
 * inside a transaction. The worker implements it over @libsql/client (HTTP to the embedded
 * server or Turso); tests implement it over an in-process libsql database.
 */
import type { SqlValue } from "./values.js";

export type Arg = null | string | number | bigint | Uint8Array;
export interface Stmt {
  sql: string;
  args?: Arg[];
}
/** A result row, by position: integers arrive as bigint, reals as number, blobs as ArrayBuffer/Uint8Array. */
export type Row = SqlValue[];

export interface SqlExec {
  /**
   * Runs the statements in order, in the current transaction. Stops at the first failure and
   * throws it; statements before it stay applied (wrap in a SAVEPOINT to undo them).
   */
  batch(stmts: Stmt[]): Promise<Row[][]>;
}

export interface SqlDb {
  /** Runs fn in one write transaction (BEGIN IMMEDIATE … COMMIT, ROLLBACK if fn throws). */
  write<T>(fn: (tx: SqlExec) => Promise<T>): Promise<T>;
  /** Runs fn in one read transaction. */
  read<T>(fn: (tx: SqlExec) => Promise<T>): Promise<T>;
  /** Runs fixed statements in one read transaction, in one round trip. */
  snapshot(stmts: Stmt[]): Promise<Row[][]>;
}

export function int(v: SqlValue | undefined): number {
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "number") return v;
  if (typeof v === "string" && v !== "") return Number(v);
  return 0;
}

export function textOrNull(v: SqlValue | undefined): string | null {
  return typeof v === "string" ? v : null;
}

/** Runs one statement and returns its rows. */
export async function query(tx: SqlExec, sql: string, args: Arg[] = []): Promise<Row[]> {
  const [rows] = await tx.batch([{ sql, args }]);
  return rows ?? [];
}

/** Splits a list for `IN (…)` lists, well under SQLite's parameter limit. */
export function chunks<T>(items: T[], size = 400): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function placeholders(n: number): string {
  return Array.from({ length: n }, () => "?").join(", ");
}
