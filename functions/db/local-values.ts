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
  const out = new Map<string, Record<string, Val>>();
  if (lks.length === 0) return out;
  // Each row's values come as one JSON text already in their wire form: one result cell per row
  // instead of one per value, and text with NUL characters arrives whole.
  const sel = `json_array(${t.cols.map((c) => valJson(quoteIdent(c.name))).join(", ")})`;
  const stmts: Stmt[] = [];
  const keyOf: ((r: Row) => string)[] = [];
  if (t.identity.kind === "rowid") {
    for (const inList of inKeys(lks)) {
      stmts.push({ sql: `SELECT rowid, ${sel} FROM ${quoteIdent(t.name)} WHERE rowid ${inList.sql}`, args: inList.args });
      keyOf.push((r) => String(r[0]));
    }
  } else {
    const where = t.identity.pkCols.map((c) => `${quoteIdent(c)} IS ?`).join(" AND ");
    for (const lk of lks) {
      stmts.push({ sql: `SELECT 0, ${sel} FROM ${quoteIdent(t.name)} WHERE ${where}`, args: pkArgs(String(lk)) });
      keyOf.push(() => String(lk));
    }
  }
  const results = await tx.batch(stmts);
  const refs = schema.refs.get(t.name);
  const pending: { vals: Record<string, Val>; col: string; parent: string; key: bigint }[] = [];
  results.forEach((rows, i) => {
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
      out.set(keyOf[i]!(r), vals);
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
  for (const [parent, keys] of byParent) {
    const results = await tx.batch(
      inKeys([...new Set(keys)]).map((inList) => ({ sql: `SELECT lk, gid FROM _scoutsync_rows INDEXED BY _scoutsync_rows_lk WHERE tbl = ? AND lk ${inList.sql}`, args: [parent, ...inList.args] })),
    );
    for (const r of results.flat()) found.set(`${parent}\u0000${String(r[0])}`, String(r[1]));
  }
  for (const p of pending) {
    const gid = found.get(`${p.parent}\u0000${p.key}`);
    if (gid) setOwn(p.vals, p.col, { r: gid, t: p.parent });
  }
}
