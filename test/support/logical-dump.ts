/**
 * A replica's database content in a canonical, site-independent form, to compare replicas.
 *
 * Local rowids differ between sites (two sites inserted the same id; see DESIGN.md §2 "Integer
 * keys"), so rows of rowid tables are keyed by their identity (gid in `_scoutsync_rows`), and
 * foreign keys into rowid tables are replaced by the parent's identity. Other tables are keyed
 * by their primary key. Two replicas hold the same content when their dumps are deep-equal.
 *
 * Deliberately independent of the engine's own code (reflection, value encoding): it reads the
 * app's tables and the identity map with plain SQL, so an engine bug cannot hide in the dump.
 */
import type { openDb } from "./libsql-db.js";

type Db = ReturnType<typeof openDb>;

/** A SQLite value with its storage class, so 2 and 2.0 and "2" differ. */
export type DumpValue =
  | null
  | { int: string }
  | { real: string }
  | { text: string }
  | { blob: string }
  /** A foreign key into a rowid table: the parent's identity. */
  | { ref: string }
  /** A foreign key to a parent row that is deleted here: the dead parent's identity (see `checkIntegrity`). */
  | { deadRef: string }
  /** A foreign key whose local value names no identifiable parent row at all. */
  | { dangling: string };

export interface DumpRow {
  /** gid for rowid tables, the canonical primary key for the others. */
  key: string;
  values: Record<string, DumpValue>;
}

export interface DumpTable {
  columns: string[];
  rows: DumpRow[];
}

export type LogicalDump = Record<string, DumpTable>;

interface TableShape {
  name: string;
  /** Rowid identity: INTEGER PRIMARY KEY (rowid alias) or no declared key, and not WITHOUT ROWID. */
  rowid: boolean;
  /** The rowid alias column, left out of the values (it is site-local). */
  keyCol: string | null;
  pkCols: string[];
  /** Stored columns except the rowid alias. */
  cols: string[];
  /** column → parent rowid table, for foreign keys to the parent's rowid alias. */
  refs: Map<string, string>;
}

/** A version row as far as identity goes. */
interface IdentityRow {
  gid: string;
  alive: boolean;
  parked: boolean;
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function all(db: Db, sql: string, ...args: unknown[]): unknown[][] {
  return db.prepare(sql).raw(true).safeIntegers(true).all(...args) as unknown[][];
}

function userTables(db: Db): TableShape[] {
  const rows = all(db, "SELECT name, sql FROM sqlite_schema WHERE type = 'table' ORDER BY name");
  const shapes: TableShape[] = [];
  for (const [name, sql] of rows as [string, string | null][]) {
    const lower = name.toLowerCase();
    if (sql === null || lower.startsWith("sqlite_") || lower.startsWith("_scoutsync_") || /^\s*CREATE\s+VIRTUAL/i.test(sql)) continue;
    const withoutRowid = /\)\s*WITHOUT\s+ROWID\s*;?\s*$/i.test(sql);
    const xinfo = all(db, "SELECT name, type, pk, hidden FROM pragma_table_xinfo(?)", name) as [string, string, bigint, bigint][];
    const stored = xinfo.filter((c) => Number(c[3]) === 0);
    const pk = stored.filter((c) => Number(c[2]) > 0).sort((a, b) => Number(a[2]) - Number(b[2]));
    const intPk = pk.length === 1 && pk[0]![1].trim().toUpperCase() === "INTEGER";
    const rowid = !withoutRowid && (pk.length === 0 || intPk);
    const keyCol = rowid && intPk ? pk[0]![0] : null;
    shapes.push({
      name,
      rowid,
      keyCol,
      pkCols: pk.map((c) => c[0]),
      cols: stored.map((c) => c[0]).filter((c) => c !== keyCol),
      refs: new Map(),
    });
  }
  for (const t of shapes) {
    const fks = all(db, 'SELECT "table", "from", "to" FROM pragma_foreign_key_list(?)', t.name) as [string, string, string | null][];
    for (const [parentName, from, to] of fks) {
      const parent = shapes.find((p) => p.name.toLowerCase() === parentName.toLowerCase());
      if (!parent?.rowid || parent.keyCol === null) continue;
      if ((to ?? parent.keyCol).toLowerCase() === parent.keyCol.toLowerCase()) t.refs.set(from, parent.name);
    }
  }
  return shapes;
}

function lastWrite(ins: string, clk: string | null): string {
  let m = ins;
  if (clk) for (const s of Object.values(JSON.parse(clk) as Record<string, string>)) if (s > m) m = s;
  return m;
}

/** Local rowid → version rows that claim it, per table. */
function identityMap(db: Db, table: string): Map<string, IdentityRow[]> {
  const out = new Map<string, IdentityRow[]>();
  const hasRows = all(db, "SELECT 1 FROM sqlite_schema WHERE name = '_scoutsync_rows'").length > 0;
  if (!hasRows) return out;
  const rows = all(db, "SELECT lk, gid, ins, clk, del, why FROM _scoutsync_rows WHERE tbl = ? AND lk IS NOT NULL", table);
  for (const [lk, gid, ins, clk, del, why] of rows as [unknown, string, string, string | null, string | null, string | null][]) {
    const key = String(lk);
    const alive = del === null || lastWrite(ins, clk) > del;
    out.set(key, [...(out.get(key) ?? []), { gid, alive, parked: why !== null }]);
  }
  return out;
}

/** The one identity a local rowid stands for: the single live, materialized version row claiming it. */
function identityOf(ids: Map<string, IdentityRow[]>, rowid: string): string | null {
  const live = (ids.get(rowid) ?? []).filter((r) => r.alive && !r.parked);
  return live.length === 1 ? live[0]!.gid : null;
}

