/**
 * Merges received row states into the local database and writes the result into the app's own
 * tables, so the running app reads it on its next query.
 *
 * One bad row never blocks the rest: a row that violates a local constraint (UNIQUE, NOT NULL,
 * CHECK), targets a table this site does not have, or points at a parent that has not arrived,
 * is parked (its state kept in the version row with the reason) and retried later; the batch
 * goes on. Parked rows are still forwarded to other peers, so A ↔ B ↔ C converges even when B
 * cannot hold a row itself.
 */
import { addTo } from "../util/multimap.js";
import { setOwn } from "../util/own-key.js";
import { observe, stamp, stampHlc, tick } from "../clock/hlc.js";
import { quoteIdent } from "../sql/ident.js";
import type { TableInfo } from "../sql/reflect.js";
import type { ApplyResult, RowChange } from "../wire/database.js";
import { originKey, pkArgs } from "./identity.js";
import { inKeys, insertRowsStmts, jsonRowsSelect, splitRows } from "./json-rows.js";
import { readTablesValues } from "./local-values.js";
import type { Meta } from "./meta.js";
import { type Arg, type Row, type SqlExec, type Stmt } from "./port.js";
import { isAlive, maxStampOf, mergeStates, revivedState, sameState, sameVal, type RowState } from "./row-state.js";
import type { EngineContext, Schema } from "./schema.js";
import { decodeVal, type Val } from "./values.js";
import { VERSION_JSON, parseVersionRow, stateOf, upsertVersionStmt, upsertVersionsStmts, versionKey, versionLookupStmts, type VersionRow } from "./version-rows.js";

interface Planned {
  ch: RowChange;
  /** Who holds the merged state already: the sender and the sites it also delivers to, when the state is exactly what it sent. */
  held: { src: string | null; also: string[] };
  merged: RowState;
  ev: VersionRow | undefined;
  /** The row's values in its table, when it is physically there. */
  vals: Record<string, Val> | undefined;
  /** The replicated state changed (peers must hear of it), not only its local placement. */
  changed: boolean;
}

interface Group {
  /** Statements of this row alone, run in plan order after every bulk write. */
  stmts: Stmt[];
  park(reason: string): Stmt[];
  /**
   * A plain insert at a known key, a plain update by rowid (args start with the rowid), or a
   * delete by rowid (args: the rowid), written with the others of its table and columns in one statement.
   */
  bulk?: { kind: "insert" | "update" | "delete"; table: string; cols: string[]; args: Arg[] };
  /** Its version row, written with all the others in one statement (before `stmts`: a child's lookup may need it). */
  version?: VersionRow;
}

const NOBODY = { src: null, also: [] };

export interface AppliedBatch extends ApplyResult {
  /**
   * Rows whose new state here no other site is known to hold (merged with a local write, or a
   * revived parent): they must reach every peer. The rest are held by the sender and the sites
   * it also delivers to, so there is nothing to forward when those are all our peers.
   */
  unheld: number;
  /**
   * The sequence before this batch's rows took theirs. With `unheld` 0, every sequence after it
   * (up to the site's new head) went to a row exactly as the sender sent it, which the sender holds.
   */
  seqBase: number;
}

const MUTE: Stmt = { sql: "INSERT INTO _scoutsync_mute VALUES (1)" };
const UNMUTE: Stmt = { sql: "DELETE FROM _scoutsync_mute" };

/** Rows parked earlier are retried this many at a time, when something arrived that may unblock them. */
const PARKED_RETRY = 100;

/**
 * The reads an apply of `changes` starts with: the version rows of everything received. A caller
 * may run them earlier in the same transaction (with other statements, to save a round trip)
 * and hand their results to applyChanges as `looked`.
 */
export function lookupStmts(changes: readonly RowChange[]): Stmt[] {
  const byTable = new Map<string, string[]>();
  for (const ch of changes) addTo(byTable, ch.t, ch.g);
  return [...byTable].flatMap(([tbl, gids]) => versionLookupStmts(tbl, "gid", gids));
}

