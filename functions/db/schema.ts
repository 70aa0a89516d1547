/**
 * The app's schema as the engine uses it, and keeping capture in step with it: capture tables,
 * triggers on every syncable table, and registration of rows that existed before capture.
 * Cheap when nothing changed: one `PRAGMA schema_version` per transaction.
 */
import { stamp, tick } from "../clock/hlc.js";
import { quoteIdent } from "../sql/ident.js";
import {
  FOREIGN_KEYS_SQL,
  LIST_TABLES_SQL,
  SCHEMA_VERSION_SQL,
  TABLE_XINFO_SQL,
  dependencyOrder,
  rowidReferences,
  syncableTables,
  tableInfo,
  type FkRow,
  type SchemaRow,
  type TableInfo,
  type XinfoRow,
} from "../sql/reflect.js";
import { CAPTURE_DDL, TRIGGER_FORMAT, createTriggersSql, dropTriggersSql, triggerNames, typedList } from "../sql/triggers.js";
import { HIGH_WATER_SQL, LOG_PAGE_SQL, capture, freshRowsStmt, parseHighWater } from "./capture.js";
import { pkGid } from "./identity.js";
import { READ_META_SQL, parseMeta, readMeta, writeMetaStmts, type Meta } from "./meta.js";
import { chunks, int, query, type Row, type SqlExec, type Stmt } from "./port.js";
import { decodeTypedList } from "./values.js";

export interface Schema {
  version: number;
  tables: Map<string, TableInfo>;
  /** Parents before children. */
  order: TableInfo[];
  /** Per table: column → parent table, for foreign keys into rowid tables. */
  refs: Map<string, Map<string, string>>;
}

export interface EngineContext {
  site: string;
  now(): number;
  /**
   * Kept by the shell between transactions: the schema last read, and the schema whose capture
   * triggers were last verified (a read may see a new table before any write installs its triggers).
   */
  cache: { schema?: Schema; captured?: Schema };
}

export async function loadSchema(tx: SqlExec): Promise<Schema> {
  const [verRows, tableRows] = await tx.batch([{ sql: SCHEMA_VERSION_SQL }, { sql: LIST_TABLES_SQL }]);
  const version = int(verRows?.[0]?.[0]);
  const listed: SchemaRow[] = (tableRows ?? []).map((r) => ({ name: String(r[0]), sql: r[1] === null ? null : String(r[1]) }));
  const syncable = syncableTables(listed);
  const info = syncable.length
    ? await tx.batch(syncable.flatMap((t) => [{ sql: TABLE_XINFO_SQL, args: [t.name] }, { sql: FOREIGN_KEYS_SQL, args: [t.name] }]))
    : [];
  const tables = new Map<string, TableInfo>();
  syncable.forEach((t, i) => {
    const xinfo: XinfoRow[] = (info[i * 2] ?? []).map((r) => ({
      name: String(r[0]),
      type: String(r[1] ?? ""),
      notnull: int(r[2]),
      dflt_value: r[3] === null ? null : String(r[3]),
      pk: int(r[4]),
      hidden: int(r[5]),
    }));
    const fks: FkRow[] = (info[i * 2 + 1] ?? []).map((r) => ({ table: String(r[0]), from: String(r[1]), to: r[2] === null ? null : String(r[2]) }));
    tables.set(t.name, tableInfo(t, xinfo, fks));
  });
  const refs = new Map<string, Map<string, string>>();
  for (const t of tables.values()) refs.set(t.name, rowidReferences(t, tables));
  return { version, tables, order: dependencyOrder([...tables.values()]), refs };
}

/** The schema for a read-only transaction: cached unless the app changed its schema. */
export async function currentSchema(tx: SqlExec, ctx: EngineContext, version: number): Promise<Schema> {
  if (ctx.cache.schema?.version === version) return ctx.cache.schema;
  const schema = await loadSchema(tx);
  ctx.cache.schema = schema;
  return schema;
}

/** What a table's triggers were made from; a new trigger format reinstalls them all. */
function signature(t: TableInfo): string {
  return JSON.stringify([t.identity, t.cols.map((c) => c.name), TRIGGER_FORMAT]);
}

/**
 * Columns added since a table's triggers were made. An update logged by those older triggers
 * could not say whether it wrote them, so capture counts them as written: claiming a write of
 * the current value is safe, dropping a real write is not.
 */
function addedColumns(schema: Schema, sigs: Map<string, string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const t of schema.tables.values()) {
    const old = sigs.get(t.name);
    if (!old) continue;
    const before = new Set((JSON.parse(old) as [unknown, string[]])[1]);
    const added = t.cols.map((c) => c.name).filter((c) => !before.has(c));
    if (added.length) out.set(t.name, added);
  }
  return out;
}

