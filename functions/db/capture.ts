/**
 * Turns the capture log (written by triggers, for writes by any process) into version rows:
 * assigns each write its HLC stamp, in log order, and bumps the change sequence of every row it
 * touched. Runs inside the write transaction that also applies received changes, so a received
 * change is always merged against the newest local write.
 */
import { stamp, tick, type Stamp } from "../clock/hlc.js";
import { addTo } from "../util/multimap.js";
import { setOwn } from "../util/own-key.js";
import type { TableInfo } from "../sql/reflect.js";
import { OP_DELETE, OP_INSERT, OP_UPDATE, parseChangedCols } from "../sql/triggers.js";
import { pkGid, rowGid } from "./identity.js";
import { readLocalValues } from "./local-values.js";
import { writeMetaStmts, type Meta } from "./meta.js";
import { int, query, textOrNull, type Arg, type Row, type SqlExec, type Stmt } from "./port.js";
import type { EngineContext, Schema } from "./schema.js";
import { decodeTypedList, encodeVal, valKey, type SqlValue, type Val } from "./values.js";
import { colStamp, isAlive, normalize } from "./row-state.js";
import { parseVersionRow, upsertVersionsStmts, versionKey, versionLookupStmts, versionRowsByLk, type VersionRow } from "./version-rows.js";

interface LogEntry {
  id: number;
  tbl: string;
  op: number;
  k: SqlValue;
  k0: SqlValue;
  ms: number;
  cols: string | null;
  vals: string | null;
}

/** Log entries per page: small enough that one page holds the app's write lock only briefly. */
export const CAPTURE_PAGE = 1000;
/** The most pages one transaction captures (an apply must capture all pending writes first). */
const MAX_PAGES = 100;

export const LOG_PAGE_SQL = `SELECT id, tbl, op, k, k0, ms, cols, vals FROM _scoutsync_log ORDER BY id LIMIT ${CAPTURE_PAGE}`;

/**
 * Captures up to `pages` pages of the log. Returns how many log entries were processed, and
 * whether the log may hold more. `firstPage` is the result of LOG_PAGE_SQL when the caller
 * already read it in its own batch. Each page's writes, the log trim and the counters go in one batch.
 */
export async function capture(
  tx: SqlExec,
  ctx: EngineContext,
  schema: Schema,
  meta: Meta,
  opts: { staleCols?: Map<string, string[]>; firstPage?: Row[]; pages?: number } = {},
): Promise<{ captured: number; more: boolean }> {
  let total = 0;
  let rows = opts.firstPage;
  const pages = Math.min(opts.pages ?? MAX_PAGES, MAX_PAGES);
  for (let page = 0; page < pages; page++) {
    rows ??= await query(tx, LOG_PAGE_SQL);
    if (rows.length === 0) break;
    const entries: LogEntry[] = rows.map((r) => ({
      id: int(r[0]),
      tbl: String(r[1]),
      op: int(r[2]),
      k: r[3] ?? null,
      k0: r[4] ?? null,
      ms: int(r[5]),
      cols: textOrNull(r[6]),
      vals: textOrNull(r[7]),
    }));
    const writes = await capturePage(tx, ctx, schema, meta, entries, opts.staleCols ?? new Map());
    await tx.batch([...writes, { sql: "DELETE FROM _scoutsync_log WHERE id <= ?", args: [entries[entries.length - 1]!.id] }, ...writeMetaStmts(meta)]);
    total += entries.length;
    if (rows.length < CAPTURE_PAGE) return { captured: total, more: false };
    rows = undefined;
  }
  return { captured: total, more: rows === undefined && total > 0 };
}

/** The identity key a log entry's local key stands for: the rowid, or the pk gid. */
function localKey(t: TableInfo, k: SqlValue): bigint | string | null {
  if (k === null) return null;
  if (t.identity.kind === "rowid") return typeof k === "bigint" ? k : BigInt(Number(k));
  return pkGid(decodeTypedList(String(k)));
}