/** How an apply shares its round trips with the caller's transaction. */
export interface ApplyRound {
  /** The results of lookupStmts(changes), read already in this transaction. */
  looked?: Row[][];
  /** The statements that end the apply, once the plan has moved the clock and the sequence: written in the same round trip as the rows. */
  after?: () => Stmt[];
}

/**
 * Applies a batch inside the caller's write transaction. `from` is the sending peer's site id,
 * `also` the other sites it delivers the same batch to.
 * `retry` adds rows whose values had no home before (parked rows; rows of tables that just
 * changed shape) to be placed again.
 */
export async function applyChanges(
  tx: SqlExec,
  ctx: EngineContext,
  schema: Schema,
  meta: Meta,
  incoming: { from: string | null; also: string[]; changes: RowChange[] },
  retry: { parked: boolean; tables: string[] },
  round: ApplyRound = {},
): Promise<AppliedBatch> {
  // Duplicates inside one batch merge first: the result is the same as applying them one by one.
  const wanted = new Map<string, RowChange>();
  for (const ch of incoming.changes) {
    const key = versionKey(ch.t, ch.g);
    const prev = wanted.get(key);
    wanted.set(key, prev ? { ...ch, s: mergeStates(prev.s, ch.s) } : ch);
  }

  // One round trip (or none): the version rows of everything received unless the caller read
  // them, and the rows to retry.
  const lookups = round.looked ? [] : lookupStmts(incoming.changes);
  const retries: Stmt[] = [
    ...(retry.parked ? [{ sql: `SELECT ${VERSION_JSON} FROM _scoutsync_rows WHERE why IS NOT NULL LIMIT ?`, args: [PARKED_RETRY] }] : []),
    ...retry.tables.map((tbl) => ({ sql: `SELECT ${VERSION_JSON} FROM _scoutsync_rows WHERE tbl = ? AND x IS NOT NULL`, args: [tbl] })),
  ];
  const results = lookups.length + retries.length ? await tx.batch([...lookups, ...retries]) : [];
  const existing = new Map<string, VersionRow>();
  for (const v of (round.looked ?? results.slice(0, lookups.length)).flat().map(parseVersionRow)) existing.set(versionKey(v.tbl, v.gid), v);
  const again = results.slice(lookups.length).flat().map(parseVersionRow);
  const received = new Set(wanted.keys());
  const forced = new Set<string>();
  for (const v of again) {
    const key = versionKey(v.tbl, v.gid);
    existing.set(key, v);
    forced.add(key);
    if (!wanted.has(key)) wanted.set(key, { t: v.tbl, g: v.gid, s: stateOf(v, null) });
  }

  const seqBase = meta.seq;
  const present = await presentValues(tx, schema, [...existing.values()]);
  const result: ApplyResult = { applied: 0, unchanged: 0, parked: 0 };
  const planned: Planned[] = [];
  for (const [key, ch] of wanted) {
    meta.hlc = observe(meta.hlc, stampHlc(maxStampOf(ch.s)));
    const ev = existing.get(key);
    const vals = ev ? present.get(key) : undefined;
    const local = ev ? stateOf(ev, ev.why === null ? (vals ?? null) : null) : null;
    const merged = local ? mergeStates(local, ch.s) : ch.s;
    const same = local !== null && sameState(merged, local);
    if (same && !forced.has(key)) {
      result.unchanged++;
      continue;
    }
    const adopted = received.has(key) && sameState(merged, ch.s);
    const held = same ? { src: ev?.src ?? null, also: ev?.also ?? [] } : adopted ? { src: incoming.from, also: incoming.also.filter((x) => x !== ctx.site) } : NOBODY;
    planned.push({ ch, held, merged, ev, vals, changed: !same });
  }

  const parents = await keepReferencedParents(tx, ctx, schema, meta, planned);
  // Parents first, so a child written in this batch finds its parent's local key.
  const rank = new Map(schema.order.map((t, i) => [t.name, i]));
  planned.sort((a, b) => (rank.get(a.ch.t) ?? -1) - (rank.get(b.ch.t) ?? -1));
  const claim = await readKeyClaims(tx, schema, planned);
  const known = knownParents([...existing.values(), ...parents]);
  for (const p of planned) {
    const key = versionKey(p.ch.t, p.ch.g);
    if (isAlive(p.merged) && schema.tables.has(p.ch.t) && !known.has(key)) known.set(key, null);
  }

  result.applied = planned.length;
  result.parked = await planAndWrite(tx, planned, (p) => planRow(schema, meta, p, known, claim), () => [UNMUTE, ...(round.after?.() ?? [])]);
  result.applied -= result.parked;
  return { ...result, unheld: planned.filter((p) => p.changed && p.held === NOBODY).length, seqBase };
}

