/**
 * Capture triggers, generated from reflection. They log every write by any process (the app
 * opens the file directly) into _scoutsync_log, cheaply: one small row per written row, with
 * the wall clock in milliseconds; the HLC is assigned when the log is read (capture.ts).
 * One write is not logged: an insert into a rowid table above the table's high-water mark
 * (_scoutsync_hw), the rowid every row at or below which capture has seen. Capture finds those
 * rows by their rowid instead, and the log row, most of what the trigger cost the app, is saved.
 * Only SQL that SQLite 3.31+ runs (no unixepoch('subsec'), no libSQL syntax), because the app
 * may bring its own SQLite (Python's sqlite3 in Debian 12 is 3.40).
 */
import { quoteIdent, quoteText } from "./ident.js";
import type { TableInfo } from "./reflect.js";

export const LOG_TABLE = "_scoutsync_log";
export const MUTE_TABLE = "_scoutsync_mute";
export const HIGH_WATER_TABLE = "_scoutsync_hw";

/** Part of each table's trigger signature: raised when the generated triggers change, so sites reinstall them. */
export const TRIGGER_FORMAT = 2;

export const OP_INSERT = 1;
export const OP_UPDATE = 2;
export const OP_DELETE = 3;

/** Tables scoutsync keeps inside the app's file: only what triggers write and what must commit atomically with the rows. */
export const CAPTURE_DDL: string[] = [
  // k/k0: local key (rowid, or the typed list of primary key values); no declared type, so no affinity.
  `CREATE TABLE IF NOT EXISTS ${LOG_TABLE} (id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, op INTEGER NOT NULL, k, k0, ms INTEGER NOT NULL, cols TEXT, vals TEXT)`,
  // A row here during an apply transaction silences the triggers: received changes are not captured again.
  `CREATE TABLE IF NOT EXISTS ${MUTE_TABLE} (x)`,
  `CREATE TABLE IF NOT EXISTS _scoutsync_meta (k TEXT PRIMARY KEY, v)`,
  // Per rowid table: no row above this rowid existed when capture last looked (capture.ts). No
  // row here (a table whose triggers predate it): every insert is logged.
  `CREATE TABLE IF NOT EXISTS ${HIGH_WATER_TABLE} (tbl TEXT PRIMARY KEY, hw INTEGER NOT NULL) WITHOUT ROWID`,
  // One row per replicated row: identity (gid), local key (lk, null when not materialized),
  // change sequence for peers, clocks, values that have no local home (x), and the sites known
  // to hold this state already: the peer it came from unchanged (src), and those its sender
  // also delivers it to (also, comma-separated site ids).
  `CREATE TABLE IF NOT EXISTS _scoutsync_rows (tbl TEXT NOT NULL, gid TEXT NOT NULL, lk, seq INTEGER NOT NULL, ins TEXT NOT NULL, clk TEXT, del TEXT, x TEXT, why TEXT, src TEXT, also TEXT, PRIMARY KEY (tbl, gid)) WITHOUT ROWID`,
  `CREATE INDEX IF NOT EXISTS _scoutsync_rows_lk ON _scoutsync_rows (tbl, lk)`,
  `CREATE INDEX IF NOT EXISTS _scoutsync_rows_seq ON _scoutsync_rows (seq)`,
  `CREATE INDEX IF NOT EXISTS _scoutsync_rows_why ON _scoutsync_rows (why) WHERE why IS NOT NULL`,
];

const MS_NOW = "CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)";

/** A JSON array of [type, exact text] pairs for the given columns of NEW or OLD. */
export function typedList(ref: string, cols: string[]): string {
  if (cols.length === 0) return "'[]'";
  const parts = cols.map((c) => {
    const v = `${ref}.${quoteIdent(c)}`;
    return `json_array(typeof(${v}), CASE typeof(${v}) WHEN 'blob' THEN hex(${v}) WHEN 'real' THEN printf('%!.17g', ${v}) ELSE CAST(${v} AS TEXT) END)`;
  });
  // One json_array per column keeps each call at two arguments: SQLite caps function arguments.
  return `'[' || ${parts.join(" || ',' || ")} || ']'`;
}

