/**
 * Turns the capture log (written by triggers, for writes by any process) into version rows:
 * assigns each write its HLC stamp, in log order, and bumps the change sequence of every row it
 * touched. Runs inside the write transaction that also applies received changes, so a received
 * change is always merged against the newest local write.
 *
 * Inserts into a rowid table above its high-water mark are not logged (triggers.ts): once the
 * log is empty, capture takes the rows above the mark that have no version row as new rows,
 * stamped now (no other site knows them yet, so no write of theirs can be later), and raises
 * the mark past them. Only then: a logged delete must come before the unlogged insert that
 * reused its rowid. The invariant that makes this sound: no row above a mark is known to
 * capture, except rows the log itself told of (an update of a new row, or a row renumbered
 * upwards) and rows an apply wrote, whose marks the apply raises in its own transaction.
 */
import { stamp, tick, type Stamp } from "../clock/hlc.js";
import { addTo } from "../util/multimap.js";
import { setOwn } from "../util/own-key.js";
import type { TableInfo } from "../sql/reflect.js";
import { quoteIdent } from "../sql/ident.js";
import { freshRowsSql, HIGH_WATER_TABLE, raiseHighWaterSql, OP_DELETE, OP_INSERT, OP_UPDATE, parseChangedCols } from "../sql/triggers.js";
import { pkGid, rowGid } from "./identity.js";
import { readLocalValues } from "./local-values.js";
import { writeMetaStmts, type Meta } from "./meta.js";
import { int, query, textOrNull, type Arg, type Row, type SqlExec, type Stmt } from "./port.js";
import type { EngineContext, Schema } from "./schema.js";
import { decodeTypedList, encodeVal, valKey, type SqlValue, type Val } from "./values.js";
import { colStamp, isAlive, normalize } from "./row-state.js";
import { parseVersionRow, upsertVersionsStmts, VERSION_JSON, versionKey, versionLookupStmts, versionRowsByLk, type VersionRow } from "./version-rows.js";

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

/** Per rowid table with a mark: no row above it existed when capture last looked. */
export type HighWater = Map<string, bigint>;

export const HIGH_WATER_SQL = `SELECT tbl, CAST(hw AS TEXT) FROM ${HIGH_WATER_TABLE}`;

export function parseHighWater(rows: Row[]): HighWater {
  return new Map(rows.map((r) => [String(r[0]), BigInt(String(r[1]))]));
}

/** Rows of one table above its mark, each with the version rows that hold its rowid as local key or as our own identity. */
function freshScanStmt(t: TableInfo, site: string, hw: bigint): Stmt {
  return {
    sql: `SELECT CAST(t.rowid AS TEXT), (SELECT ${VERSION_JSON} FROM _scoutsync_rows INDEXED BY _scoutsync_rows_lk WHERE tbl = ?1 AND lk = +t.rowid), (SELECT ${VERSION_JSON} FROM _scoutsync_rows WHERE tbl = ?1 AND gid = ?2 || '.' || t.rowid) FROM ${quoteIdent(t.name)} AS t WHERE t.rowid > ?3 ORDER BY t.rowid LIMIT ${CAPTURE_PAGE}`,
    args: [t.name, site, hw],
  };
}

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
  opts: { staleCols?: Map<string, string[]>; firstPage?: Row[]; pages?: number; hw?: HighWater; fresh?: boolean } = {},
): Promise<{ captured: number; more: boolean }> {
  let total = 0;
  let rows = opts.firstPage;
  // Whether a row may lie above a mark; the caller may know there is none (freshRowsSql), and spare the scans a round trip.
  let fresh = opts.fresh ?? true;
  const hw = opts.hw ?? new Map<string, bigint>();
  const pages = Math.min(opts.pages ?? MAX_PAGES, MAX_PAGES);
  for (let page = 0; page < pages; page++) {
    rows ??= await query(tx, LOG_PAGE_SQL);
    const drained = rows.length < CAPTURE_PAGE;
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
    const tables = drained ? rowidTables(schema) : [];
    const scans = tables.flatMap((t) => {
      const mark = hw.get(t.name);
      return mark === undefined || !fresh ? [] : [{ t, mark }];
    });
    fresh = true;
    // A table without a mark logs every insert, so with the log empty every row it holds is
    // known: its mark starts at its highest rowid.
    const unmarked = tables.filter((t) => !hw.has(t.name));
    const { writes, taken, marks, full } = await capturePage(tx, ctx, schema, meta, entries, opts.staleCols ?? new Map(), scans);
    for (const [tbl, mark] of marks) hw.set(tbl, mark);
    if (entries.length === 0 && taken === 0 && marks.size === 0 && unmarked.length === 0) return { captured: total, more: false };
    await tx.batch([
      ...writes,
      ...(entries.length ? [{ sql: "DELETE FROM _scoutsync_log WHERE id <= ?", args: [entries[entries.length - 1]!.id] }] : []),
      ...[...marks].map(([tbl, mark]) => ({ sql: `UPDATE ${HIGH_WATER_TABLE} SET hw = ? WHERE tbl = ?`, args: [mark, tbl] })),
      ...unmarked.map((t) => ({ sql: `INSERT OR IGNORE INTO ${HIGH_WATER_TABLE} (tbl, hw) SELECT ?, ifnull(max(rowid), 0) FROM ${quoteIdent(t.name)}`, args: [t.name] })),
      ...writeMetaStmts(meta),
    ]);
    total += entries.length + taken;
    if (drained && !full) return { captured: total, more: false };
    rows = undefined;
  }
  return { captured: total, more: true };
}