/**
 * References keep a row alive (as edits beat deletes): a parent deleted on one site while
 * another site gave it a new child is revived, on whichever site first sees both, with a fresh
 * existence stamp that then wins everywhere. So no site keeps a child pointing at nothing, and
 * nothing the child's author wrote disappears. Returns the version rows it read of parents
 * outside the batch.
 */
async function keepReferencedParents(tx: SqlExec, ctx: EngineContext, schema: Schema, meta: Meta, planned: Planned[]): Promise<VersionRow[]> {
  const revive = (p: Planned): void => {
    meta.hlc = tick(meta.hlc, ctx.now());
    p.merged = revivedState(p.merged, stamp(meta.hlc, ctx.site));
    p.changed = true;
    p.held = NOBODY;
  };
  const byKey = new Map(planned.map((p) => [versionKey(p.ch.t, p.ch.g), p]));
  const dyingLks = new Set(planned.filter((p) => !isAlive(p.merged) && p.ev?.lk != null).map((p) => versionKey(p.ch.t, String(p.ev!.lk))));

  // Deletes arriving for parents whose children still live here.
  const deleted = planned.filter((p) => !isAlive(p.merged) && schema.tables.get(p.ch.t)?.identity.kind === "rowid" && p.ev?.lk != null && p.vals !== undefined);
  const kept = await haveLiveChildren(tx, schema, deleted.map((p) => ({ parent: p.ch.t, lk: p.ev!.lk as bigint })), dyingLks);
  deleted.forEach((p, i) => {
    if (kept[i]) revive(p);
  });

  // New or changed children pointing at parents that are dead here.
  const wanted = new Map<string, { t: string; g: string }>();
  for (const p of planned) {
    if (!isAlive(p.merged)) continue;
    for (const v of Object.values(p.merged.vals)) if (v !== null && typeof v === "object" && "r" in v) wanted.set(versionKey(v.t, v.r), { t: v.t, g: v.r });
  }
  const outside = new Map<string, string[]>();
  for (const [key, ref] of wanted) {
    const inBatch = byKey.get(key);
    if (inBatch) {
      if (!isAlive(inBatch.merged)) revive(inBatch);
    } else addTo(outside, ref.t, ref.g);
  }
  const stmts = [...outside].flatMap(([tbl, gids]) => versionLookupStmts(tbl, "gid", gids));
  const found = stmts.length ? (await tx.batch(stmts)).flat().map(parseVersionRow) : [];
  for (const ev of found) {
    const state = stateOf(ev, null);
    if (isAlive(state)) continue;
    const p: Planned = { ch: { t: ev.tbl, g: ev.gid, s: state }, held: NOBODY, merged: state, ev, vals: undefined, changed: true };
    revive(p);
    planned.push(p);
  }
  return found;
}

/**
 * For each parent row, whether a child row that is not itself dying points at it: every probe
 * of every parent in one round trip (an apply deleting 40 parents took 43 round trips, now 4,
 * as many as for one).
 */