export function keyExpr(t: TableInfo, ref: "NEW" | "OLD"): string {
  return t.identity.kind === "rowid" ? `${ref}.rowid` : typedList(ref, t.identity.pkCols);
}

/** Names of updated columns as a JSON list body: `"a","b",` (the trailing comma is dropped when read). */
function changedCols(t: TableInfo): string {
  const parts = t.cols.map(
    (c) => `CASE WHEN OLD.${quoteIdent(c.name)} IS NOT NEW.${quoteIdent(c.name)} THEN ${quoteText(JSON.stringify(c.name) + ",")} ELSE '' END`,
  );
  return parts.length ? parts.join(" || ") : "''";
}

export function triggerNames(table: string): string[] {
  return ["ai", "au", "ad"].map((k) => `_scoutsync_${k}_${table}`);
}

export function dropTriggersSql(table: string): string[] {
  return triggerNames(table).map((n) => `DROP TRIGGER IF EXISTS ${quoteIdent(n)}`);
}

export function createTriggersSql(t: TableInfo): string[] {
  const [ai, au, ad] = triggerNames(t.name).map(quoteIdent) as [string, string, string];
  const tbl = quoteIdent(t.name);
  const name = quoteText(t.name);
  const when = `WHEN NOT EXISTS (SELECT 1 FROM ${MUTE_TABLE})`;
  // Without a mark (ifnull) the insert is logged, so a missing row never hides a write.
  const logInsert =
    t.identity.kind === "rowid" ? `${when} AND NEW.rowid <= ifnull((SELECT hw FROM ${HIGH_WATER_TABLE} WHERE tbl = ${name}), NEW.rowid)` : when;
  return [
    `CREATE TRIGGER ${ai} AFTER INSERT ON ${tbl} ${logInsert} BEGIN INSERT INTO ${LOG_TABLE} (tbl, op, k, ms) VALUES (${name}, ${OP_INSERT}, ${keyExpr(t, "NEW")}, ${MS_NOW}); END`,
    `CREATE TRIGGER ${au} AFTER UPDATE ON ${tbl} ${when} BEGIN INSERT INTO ${LOG_TABLE} (tbl, op, k, k0, ms, cols) VALUES (${name}, ${OP_UPDATE}, ${keyExpr(t, "NEW")}, ${keyExpr(t, "OLD")}, ${MS_NOW}, ${changedCols(t)}); END`,
    `CREATE TRIGGER ${ad} AFTER DELETE ON ${tbl} ${when} BEGIN INSERT INTO ${LOG_TABLE} (tbl, op, k, ms, vals) VALUES (${name}, ${OP_DELETE}, ${keyExpr(t, "OLD")}, ${MS_NOW}, ${typedList("OLD", t.cols.map((c) => c.name))}); END`,
  ];
}

/** `CASE tbl WHEN 'a' THEN (SELECT max(rowid) FROM "a") … END`: each table's highest rowid, for a _scoutsync_hw row. */
function maxRowidByName(tables: readonly string[]): string {
  return `CASE tbl ${tables.map((n) => `WHEN ${quoteText(n)} THEN (SELECT max(rowid) FROM ${quoteIdent(n)})`).join(" ")} END`;
}

/**
 * One row: 1 when some rowid table among `tables` holds a row above its high-water mark (an
 * insert no log row tells of), else 0. Names a table that no longer exists: the statement then
 * fails, which callers take as "cannot tell" (and capture, which reflects again).
 */
export function freshRowsSql(tables: readonly string[]): string {
  if (tables.length === 0) return "SELECT 0";
  return `SELECT EXISTS (SELECT 1 FROM ${HIGH_WATER_TABLE} WHERE ${maxRowidByName(tables)} > hw)`;
}

/** Raises the marks of `tables` to their highest rowid: for rows written while capture is muted (an apply), which no scan should take for the app's. */
export function raiseHighWaterSql(tables: readonly string[]): string | null {
  if (tables.length === 0) return null;
  const max = maxRowidByName(tables);
  return `UPDATE ${HIGH_WATER_TABLE} SET hw = ${max} WHERE ${max} > hw`;
}

/** Parses the `cols` field of an update log row. */
export function parseChangedCols(text: string | null): string[] {
  if (!text) return [];
  return JSON.parse(`[${text.slice(0, -1)}]`) as string[];
}
