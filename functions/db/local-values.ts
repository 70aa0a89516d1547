/**
 * Reads the values of materialized rows from the app's tables, with foreign keys into rowid
 * tables turned into row references ({r, t}) so that they mean the same row on every site.
 */
import { addTo } from "../util/multimap.js";
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
 * one round trip for the values of every table and one for the references they hold, not two
 * per table (a page of changes spans the app's tables, and each trip is a request on the path of every change).
 */
export async function readTablesValues(
  tx: SqlExec,
  schema: Schema,
  wanted: ReadonlyMap<TableInfo, (bigint | string)[]>,
): Promise<Map<TableInfo, Map<string, Record<string, Val>>>> {
  const out = new Map<TableInfo, Map<string, Record<string, Val>>>();
  const stmts: Stmt[] = [];
  // For each statement: its table and how a result row names its local key.
  const reads: { t: TableInfo; keyOf: (r: Row) => string }[] = [];
  for (const [t, lks] of wanted) {
    out.set(t, new Map());
    if (lks.length === 0) continue;
    // Each row's values come as one JSON text already in their wire form: one result cell per row
    // instead of one per value, and text with NUL characters arrives whole.
    const sel = `json_array(${t.cols.map((c) => valJson(quoteIdent(c.name))).join(", ")})`;
    if (t.identity.kind === "rowid") {
      for (const inList of inKeys(lks)) {
        stmts.push({ sql: `SELECT rowid, ${sel} FROM ${quoteIdent(t.name)} WHERE rowid ${inList.sql}`, args: inList.args });
        reads.push({ t, keyOf: (r) => String(r[0]) });
      }
    } else {
      const where = t.identity.pkCols.map((c) => `${quoteIdent(c)} IS ?`).join(" AND ");
      for (const lk of lks) {
        stmts.push({ sql: `SELECT 0, ${sel} FROM ${quoteIdent(t.name)} WHERE ${where}`, args: pkArgs(String(lk)) });
        reads.push({ t, keyOf: () => String(lk) });
      }
    }
  }
  if (stmts.length === 0) return out;
  const results = await tx.batch(stmts);
  const pending: { vals: Record<string, Val>; col: string; parent: string; key: bigint }[] = [];
  results.forEach((rows, i) => {
    const { t, keyOf } = reads[i]!;
    const refs = schema.refs.get(t.name);
    for (const r of rows) {
      const cells = JSON.parse(String(r[1])) as (Val | { h: string })[];
      const vals: Record<string, Val> = {};
      t.cols.forEach((c, j) => {
        const cell = cells[j] ?? null;
        const v = cell !== null && typeof cell === "object" && "h" in cell ? { b: bytesToBase64(hexToBytes(cell.h)) } : cell;
        const parent = refs?.get(c.name);
        const key = typeof v === "number" ? BigInt(v) : v !== null && typeof v === "object" && "i" in v ? BigInt(v.i) : null;
        if (parent && key !== null) pending.push({ vals, col: c.name, parent, key });
        setOwn(vals, c.name, v);
      });
      out.get(t)!.set(keyOf(r), vals);
    }
  });
  await resolveRefs(tx, pending);
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

/** Local keys of rowid parents → their identities. A key with no known parent row stays a plain value. */
async function resolveRefs(tx: SqlExec, pending: { vals: Record<string, Val>; col: string; parent: string; key: bigint }[]): Promise<void> {
  const byParent = new Map<string, bigint[]>();
  for (const p of pending) addTo(byParent, p.parent, p.key);
  const found = new Map<string, string>();
  // Every parent table's keys in one round trip.
  const lookups = [...byParent].flatMap(([parent, keys]) =>
    inKeys([...new Set(keys)]).map((inList) => ({ parent, stmt: { sql: `SELECT lk, gid FROM _scoutsync_rows INDEXED BY _scoutsync_rows_lk WHERE tbl = ? AND lk ${inList.sql}`, args: [parent, ...inList.args] } })),
  );
  if (lookups.length === 0) return;
  const results = await tx.batch(lookups.map((l) => l.stmt));
  results.forEach((rows, i) => {
    for (const r of rows) found.set(`${lookups[i]!.parent}\u0000${String(r[0])}`, String(r[1]));
  });
  for (const p of pending) {
    const gid = found.get(`${p.parent}\u0000${p.key}`);
    if (gid) setOwn(p.vals, p.col, { r: gid, t: p.parent });
  }
}