async function haveLiveChildren(tx: SqlExec, schema: Schema, parents: { parent: string; lk: bigint }[], dying: Set<string>): Promise<boolean[]> {
  const probes: { of: number; child: string; stmt: Stmt }[] = [];
  parents.forEach(({ parent, lk }, of) => {
    for (const [child, refs] of schema.refs) {
      for (const [col, target] of refs) {
        if (target === parent) probes.push({ of, child, stmt: { sql: `SELECT rowid FROM ${quoteIdent(child)} WHERE ${quoteIdent(col)} = ? LIMIT 100`, args: [lk] } });
      }
    }
  });
  const live = parents.map(() => false);
  if (probes.length === 0) return live;
  const results = await tx.batch(probes.map((p) => p.stmt));
  results.forEach((rows, i) => {
    const probe = probes[i]!;
    if (rows.some((r) => !dying.has(versionKey(probe.child, String(r[0]))))) live[probe.of] = true;
  });
  return live;
}

/**
 * Which origin keys new rowid rows can keep here: free in the table, and not claimed by an
 * earlier row of the same batch (two sites' row 5 arriving together).
 */
interface KeyClaims {
  /**
   * Takes the key for a new row if it is free here and not taken by an earlier row of the batch;
   * null when the keys were not read (a few new rows): the row's insert takes it if still free.
   */
  take(table: string, key: bigint): boolean | null;
  /** The highest key the batch wants in a table (0 if none). */
  highest(table: string): bigint;
}

/**
 * Up to this many new rows decide their keys as they are inserted, instead of in a read before:
 * a received change is mostly one new row, and that read was one request of four on each site it
 * reaches. More than this are read, so that they can be written many to a statement.
 */
const CLAIMS_AT_INSERT = 16;

async function readKeyClaims(tx: SqlExec, schema: Schema, planned: Planned[]): Promise<KeyClaims> {
  const wanted = new Map<string, bigint[]>();
  for (const p of planned) {
    const t = schema.tables.get(p.ch.t);
    if (!t || t.identity.kind !== "rowid" || p.vals !== undefined || !isAlive(p.merged)) continue;
    const key = typeof p.ev?.lk === "bigint" ? p.ev.lk : originKey(p.ch.g);
    if (key !== null) addTo(wanted, t.name, key);
  }
  const highest = (table: string): bigint => (wanted.get(table) ?? []).reduce((m, k) => (k > m ? k : m), 0n);
  if ([...wanted.values()].reduce((n, keys) => n + keys.length, 0) <= CLAIMS_AT_INSERT) return { take: () => null, highest };
  const reads = [...wanted].flatMap(([tbl, keys]) => inKeys(keys).map((inList) => ({ tbl, stmt: { sql: `SELECT rowid FROM ${quoteIdent(tbl)} WHERE rowid ${inList.sql}`, args: inList.args } })));
  const taken = new Set<string>();
  (await tx.batch(reads.map((r) => r.stmt))).forEach((rows, i) => {
    for (const r of rows) taken.add(`${reads[i]!.tbl}\u0000${String(r[0])}`);
  });
  return {
    take(table, key) {
      const k = `${table}\u0000${key}`;
      if (taken.has(k)) return false;
      taken.add(k);
      return true;
    },
    highest,
  };
}

/** Values of the existing rows that are physically in their table, by version key. */
async function presentValues(tx: SqlExec, schema: Schema, rows: VersionRow[]): Promise<Map<string, Record<string, Val>>> {
  const out = new Map<string, Record<string, Val>>();
  const byTable = new Map<TableInfo, VersionRow[]>();
  for (const v of rows) {
    const t = v.lk === null ? undefined : schema.tables.get(v.tbl);
    if (t) addTo(byTable, t, v);
  }
  const values = await readTablesValues(tx, schema, new Map([...byTable].map(([t, vs]) => [t, vs.map((v) => v.lk!)])));
  for (const [t, vs] of byTable) {
    for (const v of vs) {
      const found = values.get(t)?.get(String(v.lk));
      if (found) out.set(versionKey(v.tbl, v.gid), found);
    }
  }
  return out;
}