export interface CaptureState {
  schema: Schema;
  meta: Meta;
  /** Log entries captured now. */
  captured: number;
  /** The log may hold more (the page bound was reached). */
  more: boolean;
  /** Tables whose shape changed. */
  changed: string[];
  /** Whether any row is parked (waiting for a parent, a table, or a constraint to allow it). */
  parked: boolean;
  /**
   * Results of the caller's `ahead` statements, when they ran in the first round trip and nothing
   * was captured or reflected after them (so what they read still holds); else undefined.
   */
  ahead?: Row[][];
  /**
   * Whether `schema` was reflected (and capture verified) now rather than taken from the cache:
   * the caller caches it once the transaction has committed, not before, or a concurrent read
   * would trust capture tables its snapshot does not have yet.
   */
  reflected: boolean;
}

const PARKED_SQL = "SELECT EXISTS (SELECT 1 FROM _scoutsync_rows WHERE why IS NOT NULL)";

/**
 * What quietMeta needs, read in one round trip (SqlDb.snapshot). It names the schema's tables,
 * so it fails once the app dropped one: the caller then captures, which reflects again.
 */
export function quietCheck(schema: Schema): Stmt[] {
  return [{ sql: SCHEMA_VERSION_SQL }, { sql: READ_META_SQL }, { sql: "SELECT EXISTS (SELECT 1 FROM _scoutsync_log)" }, freshRowsStmt(schema)];
}

/**
 * The counters, when capture has nothing to do (schema as cached, log empty, no row above a
 * mark), else null: read without the write lock, since most capture calls find nothing (the
 * agent hears our own muted applies too), and a write transaction each time made applies and
 * captures queue behind each other.
 */
export function quietMeta(ctx: EngineContext, [ver, metaRows, log, fresh]: Row[][]): Meta | null {
  const cached = ctx.cache.captured;
  const idle = int(log?.[0]?.[0]) === 0 && int(fresh?.[0]?.[0]) === 0;
  return cached && int(ver?.[0]?.[0]) === cached.version && idle ? parseMeta(metaRows?.[0] ?? []) : null;
}

/**
 * Brings capture up to date and captures pending writes; must run inside a write transaction.
 * When the app changed its schema, pending log entries are captured first (with the new
 * reflection), and only then are triggers reinstalled and untracked rows registered, so that a
 * row written just before an ALTER keeps one identity. Returns the tables whose shape changed
 * (new tables, new columns, rebuilt tables): values parked for them may now have a home.
 */