/** Replays one page of the log; returns the version-row writes. */
async function capturePage(tx: SqlExec, ctx: EngineContext, schema: Schema, meta: Meta, entries: LogEntry[], staleCols: Map<string, string[]>): Promise<Stmt[]> {
  // Index what exists for every key the page mentions, then replay the page in memory.
  const byLk = new Map<string, VersionRow>();
  const byGid = new Map<string, VersionRow>();
  const index = (v: VersionRow): void => {
    byGid.set(versionKey(v.tbl, v.gid), v);
    if (v.lk !== null) byLk.set(versionKey(v.tbl, String(v.lk)), v);
  };
  const keysByTable = new Map<string, Set<bigint | string>>();
  for (const e of entries) {
    const t = schema.tables.get(e.tbl);
    if (!t) continue;
    const set = keysByTable.get(t.name) ?? new Set();
    for (const k of [e.k, e.k0]) {
      const lk = localKey(t, k);
      if (lk !== null) set.add(lk);
      if (lk !== null && t.identity.kind === "rowid") set.add(rowGid(ctx.site, lk as bigint));
    }
    keysByTable.set(t.name, set);
  }
  const lookups: Stmt[] = [];
  for (const [tbl, keys] of keysByTable) {
    const all = [...keys];
    lookups.push(...versionLookupStmts(tbl, "lk", all.filter((k) => typeof k === "bigint") as Arg[]));
    lookups.push(...versionLookupStmts(tbl, "gid", all.filter((k) => typeof k === "string") as string[]));
  }
  if (lookups.length) (await tx.batch(lookups)).flat().map(parseVersionRow).forEach(index);

  const written = await addedColumnsWritten(tx, schema, entries, staleCols);
  const touched = new Map<string, VersionRow>();
  const tombs: { v: VersionRow; t: TableInfo }[] = [];
  const parkedEdits: { v: VersionRow; t: TableInfo; cols: string[] }[] = [];
  const find = (t: TableInfo, lk: bigint | string): VersionRow | undefined =>
    t.identity.kind === "rowid" ? byLk.get(versionKey(t.name, String(lk))) : byGid.get(versionKey(t.name, lk as string));

  const insert = (t: TableInfo, lk: bigint | string, at: Stamp): VersionRow => {
    const existing = find(t, lk);
    if (existing) {
      // The same identity written again (re-insert after delete, or INSERT OR REPLACE):
      // every local column is new; columns this site lacks keep their own stamps.
      const local = new Set(t.cols.map((c) => c.name));
      const clk: Record<string, Stamp> = {};
      const x: Record<string, Val> = {};
      for (const [col, val] of Object.entries(existing.x)) {
        if (local.has(col)) continue;
        setOwn(x, col, val);
        setOwn(clk, col, colStamp({ ins: existing.ins, clk: existing.clk, del: existing.del, vals: existing.x }, col) ?? existing.ins);
      }
      Object.assign(existing, { ins: at, clk, x, why: null, lk });
      return existing;
    }
    let gid = t.identity.kind === "rowid" ? rowGid(ctx.site, lk as bigint) : (lk as string);
    if (byGid.has(versionKey(t.name, gid))) gid = rowGid(ctx.site, lk as bigint, at.slice(0, 16));
    const v: VersionRow = { tbl: t.name, gid, lk, seq: 0, ins: at, clk: {}, del: null, x: {}, why: null, src: null, also: [] };
    index(v);
    return v;
  };

  for (const e of entries) {
    const t = schema.tables.get(e.tbl);
    if (!t) continue; // table dropped since: nothing left to replicate
    meta.hlc = tick(meta.hlc, e.ms);
    const at = stamp(meta.hlc, ctx.site);
    const k = localKey(t, e.k);
    if (k === null) continue;
    let v: VersionRow | undefined;
    if (e.op === OP_INSERT) {
      v = insert(t, k, at);
    } else if (e.op === OP_UPDATE) {
      const k0 = localKey(t, e.k0) ?? k;
      const old = find(t, k0);
      if (!old) v = insert(t, k, at);
      else if (k0 !== k && t.identity.kind === "pk") {
        // A new primary key is a new identity: the old one is deleted.
        old.del = at;
        old.lk = null;
        touched.set(versionKey(old.tbl, old.gid), old);
        v = insert(t, k, at);
      } else {
        v = old;
        if (k0 !== k) {
          byLk.delete(versionKey(t.name, String(k0)));
          v.lk = k;
          index(v);
        }
        const cols = [...parseChangedCols(e.cols), ...(written.get(versionKey(t.name, String(k))) ?? [])];
        for (const col of cols) setOwn(v.clk, col, at);
        if (v.why !== null) parkedEdits.push({ v, t, cols });
      }
    } else if (e.op === OP_DELETE) {
      v = find(t, k);
      if (!v) continue;
      v.del = at;
      if (t.identity.kind === "rowid") {
        // The app may hand this rowid to a new, unrelated row: the dead identity lets go of it.
        byLk.delete(versionKey(t.name, String(k)));
        v.lk = null;
      }
      if (e.vals) {
        const vals = decodeTypedList(e.vals);
        t.cols.forEach((c, i) => {
          setOwn(v!.x, c.name, vals[i] ?? null);
        });
        tombs.push({ v, t });
      }
    }
    if (v) touched.set(versionKey(v.tbl, v.gid), v);
  }

  await keepTombValues(tx, schema, tombs);
  await refreshParked(tx, schema, parkedEdits);
  for (const v of touched.values()) {
    v.seq = ++meta.seq;
    v.src = null;
    v.also = [];
    const n = normalize({ ins: v.ins, clk: v.clk, del: v.del, vals: Object.fromEntries(schemaCols(schema, v.tbl).concat(Object.keys(v.x)).map((c) => [c, null])) });
    v.clk = n.clk;
  }
  return upsertVersionsStmts([...touched.values()]);
}