/**
 * Parents that references can point at, by version key: their local key, or null while it is
 * not known yet (a row of this batch that will take a fresh key when written).
 */
type KnownParents = Map<string, bigint | null>;

/** The local keys of parents that have one here, from their version rows (read by this apply already). */
function knownParents(rows: Iterable<VersionRow>): KnownParents {
  const known: KnownParents = new Map();
  for (const v of rows) if (typeof v.lk === "bigint") known.set(versionKey(v.tbl, v.gid), v.lk);
  return known;
}

function planRow(
  schema: Schema,
  meta: Meta,
  p: Planned,
  known: KnownParents,
  claim: KeyClaims,
): { group: Group; parkedAlready: boolean } {
  const { ch, merged, ev } = p;
  const present = p.vals !== undefined;
  const t = schema.tables.get(ch.t);
  // Peers re-read a row only when its replicated state changed, not when it merely found (or
  // failed again to find) a place here: otherwise two sites that both park a row would bounce it forever.
  const seq = p.changed || !ev ? ++meta.seq : ev.seq;
  const v: VersionRow = { tbl: ch.t, gid: ch.g, lk: ev?.lk ?? null, seq, ins: merged.ins, clk: merged.clk, del: merged.del, x: {}, why: null, ...p.held };
  const parkAs = (reason: string): Stmt[] => [upsertVersionStmt({ ...v, x: merged.vals, why: reason })];
  const group = (stmts: Stmt[], version: VersionRow | undefined = v, bulk?: Group["bulk"]): { group: Group; parkedAlready: boolean } => ({
    group: { stmts, park: parkAs, ...(version ? { version } : {}), ...(bulk ? { bulk } : {}) },
    parkedAlready: false,
  });
  const parked = (reason: string): { group: Group; parkedAlready: boolean } => ({ group: { stmts: parkAs(reason), park: parkAs }, parkedAlready: true });

  if (!t) return parked(`table ${JSON.stringify(ch.t)} does not exist on this site yet`);
  const where = keyWhere(t, v.lk);
  if (!isAlive(merged)) {
    // A dead rowid row lets go of its local key, which the app may reuse for a new row.
    const version = { ...v, lk: t.identity.kind === "rowid" ? null : v.lk, x: merged.vals };
    if (!present || !where) return group([], version);
    if (t.identity.kind === "rowid") return group([], version, { kind: "delete", table: t.name, cols: [], args: where.args });
    return group([{ sql: `DELETE FROM ${quoteIdent(t.name)} WHERE ${where.sql}`, args: where.args }], version);
  }

  const local = columnNames(t);
  const sets: { col: string; sql: string; args: Arg[] }[] = [];
  for (const [col, val] of Object.entries(merged.vals)) {
    if (!local.has(col)) {
      setOwn(v.x, col, val);
      continue;
    }
    if (val !== null && typeof val === "object" && "r" in val) {
      const key = versionKey(val.t, val.r);
      if (!known.has(key)) return parked(`waiting for row ${val.r} of table ${JSON.stringify(val.t)}`);
      // A parent's local key known now goes in as a plain value (so the row joins a bulk insert);
      // one that takes a fresh key in this batch is looked up when the child is written.
      const lk = known.get(key);
      sets.push(lk != null ? { col, sql: "?", args: [lk] } : { col, sql: "(SELECT lk FROM _scoutsync_rows WHERE tbl = ? AND gid = ?)", args: [val.t, val.r] });
    } else {
      sets.push({ col, ...valueSql(val) });
    }
  }

  const tbl = quoteIdent(t.name);
  if (present && where) {
    // Only the columns whose value changes: fewer indexes to update, and the app's `UPDATE OF`
    // triggers fire for the columns written, as for its own writes.
    const here = p.vals!;
    const assign = sets.filter((s) => !(t.identity.kind === "pk" && t.identity.pkCols.includes(s.col)) && !(Object.hasOwn(here, s.col) && sameVal(here[s.col] ?? null, merged.vals[s.col] ?? null)));
    if (assign.length === 0) return group([]);
    if (t.identity.kind === "rowid" && assign.every((s) => s.sql === "?")) {
      return group([], v, { kind: "update", table: t.name, cols: assign.map((s) => s.col), args: [v.lk, ...assign.flatMap((s) => s.args)] });
    }
    return group([
      {
        sql: `UPDATE ${tbl} SET ${assign.map((s) => `${quoteIdent(s.col)} = ${s.sql}`).join(", ")} WHERE ${where.sql}`,
        args: [...assign.flatMap((s) => s.args), ...where.args],
      },
    ]);
  }

  const cols = sets.map((s) => quoteIdent(s.col));
  const exprs = sets.map((s) => s.sql);
  const args = sets.flatMap((s) => s.args);
  const plain = sets.every((s) => s.sql === "?");
  // Plain inserts at a known key are only described here; compile() writes many per statement.
  const atKnownKey = (rowid: bigint | null): { group: Group; parkedAlready: boolean } => {
    const keyCols = rowid === null ? [] : ["rowid"];
    const keyArgs: Arg[] = rowid === null ? [] : [rowid];
    if (plain) return group([], v, { kind: "insert", table: t.name, cols: [...keyCols, ...sets.map((s) => s.col)], args: [...keyArgs, ...args] });
    return group([{ sql: `INSERT INTO ${tbl} (${[...keyCols, ...cols].join(", ")}) VALUES (${[...keyArgs.map(() => "?"), ...exprs].join(", ")})`, args: [...keyArgs, ...args] }]);
  };
  if (t.identity.kind === "pk") {
    v.lk = ch.g;
    return atKnownKey(null);
  }
  // A rowid row keeps its local key if it had one, else takes its origin key when free here.
  const preferred = typeof v.lk === "bigint" ? v.lk : originKey(ch.g);
  const claimed = preferred === null ? false : claim.take(t.name, preferred);
  if (claimed === true) {
    v.lk = preferred;
    known.set(versionKey(ch.t, ch.g), preferred!);
    return atKnownKey(preferred);
  }
  // A fresh key above every key this batch claims, so no order of execution (bisecting included)
  // collides; the preferred key itself when the insert finds it still free (keys not read before).
  const fresh = `max(coalesce(max(rowid), 0), ?) + 1`;
  const key = claimed === null ? { sql: `(SELECT iif(EXISTS (SELECT 1 FROM ${tbl} WHERE rowid = ?), ${fresh}, ?) FROM ${tbl})`, args: [preferred, claim.highest(t.name), preferred] } : { sql: `(SELECT ${fresh} FROM ${tbl})`, args: [claim.highest(t.name)] };
  const insert: Stmt = {
    sql: `INSERT INTO ${tbl} (${["rowid", ...cols].join(", ")}) VALUES (${[key.sql, ...exprs].join(", ")})`,
    args: [...key.args, ...args],
  };
  // The version row takes the key just chosen, so it is written right after its row.
  return group([insert, upsertVersionStmt(v, "last_insert_rowid()")], undefined);
}