export async function ensureCapture(tx: SqlExec, ctx: EngineContext, opts: { pages?: number; ahead?: Stmt[] } = {}): Promise<CaptureState> {
  const cached = ctx.cache.captured;
  if (cached) {
    // The common case in one round trip: schema unchanged, counters, parked rows, first page of
    // the log, the marks and whether a row lies above one, and the caller's first reads
    // (statements on scoutsync's own tables only, which exist once cached).
    const own: Stmt[] = [{ sql: SCHEMA_VERSION_SQL }, { sql: READ_META_SQL }, { sql: PARKED_SQL }, { sql: LOG_PAGE_SQL }, { sql: HIGH_WATER_SQL }];
    const fixed = [...own, ...(opts.ahead ?? [])];
    // The check names the cached tables, last, so one the app dropped fails only it: the version then says why.
    const results = await tx.batch([...fixed, freshRowsStmt(cached)]).catch(async () => [...(await tx.batch(fixed)), null]);
    const [ver, metaRows, parked, log, hw] = results;
    if (int(ver?.[0]?.[0]) === cached.version) {
      const fresh = results[fixed.length];
      const meta = parseMeta(metaRows?.[0] ?? []);
      const { captured, more } = await capture(tx, ctx, cached, meta, {
        firstPage: log ?? [],
        pages: opts.pages,
        hw: parseHighWater(hw ?? []),
        ...(fresh ? { fresh: int(fresh[0]?.[0]) === 1 } : {}),
      });
      const ahead = results.slice(own.length, fixed.length) as Row[][];
      return { schema: cached, meta, captured, more, changed: [], parked: int(parked?.[0]?.[0]) === 1, reflected: false, ...(captured === 0 && opts.ahead ? { ahead } : {}) };
    }
  }
  await tx.batch(CAPTURE_DDL.map((sql) => ({ sql })));
  await upgradeBookkeeping(tx);
  const meta = await readMeta(tx);
  const schema = await loadSchema(tx);
  const [sigRows, triggerRows, hwRows] = await tx.batch([
    { sql: "SELECT k, v FROM _scoutsync_meta WHERE k LIKE 'sig:%'" },
    { sql: "SELECT name, tbl_name FROM sqlite_schema WHERE type = 'trigger' AND name LIKE '\\_scoutsync\\_%' ESCAPE '\\'" },
    { sql: HIGH_WATER_SQL },
  ]);
  const sigs = new Map((sigRows ?? []).map((r) => [String(r[0]).slice(4), String(r[1])]));
  // A mark belongs to a rowid table; one left by a table dropped or rebuilt with a primary key goes.
  const hw = parseHighWater(hwRows ?? []);
  const stale = [...hw.keys()].filter((name) => schema.tables.get(name)?.identity.kind !== "rowid");
  if (stale.length) await tx.batch(stale.map((name) => ({ sql: "DELETE FROM _scoutsync_hw WHERE tbl = ?", args: [name] })));
  stale.forEach((name) => hw.delete(name));
  // With the schema changed, the whole log is captured under the new reflection before triggers change.
  const { captured, more } = await capture(tx, ctx, schema, meta, { staleCols: addedColumns(schema, sigs), hw });
  const triggers = new Set((triggerRows ?? []).map((r) => `${String(r[1])}\u0000${String(r[0])}`));
  const changed: string[] = [];
  for (const t of schema.order) {
    const sig = signature(t);
    // A table the app rebuilt (create, copy, drop, rename) has the same shape but lost our triggers.
    const installed = triggerNames(t.name).every((n) => triggers.has(`${t.name}\u0000${n}`));
    if (installed && sigs.get(t.name) === sig) continue;
    changed.push(t.name);
    const stmts: Stmt[] = [...dropTriggersSql(t.name).map((sql) => ({ sql })), ...createTriggersSql(t).map((sql) => ({ sql }))];
    stmts.push({ sql: "INSERT OR REPLACE INTO _scoutsync_meta (k, v) VALUES (?, ?)", args: [`sig:${t.name}`, sig] });
    await tx.batch(stmts);
    await registerExisting(tx, ctx, meta, t);
  }
  await tx.batch(writeMetaStmts(meta));
  const gone = [...sigs.keys()].filter((name) => !schema.tables.has(name));
  if (gone.length) await tx.batch(gone.map((name) => ({ sql: "DELETE FROM _scoutsync_meta WHERE k = ?", args: [`sig:${name}`] })));
  // Our own DDL moved schema_version; cache under the version the next transaction will see.
  schema.version = int((await query(tx, SCHEMA_VERSION_SQL))[0]?.[0]);
  return { schema, meta, captured, more, changed, parked: int((await query(tx, PARKED_SQL))[0]?.[0]) === 1, reflected: true };
}

/** Bookkeeping tables made by an earlier scoutsync gain the columns added since. */
async function upgradeBookkeeping(tx: SqlExec): Promise<void> {
  const cols = new Set((await query(tx, "SELECT name FROM pragma_table_info('_scoutsync_rows')")).map((r) => String(r[0])));
  const added = ["src", "also"].filter((c) => !cols.has(c));
  if (added.length) await tx.batch(added.map((c) => ({ sql: `ALTER TABLE _scoutsync_rows ADD COLUMN ${c} TEXT` })));
}

/** Rows that were in a table before its capture triggers: they become this site's rows now. */
async function registerExisting(tx: SqlExec, ctx: EngineContext, meta: Meta, t: TableInfo): Promise<void> {
  meta.hlc = tick(meta.hlc, ctx.now());
  const at = stamp(meta.hlc, ctx.site);
  const tbl = quoteIdent(t.name);
  if (t.identity.kind === "rowid") {
    await tx.batch([
      {
        sql: `INSERT OR IGNORE INTO _scoutsync_rows (tbl, gid, lk, seq, ins) SELECT ?, ? || '.' || rowid, rowid, ? + row_number() OVER (ORDER BY rowid), ? FROM ${tbl} AS t WHERE NOT EXISTS (SELECT 1 FROM _scoutsync_rows AS r INDEXED BY _scoutsync_rows_lk WHERE r.tbl = ? AND r.lk = +t.rowid)`,
        args: [t.name, ctx.site, meta.seq, at, t.name],
      },
    ]);
    meta.seq = int((await query(tx, "SELECT max(seq) FROM _scoutsync_rows"))[0]?.[0]) || meta.seq;
    return;
  }
  const keys = await query(tx, `SELECT ${typedList("t", t.identity.pkCols)} FROM ${tbl} AS t`);
  const gids = keys.map((r) => pkGid(decodeTypedList(String(r[0]))));
  for (const part of chunks(gids, 200)) {
    await tx.batch(
      part.map((gid) => ({
        sql: "INSERT OR IGNORE INTO _scoutsync_rows (tbl, gid, lk, seq, ins) VALUES (?, ?, ?, ?, ?)",
        args: [t.name, gid, gid, ++meta.seq, at],
      })),
    );
  }
}
