/**
 * The schema of the app's database as scoutsync sees it, derived from reflection rows
 * (sqlite_schema, pragma table_xinfo, pragma foreign_key_list). Pure: the shells run the
 * queries below and hand the rows in.
 */
import { isInternalTable } from "./ident.js";

export interface ColumnInfo {
  name: string;
  type: string;
  notnull: boolean;
  /** Declared default as SQL text, or null. */
  dflt: string | null;
  /** 1-based position in the primary key, 0 if not part of it. */
  pk: number;
}

export interface ForeignKey {
  from: string;
  table: string;
  /** Referenced column; null means the parent's primary key. */
  to: string | null;
}

/**
 * How rows of a table are identified across sites.
 * - rowid: an INTEGER PRIMARY KEY (rowid alias) or no declared key. Such keys are handed out
 *   by each site on its own, so two sites create "row 42" for unrelated rows. Identity is the
 *   origin site plus the origin key; each site maps it to a local rowid of its own.
 * - pk: any other declared primary key (text, composite, WITHOUT ROWID). The key is the
 *   identity: rows with the same key on two sites are the same row and merge per column.
 */
export type Identity = { kind: "rowid"; keyCol: string | null } | { kind: "pk"; pkCols: string[] };

export interface TableInfo {
  name: string;
  withoutRowid: boolean;
  /** Columns that carry synced values: stored columns except a rowid alias. */
  cols: ColumnInfo[];
  /** All stored columns, in table order. */
  allCols: ColumnInfo[];
  identity: Identity;
  fks: ForeignKey[];
}

export interface SchemaRow {
  name: string;
  sql: string | null;
}

export interface XinfoRow {
  name: string;
  type: string;
  notnull: number | bigint;
  dflt_value: string | null;
  pk: number | bigint;
  hidden: number | bigint;
}

export interface FkRow {
  table: string;
  from: string;
  to: string | null;
}

export const LIST_TABLES_SQL = "SELECT name, sql FROM sqlite_schema WHERE type = 'table' ORDER BY name";
export const TABLE_XINFO_SQL = "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?)";
export const FOREIGN_KEYS_SQL = "SELECT \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?)";
export const SCHEMA_VERSION_SQL = "PRAGMA schema_version";

/**
 * Which tables to sync: every ordinary table but SQLite's and scoutsync's own, virtual tables,
 * and the shadow tables of virtual tables (an FTS index must be rebuilt locally, not copied).
 */
export function syncableTables(rows: SchemaRow[]): SchemaRow[] {
  const virtual = rows.filter((r) => /^\s*CREATE\s+VIRTUAL\s+TABLE/i.test(r.sql ?? "")).map((r) => r.name);
  return rows.filter(
    (r) =>
      r.sql !== null &&
      !isInternalTable(r.name) &&
      !/^\s*CREATE\s+VIRTUAL\s+TABLE/i.test(r.sql) &&
      !virtual.some((v) => r.name.startsWith(`${v}_`)),
  );
}

export function tableInfo(schema: SchemaRow, xinfo: XinfoRow[], fkRows: FkRow[]): TableInfo {
  const withoutRowid = /\)\s*WITHOUT\s+ROWID\s*;?\s*$/i.test(schema.sql ?? "");
  // hidden: 0 ordinary, 1 hidden (virtual tables), 2/3 generated; only ordinary columns are stored.
  const allCols: ColumnInfo[] = xinfo
    .filter((c) => Number(c.hidden) === 0)
    .map((c) => ({ name: c.name, type: c.type, notnull: Number(c.notnull) !== 0, dflt: c.dflt_value, pk: Number(c.pk) }));
  const pkCols = allCols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
  let identity: Identity;
  if (withoutRowid) identity = { kind: "pk", pkCols: pkCols.map((c) => c.name) };
  else if (pkCols.length === 0) identity = { kind: "rowid", keyCol: null };
  else if (pkCols.length === 1 && pkCols[0]!.type.trim().toUpperCase() === "INTEGER")
    identity = { kind: "rowid", keyCol: pkCols[0]!.name };
  else identity = { kind: "pk", pkCols: pkCols.map((c) => c.name) };
  const keyCol = identity.kind === "rowid" ? identity.keyCol : null;
  return {
    name: schema.name,
    withoutRowid,
    allCols,
    cols: allCols.filter((c) => c.name !== keyCol),
    identity,
    fks: fkRows.map((f) => ({ from: f.from, table: f.table, to: f.to })),
  };
}

/**
 * Foreign keys whose values are local rowids of a rowid-identity parent. Those values differ
 * between sites, so they travel as the parent's identity and are translated on arrival.
 */
export function rowidReferences(table: TableInfo, tables: Map<string, TableInfo>): Map<string, string> {
  const refs = new Map<string, string>();
  for (const fk of table.fks) {
    const parent = findTable(tables, fk.table);
    if (!parent || parent.identity.kind !== "rowid" || parent.identity.keyCol === null) continue;
    const to = fk.to ?? parent.identity.keyCol;
    if (to.toLowerCase() === parent.identity.keyCol.toLowerCase()) refs.set(fk.from, parent.name);
  }
  return refs;
}

/** SQLite matches table names case-insensitively. */
export function findTable(tables: Map<string, TableInfo>, name: string): TableInfo | undefined {
  const exact = tables.get(name);
  if (exact) return exact;
  const lower = name.toLowerCase();
  for (const t of tables.values()) if (t.name.toLowerCase() === lower) return t;
  return undefined;
}

/** Parents before children, so one batch can insert a parent and then rows that point at it. */
export function dependencyOrder(tables: TableInfo[]): TableInfo[] {
  const byName = new Map(tables.map((t) => [t.name.toLowerCase(), t]));
  const out: TableInfo[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (t: TableInfo): void => {
    const key = t.name.toLowerCase();
    if (state.get(key)) return; // done, or a cycle: any order is as good as another there
    state.set(key, "visiting");
    for (const fk of t.fks) {
      const p = byName.get(fk.table.toLowerCase());
      if (p && p !== t) visit(p);
    }
    state.set(key, "done");
    out.push(t);
  };
  for (const t of [...tables].sort((a, b) => (a.name < b.name ? -1 : 1))) visit(t);
  return out;
}