const columnSets = new WeakMap<TableInfo, Set<string>>();

/** A table's column names, made once per reflected table rather than once per row. */
function columnNames(t: TableInfo): Set<string> {
  let names = columnSets.get(t);
  if (names === undefined) columnSets.set(t, (names = new Set(t.cols.map((c) => c.name))));
  return names;
}

/** A value as SQL: a parameter, except infinities, which the client cannot bind. */
function valueSql(val: Val): { sql: string; args: Arg[] } {
  const arg = decodeVal(val);
  if (typeof arg === "number" && !Number.isFinite(arg)) return { sql: arg > 0 ? "9e999" : "-9e999", args: [] };
  return { sql: "?", args: [arg] };
}

function keyWhere(t: TableInfo, lk: bigint | string | null): { sql: string; args: Arg[] } | null {
  if (lk === null) return null;
  if (t.identity.kind === "rowid") return { sql: "rowid = ?", args: [lk] };
  return { sql: t.identity.pkCols.map((c) => `${quoteIdent(c)} IS ?`).join(" AND "), args: pkArgs(String(lk)) };
}

/** Constraint and schema errors park the row; anything else (connection lost) aborts the whole transaction. */
function isRowError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  const msg = err instanceof Error ? err.message : String(err);
  return (typeof code === "string" && /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE|ERROR)/.test(code)) || /constraint|datatype mismatch|no such column|has no column/i.test(msg);
}