/** A foreign key's target: the live parent's identity, else the one deleted identity that last had that rowid. */
function refValue(ids: Map<string, IdentityRow[]>, present: Set<string>, rowid: string): DumpValue {
  const gid = present.has(rowid) ? identityOf(ids, rowid) : null;
  if (gid !== null) return { ref: gid };
  const dead = (ids.get(rowid) ?? []).filter((r) => !r.alive);
  if (!present.has(rowid) && dead.length === 1) return { deadRef: dead[0]!.gid };
  return { dangling: rowid };
}

export function dumpValue(v: unknown): DumpValue {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return { int: v.toString() };
  // safeIntegers(true): every integer arrives as bigint, so a number is a REAL.
  if (typeof v === "number") return { real: Object.is(v, -0) ? "-0" : String(v) };
  if (typeof v === "string") return { text: v };
  if (v instanceof Uint8Array) return { blob: Buffer.from(v).toString("hex") };
  throw new Error(`unexpected SQLite value ${String(v)}`);
}

function keyText(values: DumpValue[]): string {
  return JSON.stringify(values);
}

/** The canonical content of every user table. Run `captureLocal` first so every row has an identity. */
export function logicalDump(db: Db): LogicalDump {
  const out: LogicalDump = {};
  const shapes = userTables(db);
  const idMaps = new Map(shapes.filter((t) => t.rowid).map((t) => [t.name, identityMap(db, t.name)]));
  const rowids = new Map(shapes.filter((t) => t.rowid).map((t) => [t.name, new Set(all(db, `SELECT rowid FROM ${quote(t.name)}`).map((r) => String(r[0])))]));
  for (const t of shapes) {
    // First column: the local rowid (rowid tables) or a placeholder (WITHOUT ROWID has none).
    const sel = [t.rowid ? "rowid" : "0", ...t.cols.map(quote)].join(", ");
    const rows = all(db, `SELECT ${sel} FROM ${quote(t.name)}`);
    const dumped: DumpRow[] = rows.map((r) => {
      const values: Record<string, DumpValue> = {};
      t.cols.forEach((c, i) => {
        const raw = r[i + 1];
        const parent = t.refs.get(c);
        if (parent !== undefined && typeof raw === "bigint") {
          values[c] = refValue(idMaps.get(parent)!, rowids.get(parent)!, raw.toString());
        } else {
          values[c] = dumpValue(raw);
        }
      });
      const key = t.rowid
        ? (identityOf(idMaps.get(t.name)!, String(r[0])) ?? `?local:${String(r[0])}`)
        : keyText(t.pkCols.map((c) => values[c] ?? null));
      return { key, values };
    });
    dumped.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    // Sorted: two sites may have added the same columns in a different order.
    out[t.name] = { columns: [...t.cols].sort(), rows: dumped };
  }
  return out;
}

export interface IntegrityProblem {
  /**
   * identity: a rowid row without exactly one live identity, or a live identity without its row.
   * orphan: a foreign key to a parent row that was deleted (SQLite allows it with foreign_keys off).
   * dangling: a foreign key to no row and no known identity.
   */
  kind: "identity" | "orphan" | "dangling";
  message: string;
}

/**
 * Local integrity: every rowid row has exactly one live identity and no two live identities
 * claim one rowid; every live identity is materialized; every foreign key into a rowid table
 * points at an existing local row with an identity. Returns the problems found (empty = fine).
 */
export function checkIntegrity(db: Db): IntegrityProblem[] {
  const problems: IntegrityProblem[] = [];
  const identity = (message: string) => problems.push({ kind: "identity", message });
  const shapes = userTables(db);
  for (const t of shapes.filter((s) => s.rowid)) {
    const ids = identityMap(db, t.name);
    const present = new Set(all(db, `SELECT rowid FROM ${quote(t.name)}`).map((r) => String(r[0])));
    for (const rowid of present) {
      const claims = ids.get(rowid) ?? [];
      const live = claims.filter((c) => c.alive && !c.parked);
      if (live.length !== 1) identity(`${t.name} rowid ${rowid}: ${live.length} live identities (${JSON.stringify(claims)})`);
    }
    for (const [rowid, claims] of ids) {
      for (const c of claims) if (c.alive && !c.parked && !present.has(rowid)) identity(`${t.name} ${c.gid}: live identity at rowid ${rowid}, but no such row`);
    }
  }
  for (const t of shapes) {
    for (const [col, parent] of t.refs) {
      const ids = identityMap(db, parent);
      const c = `c.${quote(col)}`;
      const rows = all(db, `SELECT ${t.rowid ? "c.rowid" : "0"}, ${c}, p.rowid FROM ${quote(t.name)} c LEFT JOIN ${quote(parent)} p ON p.rowid = ${c} WHERE ${c} IS NOT NULL`);
      for (const [childKey, fk, parentRowid] of rows) {
        const where = `${t.name}.${col} = ${String(fk)} (row ${String(childKey)})`;
        if (parentRowid !== null) {
          if (identityOf(ids, String(parentRowid)) === null) identity(`${where}: ${parent} row has no single live identity`);
          continue;
        }
        const dead = (ids.get(String(fk)) ?? []).filter((r) => !r.alive).map((r) => r.gid);
        if (dead.length) problems.push({ kind: "orphan", message: `${where}: parent ${dead.join(", ")} is deleted` });
        else problems.push({ kind: "dangling", message: `${where}: no such ${parent} row` });
      }
    }
  }
  return problems;
}
