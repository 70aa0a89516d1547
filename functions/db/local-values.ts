/**
 * Reads the values of materialized rows from the app's tables, with foreign keys into rowid
 * tables turned into row references ({r, t}) so that they mean the same row on every site.
 */
import { addTo } from "../util/multimap.js";
import { quoteIdent } from "../sql/ident.js";
import type { TableInfo } from "../sql/reflect.js";
import { pkArgs } from "./identity.js";
import { chunks, placeholders, type Arg, type Row, type SqlExec, type Stmt } from "./port.js";
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
  const sel = cols ? `, ${cols}` : "";
  const stmts: Stmt[] = [];
  const keyOf: ((r: Row) => string)[] = [];
  if (t.identity.kind === "rowid") {
    for (const part of chunks(lks)) {
      stmts.push({ sql: `SELECT rowid${sel} FROM ${quoteIdent(t.name)} WHERE rowid IN (${placeholders(part.length)})`, args: part as Arg[] });
      keyOf.push((r) => String(r[0]));
    }
  } else {
    const where = t.identity.pkCols.map((c) => `${quoteIdent(c)} IS ?`).join(" AND ");
    for (const lk of lks) {
      stmts.push({ sql: `SELECT 0${sel} FROM ${quoteIdent(t.name)} WHERE ${where}`, args: pkArgs(String(lk)) });
      keyOf.push(() => String(lk));
    }
  }
  const results = await tx.batch(stmts);
  const refs = schema.refs.get(t.name);
  const pending: { vals: Record<string, Val>; col: string; parent: string; key: bigint }[] = [];
  results.forEach((rows, i) => {
    for (const r of rows) {
      const vals: Record<string, Val> = {};
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
  return out;
}

/** Local keys of rowid parents → their identities. A key with no known parent row stays a plain value. */
async function resolveRefs(tx: SqlExec, pending: { vals: Record<string, Val>; col: string; parent: string; key: bigint }[]): Promise<void> {
  const byParent = new Map<string, bigint[]>();
  for (const p of pending) addTo(byParent, p.parent, p.key);
  const found = new Map<string, string>();
  for (const [parent, keys] of byParent) {
    const parts = chunks([...new Set(keys)]);
    const results = await tx.batch(
      parts.map((part) => ({ sql: `SELECT lk, gid FROM _scoutsync_rows WHERE tbl = ? AND lk IN (${placeholders(part.length)})`, args: [parent, ...part] })),
    );
    for (const r of results.flat()) found.set(`${parent}\u0000${String(r[0])}`, String(r[1]));
  }
  for (const p of pending) {
    const gid = found.get(`${p.parent}\u0000${p.key}`);
    if (gid) p.vals[p.col] = { r: gid, t: p.parent };
  }
}