/**
 * The statements for a set of groups: plain deletes, inserts and updates first, many rows per statement
 * (nothing in the batch depends on them being written one by one), then the version rows in one
 * statement, then each remaining row's own statements in plan order, parents before children.
 */
function compile(groups: Group[]): Stmt[] {
  const bulk = new Map<string, NonNullable<Group["bulk"]>[]>();
  const versions: VersionRow[] = [];
  const rest: Stmt[] = [];
  for (const g of groups) {
    if (g.bulk) addTo(bulk, [g.bulk.kind, g.bulk.table, ...g.bulk.cols].join("\u0000"), g.bulk);
    if (g.version) versions.push(g.version);
    rest.push(...g.stmts);
  }
  // Deletes first: a row inserted or updated in the same batch may take a UNIQUE value a deleted row held.
  const ordered = [...bulk.values()].sort((a, b) => Number(b[0]!.kind === "delete") - Number(a[0]!.kind === "delete"));
  return [...ordered.flatMap(bulkStmts), ...upsertVersionsStmts(versions), ...rest];
}

/** One kind of plain write to one table and set of columns, for many rows: rows JSON carries exactly in one text, the others value by value. */
function bulkStmts(rows: NonNullable<Group["bulk"]>[]): Stmt[] {
  const { kind, table, cols } = rows[0]!;
  const tbl = quoteIdent(table);
  if (kind === "delete") return inKeys(rows.map((r) => r.args[0]!)).map((inList) => ({ sql: `DELETE FROM ${tbl} WHERE rowid ${inList.sql}`, args: inList.args }));
  const names = cols.map((c) => (c === "rowid" ? c : quoteIdent(c)));
  if (kind === "insert") return insertRowsStmts(`INSERT INTO ${tbl} (${names.join(", ")})`, cols.length, rows.map((r) => r.args));
  const out: Stmt[] = [];
  const { json, bound, reals } = splitRows(rows.map((r) => r.args));
  if (json !== null) {
    // Cell 0 of each row is the rowid, cell i + 1 the value of column i.
    out.push({
      sql: `WITH j(k, ${cols.map((_, i) => `v${i}`).join(", ")}) AS (${jsonRowsSelect(cols.length + 1, reals)}) UPDATE ${tbl} SET ${names.map((n, i) => `${n} = j.v${i}`).join(", ")} FROM j WHERE ${tbl}.rowid = j.k`,
      args: [json],
    });
  }
  for (const args of bound) out.push({ sql: `UPDATE ${tbl} SET ${names.map((n) => `${n} = ?`).join(", ")} WHERE rowid = ?`, args: [...args.slice(1), args[0]!] });
  return out;
}

/**
 * A batch larger than this is planned and written this many rows at a time: the database writes
 * one chunk while the next is planned. Planning and writing a page of 10,000 took ~0.45 s each,
 * one after the other (B8).
 */
const CHUNK_ROWS = 2_000;

type PlannedGroup = { group: Group; parkedAlready: boolean };