function schemaCols(schema: Schema, tbl: string): string[] {
  return schema.tables.get(tbl)?.cols.map((c) => c.name) ?? [];
}

/**
 * For updates logged by triggers older than some columns: which of those columns the row holds
 * a value other than the column's default in. A column the app just added holds its default in
 * every row, so anything else was written by the app; claiming the default as a write would
 * wipe a value another site put there.
 */
async function addedColumnsWritten(tx: SqlExec, schema: Schema, entries: LogEntry[], staleCols: Map<string, string[]>): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const [tbl, added] of staleCols) {
    const t = schema.tables.get(tbl);
    if (!t) continue;
    const lks = entries.filter((e) => e.op === OP_UPDATE && e.tbl === tbl).map((e) => localKey(t, e.k)).filter((k): k is bigint | string => k !== null);
    if (lks.length === 0) continue;
    const cols = t.cols.filter((c) => added.includes(c.name));
    const [defaults] = await tx.batch([{ sql: `SELECT ${cols.map((c) => c.dflt ?? "NULL").join(", ")}` }]);
    const dflt = cols.map((_, i) => valKey(encodeVal(defaults?.[0]?.[i] ?? null)));
    const values = await readLocalValues(tx, schema, t, lks);
    for (const lk of lks) {
      const vals = values.get(String(lk));
      if (!vals) continue;
      out.set(versionKey(tbl, String(lk)), cols.filter((c, i) => valKey(vals[c.name] ?? null) !== dflt[i]).map((c) => c.name));
    }
  }
  return out;
}

/** A deleted row's last values stay with its tombstone, with foreign keys as row references. */
async function keepTombValues(tx: SqlExec, schema: Schema, tombs: { v: VersionRow; t: TableInfo }[]): Promise<void> {
  const wanted: { v: VersionRow; col: string; parent: string; key: bigint }[] = [];
  for (const { v, t } of tombs) {
    const refs = schema.refs.get(t.name);
    // Re-inserted later in the same page: its values are in the table again.
    if (!refs?.size || isAlive({ ins: v.ins, clk: v.clk, del: v.del, vals: {} })) continue;
    for (const [col, parent] of refs) {
      const raw = v.x[col];
      if (typeof raw === "number") wanted.push({ v, col, parent, key: BigInt(raw) });
      else if (raw !== null && typeof raw === "object" && "i" in raw) wanted.push({ v, col, parent, key: BigInt(raw.i) });
    }
  }
  // One lookup per parent table for the whole page, not one round trip per deleted row.
  const keys = new Map<string, bigint[]>();
  for (const w of wanted) addTo(keys, w.parent, w.key);
  const gids = new Map<string, string>();
  for (const [parent, list] of keys) {
    for (const p of await versionRowsByLk(tx, parent, list)) gids.set(versionKey(parent, String(p.lk)), p.gid);
  }
  for (const w of wanted) {
    const gid = gids.get(versionKey(w.parent, String(w.key)));
    if (gid) setOwn(w.v.x, w.col, { r: gid, t: w.parent });
  }
}

/** A parked row's values live in x; a local edit of its stale table row must land there too. */
async function refreshParked(tx: SqlExec, schema: Schema, edits: { v: VersionRow; t: TableInfo; cols: string[] }[]): Promise<void> {
  for (const { v, t, cols } of edits) {
    if (v.lk === null) continue;
    const vals = (await readLocalValues(tx, schema, t, [v.lk])).get(String(v.lk));
    for (const col of cols) if (vals && Object.hasOwn(vals, col)) setOwn(v.x, col, vals[col] ?? null);
  }
}
