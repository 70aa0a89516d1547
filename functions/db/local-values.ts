/**
 * Reads the values of materialized rows from the app's tables, with foreign keys into rowid
 * tables turned into row references ({r, t}) so that they mean the same row on every site.
 */
import { addTo } from "../util/multimap.js";
import { quoteIdent } from "../sql/ident.js";
import type { TableInfo } from "../sql/reflect.js";
import { pkArgs } from "./identity.js";
import { inKeys } from "./json-rows.js";
import { type Arg, type Row, type SqlExec, type Stmt } from "./port.js";
import type { Schema } from "./schema.js";
import { encodeVal, type Val } from "./values.js";

/** Values by local key (String(lk)) for the given local keys of one table. */
export async function readLocalValues(
  tx: SqlExec,
  schema: Schema,
  t: TableInfo,
  lks: (bigint | string)[],
): Promise<Map<string, Record<string, Val>>> {
  const out = new Map<string, Record<string, Val>>();
  if (lks.length === 0) return out;
  const cols = t.cols.map((c) => quoteIdent(c.name)).join(", ");
  // Last column: does any text value hold a NUL? The libsql binding cuts text at the first NUL
  // when reading, so such rows are read again as hex (nulTexts).
  const nulFlag = t.cols.length ? t.cols.map((c) => `(typeof(${quoteIdent(c.name)}) = 'text' AND instr(${quoteIdent(c.name)}, char(0)) > 0)`).join(" OR ") : "0";
  const sel = `${cols ? `, ${cols}` : ""}, ${nulFlag}`;
  const stmts: Stmt[] = [];
  const keyOf: ((r: Row) => string)[] = [];
  if (t.identity.kind === "rowid") {
    for (const inList of inKeys(lks)) {
      stmts.push({ sql: `SELECT rowid${sel} FROM ${quoteIdent(t.name)} WHERE rowid ${inList.sql}`, args: inList.args });
      keyOf.push((r) => String(r[0]));
    }
  } else {
    const where = pkWhere(t);
    for (const lk of lks) {
      stmts.push({ sql: `SELECT 0${sel} FROM ${quoteIdent(t.name)} WHERE ${where}`, args: pkArgs(String(lk)) });
      keyOf.push(() => String(lk));
    }
  }
  const results = await tx.batch(stmts);
  const refs = schema.refs.get(t.name);
  const pending: { vals: Record<string, Val>; col: string; parent: string; key: bigint }[] = [];
  const withNul: { vals: Record<string, Val>; stmt: Stmt }[] = [];
  results.forEach((rows, i) => {
    for (const r of rows) {
      const vals: Record<string, Val> = {};
      if (Number(r[t.cols.length + 1] ?? 0)) {
        const byKey = t.identity.kind === "rowid" ? { sql: "rowid = ?", args: [r[0] as Arg] } : { sql: pkWhere(t), args: stmts[i]!.args ?? [] };
        withNul.push({ vals, stmt: { sql: `SELECT ${hexTexts(t)} FROM ${quoteIdent(t.name)} WHERE ${byKey.sql}`, args: byKey.args } });
      }
      t.cols.forEach((c, j) => {
        const raw = r[j + 1] ?? null;
        const parent = refs?.get(c.name);
        if (parent && (typeof raw === "bigint" || typeof raw === "number")) pending.push({ vals, col: c.name, parent, key: BigInt(raw) });
        vals[c.name] = encodeVal(raw);
      });
      out.set(keyOf[i]!(r), vals);
    }
  });
  await resolveRefs(tx, pending);
  await nulTexts(tx, t, withNul);
  return out;
}

function pkWhere(t: TableInfo): string {
  return t.identity.kind === "pk" ? t.identity.pkCols.map((c) => `${quoteIdent(c)} IS ?`).join(" AND ") : "rowid = ?";
}

function hexTexts(t: TableInfo): string {
  return t.cols.map((c) => `CASE WHEN typeof(${quoteIdent(c.name)}) = 'text' THEN hex(${quoteIdent(c.name)}) END`).join(", ");
}

/** Re-reads, as hex, the text values of the rows that hold a NUL character, and decodes them whole. */
async function nulTexts(tx: SqlExec, t: TableInfo, rows: { vals: Record<string, Val>; stmt: Stmt }[]): Promise<void> {
  if (rows.length === 0) return;
  const decoder = new TextDecoder();
  const results = await tx.batch(rows.map((r) => r.stmt));
  rows.forEach(({ vals }, i) => {
    const r = results[i]?.[0];
    if (!r) return;
    t.cols.forEach((c, j) => {
      if (typeof r[j] === "string") vals[c.name] = decoder.decode(hexBytes(String(r[j])));
    });
  });
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
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
    if (gid) p.vals[p.col] = { r: gid, t: p.parent };
  }
}