/**
 * Plans each row (in order: a row's plan may use what the rows before it chose) and writes
 * them; returns how many were parked. Rows written here must not be captured again as local
 * writes: the triggers stay silent while the mute row exists. `after` runs last, once every
 * row is planned.
 */
async function planAndWrite(tx: SqlExec, planned: Planned[], plan: (p: Planned) => PlannedGroup, after: () => Stmt[]): Promise<number> {
  let parked = 0;
  const take = (from: number): Group[] => {
    const made = planned.slice(from, from + CHUNK_ROWS).map(plan);
    parked += made.filter((m) => m.parkedAlready).length;
    return made.map((m) => m.group);
  };
  if (planned.length <= CHUNK_ROWS) {
    const groups = take(0);
    return parked + (await execGroups(tx, groups, [MUTE], after()));
  }
  // Each chunk is written under a savepoint of its own, released when it succeeds. A chunk that
  // fails leaves its savepoint open, so the chunks sent after it run inside it: rolling back to
  // it undoes them all, and those rows are written again as one batch that is halved down to
  // the bad rows (execGroups).
  const chunks: { groups: Group[]; done: Promise<unknown> | null }[] = [];
  let bad: Failure | undefined;
  let checked = 0;
  for (let from = 0; from < planned.length; from += CHUNK_ROWS) {
    const groups = take(from);
    const i = chunks.length;
    const done = bad ? null : tx.batch([...(i === 0 ? [MUTE] : []), { sql: `SAVEPOINT scoutsync_chunk${i}` }, ...compile(groups), { sql: `RELEASE scoutsync_chunk${i}` }]);
    done?.catch(() => undefined);
    chunks.push({ groups, done });
    // Requests go out only while this code waits, and the stream sends one at a time: waiting
    // here for the chunk before sends this one as soon as that one is written.
    for (; checked < i && !bad; checked++) bad = await failureOf(chunks[checked]!.done, checked);
  }
  for (; checked < chunks.length && !bad; checked++) bad = await failureOf(chunks[checked]!.done, checked);
  let failed = 0;
  if (bad) {
    if (!isRowError(bad.err)) throw bad.err;
    await tx.batch([{ sql: `ROLLBACK TO scoutsync_chunk${bad.at}` }, { sql: `RELEASE scoutsync_chunk${bad.at}` }]);
    failed = await execGroups(tx, chunks.slice(bad.at).flatMap((c) => c.groups));
  }
  await tx.batch(after());
  return parked + failed;
}

type Failure = { at: number; err: unknown };

async function failureOf(done: Promise<unknown> | null, at: number): Promise<Failure | undefined> {
  try {
    await done;
    return undefined;
  } catch (err) {
    return { at, err };
  }
}

/**
 * Runs `before`, the groups and `after` in one round trip; when a row fails, halves until the
 * failing rows are found and parked (`before` stays: it ran outside the savepoint), then runs `after`.
 */
async function execGroups(tx: SqlExec, groups: Group[], before: Stmt[] = [], after: Stmt[] = []): Promise<number> {
  if (groups.length === 0) {
    if (after.length) await tx.batch(after);
    return 0;
  }
  try {
    await tx.batch([...before, { sql: "SAVEPOINT scoutsync_apply" }, ...compile(groups), ...after, { sql: "RELEASE scoutsync_apply" }]);
    return 0;
  } catch (err) {
    // A failure in `before` leaves no savepoint to roll back to: the transaction ends with the error.
    await tx.batch([{ sql: "ROLLBACK TO scoutsync_apply" }, { sql: "RELEASE scoutsync_apply" }]);
    if (!isRowError(err)) throw err;
    let failed: number;
    if (groups.length === 1) {
      await tx.batch(groups[0]!.park(err instanceof Error ? err.message : String(err)));
      failed = 1;
    } else {
      const mid = groups.length >> 1;
      failed = (await execGroups(tx, groups.slice(0, mid))) + (await execGroups(tx, groups.slice(mid)));
    }
    if (after.length) await tx.batch(after);
    return failed;
  }
}