/** Tables whose rows are identified by rowid: the ones with marks. */
function rowidTables(schema: Schema): TableInfo[] {
  return [...schema.tables.values()].filter((t) => t.identity.kind === "rowid");
}

/** Whether a row lies above a mark (freshRowsSql), for the schema's rowid tables. */
export function freshRowsStmt(schema: Schema): Stmt {
  return { sql: freshRowsSql(rowidTables(schema).map((t) => t.name)) };
}

/** Raises the marks past rows written with capture muted (an apply's); only once this transaction captured everything. */
export function raiseHighWaterStmts(schema: Schema): Stmt[] {
  const sql = raiseHighWaterSql(rowidTables(schema).map((t) => t.name));
  return sql === null ? [] : [{ sql }];
}

/** The identity key a log entry's local key stands for: the rowid, or the pk gid. */
function localKey(t: TableInfo, k: SqlValue): bigint | string | null {
  if (k === null) return null;
  if (t.identity.kind === "rowid") return typeof k === "bigint" ? k : BigInt(Number(k));
  return pkGid(decodeTypedList(String(k)));
}

/**
 * Replays one page of the log, then takes the rows above the marks of `scans` as new; returns
 * the version-row writes, how many rows the scans took (`taken`), the new marks, and whether a scan
 * filled its page (there may be more).
 */
async function capturePage(
  tx: SqlExec,
  ctx: EngineContext,
  schema: Schema,
  meta: Meta,
  entries: LogEntry[],
  staleCols: Map<string, string[]>,
  scans: { t: TableInfo; mark: bigint }[],
): Promise<{ writes: Stmt[]; taken: number; marks: HighWater; full: boolean }> {
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
  // The scans go in the same round trip: the log's own writes do not change which rows exist.
  const results = lookups.length + scans.length ? await tx.batch([...lookups, ...scans.map((s) => freshScanStmt(s.t, ctx.site, s.mark))]) : [];
  results.slice(0, lookups.length).flat().map(parseVersionRow).forEach(index);
  const scanned = scans.map((s, i) => {
    const found = results[lookups.length + i] ?? [];
    for (const r of found) for (const json of [r[1], r[2]]) if (json !== null && json !== undefined) index(parseVersionRow([json]));
    return { t: s.t, lks: found.map((r) => BigInt(String(r[0]))) };
  });

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

  let taken = 0;
  const marks: HighWater = new Map();
  for (const { t, lks } of scanned) {
    for (const lk of lks) {
      // Known already: written by an apply, or told of by the log above.
      if (find(t, lk)) continue;
      meta.hlc = tick(meta.hlc, ctx.now());
      const v = insert(t, lk, stamp(meta.hlc, ctx.site));
      touched.set(versionKey(v.tbl, v.gid), v);
      taken++;
    }
    const last = lks[lks.length - 1];
    if (last !== undefined) marks.set(t.name, last);
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
  return { writes: upsertVersionsStmts([...touched.values()]), taken, marks, full: scanned.some((s) => s.lks.length === CAPTURE_PAGE) };
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
