/**
 * scoutsync's bookkeeping row for each replicated row (_scoutsync_rows): identity, local key,
 * change sequence, clocks, and the values that have no local home (x): columns or tables this
 * site does not have, a deleted row's last values, or a row parked because it could not be
 * written here (why says so, and the dashboard shows it).
 */
import type { Stamp } from "../clock/hlc.js";
import { type Arg, type Row, type SqlExec, type Stmt } from "./port.js";
import { inKeys, insertRowsStmts } from "./json-rows.js";
import type { RowState } from "./row-state.js";
import type { Val, SqlValue } from "./values.js";

export interface VersionRow {
  tbl: string;
  gid: string;
  /** Local key: a rowid (bigint) for rowid tables, the gid for primary-key tables; null when never materialized. */
  lk: bigint | string | null;
  seq: number;
  ins: Stamp;
  clk: Record<string, Stamp>;
  del: Stamp | null;
  x: Record<string, Val>;
  why: string | null;
  /**
   * The peer this exact state was received from, verbatim (null once merged with anything or
   * written here). That peer already holds it, so it is not sent back: no echo of every change.
   */
  src: string | null;
  /**
   * Other sites the sender said it delivers this same state to (its own peers). Pushes skip
   * them too; pulls (the anti-entropy that heals a sender that died halfway) do not.
   */
  also: string[];
}

const VERSION_COLS = "tbl, gid, lk, seq, ins, clk, del, x, why, src, also";

/**
 * An upsert, not INSERT OR REPLACE: replacing deletes the row and inserts it again, rewriting its
 * entry in every index; an update rewrites only the entries of the columns that change (seq,
 * nearly always): ~10 % less time and 20 % less WAL for 50,000 version rows (B8's shape).
 */
const VERSION_UPSERT = `ON CONFLICT (tbl, gid) DO UPDATE SET ${VERSION_COLS.split(", ").slice(2).map((c) => `${c} = excluded.${c}`).join(", ")}`;

/**
 * What to SELECT for parseVersionRow: a version row as one JSON text (one result cell instead of
 * eleven: a page reads thousands). The local key goes as text with its type, as it may be a
 * 64-bit integer.
 */
export const VERSION_JSON = "json_array(tbl, gid, typeof(lk), CAST(lk AS TEXT), seq, ins, clk, del, x, why, src, also)";

export function parseVersionRow(r: Row): VersionRow {
  const [tbl, gid, lkType, lk, seq, ins, clk, del, x, why, src, also] = JSON.parse(String(r[0])) as [string, string, string, string | null, number, string, string | null, string | null, string | null, string | null, string | null, string | null];
  return {
    tbl,
    gid,
    lk: lk === null ? null : lkType === "integer" ? BigInt(lk) : lk,
    seq,
    ins,
    clk: parseJson(clk) as Record<string, Stamp>,
    del,
    x: parseJson(x) as Record<string, Val>,
    why,
    src,
    also: also?.split(",") ?? [],
  };
}

function parseJson(v: SqlValue | undefined): Record<string, unknown> {
  return typeof v === "string" && v !== "" ? (JSON.parse(v) as Record<string, unknown>) : {};
}

function jsonOrNull(o: Record<string, unknown>): string | null {
  return Object.keys(o).length ? JSON.stringify(o) : null;
}

function versionArgs(v: VersionRow, withLk: boolean): Arg[] {
  const args: Arg[] = [v.tbl, v.gid];
  if (withLk) args.push(v.lk);
  args.push(v.seq, v.ins, jsonOrNull(v.clk), v.del, jsonOrNull(v.x), v.why, v.src, v.also.length ? v.also.join(",") : null);
  return args;
}

/** Writes a version row; `lkSql` replaces the local key with an SQL expression (last_insert_rowid()). */
export function upsertVersionStmt(v: VersionRow, lkSql?: string): Stmt {
  return {
    sql: `INSERT INTO _scoutsync_rows (${VERSION_COLS}) VALUES (?, ?, ${lkSql ?? "?"}, ?, ?, ?, ?, ?, ?, ?, ?) ${VERSION_UPSERT}`,
    args: versionArgs(v, !lkSql),
  };
}

/** Writes many version rows in few statements (bulk apply): one JSON text per page when the values allow it. */
export function upsertVersionsStmts(vs: VersionRow[]): Stmt[] {
  return insertRowsStmts(`INSERT INTO _scoutsync_rows (${VERSION_COLS})`, 11, vs.map((v) => versionArgs(v, true)), true, VERSION_UPSERT);
}

export function versionKey(tbl: string, gid: string): string {
  return `${tbl}\u0000${gid}`;
}

/** Statements that select the version rows of one table by identity (gid) or local key (lk). */
export function versionLookupStmts(tbl: string, by: "gid" | "lk", keys: Arg[]): Stmt[] {
  if (keys.length === 0) return [];
  // Without statistics SQLite walks the primary key (tbl, gid) for an lk lookup: every row of
  // the table (73 ms at 1M rows, B9). The lk index answers it in microseconds.
  const from = by === "lk" ? "_scoutsync_rows INDEXED BY _scoutsync_rows_lk" : "_scoutsync_rows";
  return inKeys([...new Set(keys)]).map((inList) => ({ sql: `SELECT ${VERSION_JSON} FROM ${from} WHERE tbl = ? AND ${by} ${inList.sql}`, args: [tbl, ...inList.args] }));
}

/** Version rows by local key, for one table. */
export async function versionRowsByLk(tx: SqlExec, tbl: string, lks: Arg[]): Promise<VersionRow[]> {
  const stmts = versionLookupStmts(tbl, "lk", lks);
  return stmts.length ? (await tx.batch(stmts)).flat().map(parseVersionRow) : [];
}

/** The replicated state of a version row, given the values its local table row holds (if any). */
export function stateOf(v: VersionRow, tableVals: Record<string, Val> | null): RowState {
  // x wins: it holds replicated values, while a table value for the same column can only be a
  // column the app just added (its default, not a write) waiting for x to be placed.
  return { ins: v.ins, clk: { ...v.clk }, del: v.del, vals: { ...(tableVals ?? {}), ...v.x } };
}
