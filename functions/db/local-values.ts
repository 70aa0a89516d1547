/**
 * Reads the values of materialized rows from the app's tables, with foreign keys into rowid
 * tables turned into row references ({r, t}) so that they mean the same row on every site.
 */
import { setOwn } from "../util/own-key.js";
import { quoteIdent } from "../sql/ident.js";
import type { TableInfo } from "../sql/reflect.js";
import { pkArgs } from "./identity.js";
import { inKeys } from "./json-rows.js";
import type { Row, SqlExec, Stmt } from "./port.js";
import type { Schema } from "./schema.js";
import { bytesToBase64, hexToBytes, type Val } from "./values.js";

/** Values by local key (String(lk)) for the given local keys of one table. */
export async function readLocalValues(
  tx: SqlExec,
  schema: Schema,
  t: TableInfo,
  lks: (bigint | string)[],
): Promise<Map<string, Record<string, Val>>> {
  return (await readTablesValues(tx, schema, new Map([[t, lks]]))).get(t) ?? new Map();
}

/**
 * Values by table, then by local key (String(lk)), for the given local keys of several tables:
 * one round trip for the values of every table and the references they hold, not two per table
 * (a page of changes spans the app's tables, and each trip is a request on the path of every change).
 */
export async function readTablesValues(
  tx: SqlExec,
  schema: Schema,
  wanted: ReadonlyMap<TableInfo, (bigint | string)[]>,
): Promise<Map<TableInfo, Map<string, Record<string, Val>>>> {
  const out = new Map<TableInfo, Map<string, Record<string, Val>>>();
  const stmts: Stmt[] = [];
  // For each statement: its table, its reference columns and how a result row names its local key.
  const reads: { t: TableInfo; refs: [col: string, parent: string][]; keyOf: (r: Row) => string }[] = [];
  for (const [t, lks] of wanted) {
    out.set(t, new Map());
    if (lks.length === 0) continue;
    // Each row's values come as one JSON text already in their wire form: one result cell per row
    // instead of one per value, and text with NUL characters arrives whole. A foreign key into a
    // rowid table is followed to its parent's identity in the same statement, after the values.
    const refs = [...(schema.refs.get(t.name) ?? [])];
    // `+` drops the column's affinity, which would otherwise apply to lk and keep the index out.
    const parentGid = (c: string): string =>
      `CASE typeof(t.${c}) WHEN 'integer' THEN (SELECT gid FROM _scoutsync_rows INDEXED BY _scoutsync_rows_lk WHERE tbl = ? AND lk = +t.${c}) END`;
    const sel = `json_array(${[...t.cols.map((c) => valJson(`t.${quoteIdent(c.name)}`)), ...refs.map(([col]) => parentGid(quoteIdent(col)))].join(", ")})`;
    const parents = refs.map(([, parent]) => parent);
    if (t.identity.kind === "rowid") {
      for (const inList of inKeys(lks)) {
        stmts.push({ sql: `SELECT t.rowid, ${sel} FROM ${quoteIdent(t.name)} AS t WHERE t.rowid ${inList.sql}`, args: [...parents, ...inList.args] });
        reads.push({ t, refs, keyOf: (r) => String(r[0]) });
      }
    } else {
      const where = t.identity.pkCols.map((c) => `t.${quoteIdent(c)} IS ?`).join(" AND ");
      for (const lk of lks) {
        stmts.push({ sql: `SELECT 0, ${sel} FROM ${quoteIdent(t.name)} AS t WHERE ${where}`, args: [...parents, ...pkArgs(String(lk))] });
        reads.push({ t, refs, keyOf: () => String(lk) });
      }
    }
  }
  if (stmts.length === 0) return out;
  const results = await tx.batch(stmts);
  results.forEach((rows, i) => {
    const { t, refs, keyOf } = reads[i]!;
    const width = t.cols.length;
    for (const r of rows) {
      const cells = JSON.parse(String(r[1])) as (Val | { h: string })[];
      const vals: Record<string, Val> = {};
      t.cols.forEach((c, j) => {
        const cell = cells[j] ?? null;
        setOwn(vals, c.name, cell !== null && typeof cell === "object" && "h" in cell ? { b: bytesToBase64(hexToBytes(cell.h)) } : cell);
      });
      // A key with no known parent row stays a plain value.
      refs.forEach(([col, parent], k) => {
        const gid = cells[width + k];
        if (typeof gid === "string") setOwn(vals, col, { r: gid, t: parent });
      });
      out.get(t)!.set(keyOf(r), vals);
    }
  });
  return out;
}

/**
 * A column's value as JSON in its wire form (functions/db/values.ts), computed by SQLite. Reals
 * go through printf('%!.17g'), which round-trips (JSON rendering keeps only 15 digits); blobs
 * come as {h: hex}, as SQLite has no base64.
 */
function valJson(c: string): string {
  return (
    `CASE typeof(${c}) WHEN 'integer' THEN iif(${c} BETWEEN -9007199254740991 AND 9007199254740991, ${c}, json_object('i', CAST(${c} AS TEXT))) ` +
    `WHEN 'real' THEN json_object('f', CASE WHEN ${c} = 9e999 THEN 'Infinity' WHEN ${c} = -9e999 THEN '-Infinity' ELSE json(printf('%!.17g', ${c})) END) ` +
    `WHEN 'blob' THEN json_object('h', hex(${c})) ELSE ${c} END`
  );
}
