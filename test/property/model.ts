/**
 * Test harness for the database engine: in-process replicas, a network of pull links with
 * checkpoints (with drops, duplicates and reordering on demand), the random app operations of
 * the convergence property, and the model of what must survive them.
 *
 * Changes cross the "network" as JSON validated by the wire schema, as they do between real
 * sites, so a state that does not survive the wire shows up here too.
 */
import fc from "fast-check";
import { applyRemote, captureLocal, readChanges, type EngineContext } from "../../functions/db/engine.js";
import { ChangeBatchSchema, type RowChange } from "../../functions/wire/database.js";
import { openDb, sqlDb } from "../support/libsql-db.js";
import type { SqlDb } from "../../functions/db/port.js";
import type { DumpValue, LogicalDump } from "../support/logical-dump.js";

export type Db = ReturnType<typeof openDb>;

export interface Replica {
  name: string;
  site: string;
  db: Db;
  sql: SqlDb;
  ctx: EngineContext;
}

/** The scouting-like schema every replica of the property starts with. */
export const SCHEMA: string[] = [
  "CREATE TABLE teams (id INTEGER PRIMARY KEY, number INTEGER, name TEXT, tag TEXT)",
  "CREATE TABLE matches (id INTEGER PRIMARY KEY, label TEXT, red INTEGER, blue INTEGER, tag TEXT)",
  "CREATE TABLE entries (id INTEGER PRIMARY KEY, match_id INTEGER REFERENCES matches(id), team TEXT, score REAL, note TEXT, photo BLOB, tag TEXT)",
  "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT)",
  "CREATE TABLE pit (team INTEGER, event TEXT, note TEXT, photo BLOB, PRIMARY KEY (team, event)) WITHOUT ROWID",
];

/** Site ids are 16 hex digits; derived from a number so a replayed case gets the same ones. */
export function siteId(n: number): string {
  return (BigInt(n) * 0x9e3779b97f4a7c15n + 0x1234567n).toString(16).padStart(16, "0").slice(-16);
}

export function newReplica(name: string, site: string, opts: { file?: string; foreignKeys?: boolean; ddl?: string[] } = {}): Replica {
  const db = openDb(opts.file);
  if (opts.foreignKeys !== undefined) db.exec(`PRAGMA foreign_keys = ${opts.foreignKeys ? "ON" : "OFF"}`);
  for (const sql of opts.ddl ?? []) db.exec(sql);
  return { name, site, db, sql: sqlDb(db), ctx: { site, now: () => Date.now(), cache: {} } };
}

/** What the HTTP wire does to a batch: JSON both ways and the endpoint's schema check. */
export function overTheWire(from: string, changes: RowChange[]): RowChange[] {
  return ChangeBatchSchema.parse(JSON.parse(JSON.stringify({ from, changes }))).changes;
}

export type DeliveryMode = "once" | "twice" | "drop" | "reorder" | "stale";

export interface PullStats {
  delivered: number;
  applied: number;
}

/** Pull links between replicas, each with the checkpoint its receiver keeps (CouchDB-style). */
export class Network {
  private readonly cp = new Map<string, number>();
  /** Every page read, for the log of a failing case. */
  readonly log: string[] = [];

  constructor(readonly replicas: Replica[], private readonly links: [number, number][] = allPairs(replicas.length)) {}

  private key(src: number, dst: number): string {
    return `${src}>${dst}`;
  }

  checkpoint(src: number, dst: number): number {
    return this.cp.get(this.key(src, dst)) ?? 0;
  }

  /** What an agent does when it starts: capture once, which installs the triggers and bookkeeping tables. */
  async start(): Promise<this> {
    for (let r = 0; r < this.replicas.length; r++) await this.capture(r);
    return this;
  }

  async capture(r: number): Promise<number> {
    return (await captureLocal(this.replicas[r]!.sql, this.replicas[r]!.ctx)).captured;
  }

  /**
   * src's changes for dst, as a push reads them: what dst sent src unchanged is left out, and
   * what another site said it delivers to dst too (every link keeps such a promise: settle()
   * pulls every link to its end).
   */
  async read(src: number, dst: number, since: number, limit: number) {
    const s = this.replicas[src]!;
    return readChanges(s.sql, s.ctx, since, limit, { site: this.replicas[dst]!.site, hints: true });
  }

  /** The other sites src delivers to over its links. */
  alsoFor(src: number, dst: number): string[] {
    return this.links.filter(([s, d]) => s === src && d !== dst).map(([, d]) => this.replicas[d]!.site);
  }

  async deliver(src: number, dst: number, changes: RowChange[]) {
    const d = this.replicas[dst]!;
    return applyRemote(d.sql, d.ctx, { from: this.replicas[src]!.site, also: this.alsoFor(src, dst) }, overTheWire(this.replicas[src]!.site, changes));
  }

  /** One page from src to dst starting at the link's checkpoint, delivered as `mode` says. */
  async pull(src: number, dst: number, limit: number, mode: DeliveryMode): Promise<PullStats> {
    const since = this.checkpoint(src, dst);
    const page = await this.read(src, dst, since, limit);
    this.log.push(`${this.replicas[src]!.name}>${this.replicas[dst]!.name} since ${since} limit ${limit} ${mode}: ${page.changes.length} changes, last ${page.last}`);
    const stats: PullStats = { delivered: 0, applied: 0 };
    const give = async (changes: RowChange[]) => {
      if (!changes.length) return;
      const r = await this.deliver(src, dst, changes);
      stats.delivered += changes.length;
      stats.applied += r.applied;
    };
    switch (mode) {
      case "drop":
        return stats;
      case "twice":
        await give(page.changes);
        await give(page.changes);
        break;
      case "reorder": {
        // The next page arrives first, then this one.
        const next = await this.read(src, dst, page.last, limit);
        await give(next.changes);
        await give(page.changes);
        this.cp.set(this.key(src, dst), next.last);
        return stats;
      }
      case "stale": {
        // An old page arrives late (a retry of something delivered long ago), without moving the checkpoint.
        const old = await this.read(src, dst, Math.floor(since / 2), limit);
        await give(old.changes);
        return stats;
      }
      case "once":
        await give(page.changes);
        break;
    }
    this.cp.set(this.key(src, dst), page.last);
    return stats;
  }

  /** Everything src has after the checkpoint, page by page. */
  async pullAll(src: number, dst: number, limit = 1000): Promise<PullStats> {
    const total: PullStats = { delivered: 0, applied: 0 };
    for (;;) {
      const since = this.checkpoint(src, dst);
      const page = await this.read(src, dst, since, limit);
      if (page.changes.length) {
        const r = await this.deliver(src, dst, page.changes);
        total.delivered += page.changes.length;
        total.applied += r.applied;
      }
      this.cp.set(this.key(src, dst), page.last);
      if (!page.more) return total;
    }
  }

  /**
   * Full pulls over every link until a round moves nothing (captures nothing, delivers nothing).
   * Returns whether it went quiet within `maxRounds`: a mesh that never goes quiet is a loop.
   */
  async settle(maxRounds = 10): Promise<{ quiet: boolean; rounds: number }> {
    for (let round = 1; round <= maxRounds; round++) {
      let moved = 0;
      for (let r = 0; r < this.replicas.length; r++) moved += await this.capture(r);
      for (const [src, dst] of this.links) moved += (await this.pullAll(src, dst)).delivered;
      if (moved === 0) return { quiet: true, rounds: round };
    }
    return { quiet: false, rounds: maxRounds };
  }
}

export function allPairs(n: number): [number, number][] {
  const out: [number, number][] = [];
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (a !== b) out.push([a, b]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Random app operations

export interface Vals {
  number: bigint;
  text: string;
  text2: string;
  small: bigint;
  score: number;
  photo: Uint8Array | null;
  /** Picks a parent match among the local ones. */
  parent: number;
}

export type RowTable = "teams" | "matches" | "entries";

export type AppOp =
  /** Insert with an automatic id, an explicit one (often colliding with other replicas), or INSERT OR REPLACE. */
  | { op: "insert"; r: number; table: "teams" | "matches"; id: number | null; replace: boolean; v: Vals }
  /** A scouting entry pointing at one of the matches this replica has (or none). */
  | { op: "insertEntry"; r: number; id: number | null; v: Vals }
  | { op: "update"; r: number; table: RowTable; pick: number; cols: string[]; v: Vals }
  /** Deleting a match deletes its entries first, as an app with foreign keys must. */
  | { op: "delete"; r: number; table: RowTable; pick: number }
  /** Changes a team's id (the rowid) locally. */
  | { op: "rekey"; r: number; pick: number; id: number }
  /** ALTER TABLE teams ADD COLUMN on one replica; the others get it later (or at the end). */
  | { op: "addColumn"; r: number; col: ExtraColumn }
  | { op: "setting"; r: number; key: string; value: string; del: boolean }
  | { op: "pit"; r: number; team: number; event: string; note: string; v: Vals; del: boolean };

export type SyncOp = { op: "capture"; r: number } | { op: "pull"; src: number; dst: number; limit: number; mode: DeliveryMode };

export type Step = AppOp | SyncOp;

/** Columns a replica may add to teams while running. */
export const EXTRA_COLUMNS = ["city", "rank"] as const;
export type ExtraColumn = (typeof EXTRA_COLUMNS)[number];

const COLS: Record<RowTable, string[]> = {
  teams: ["number", "name", ...EXTRA_COLUMNS],
  matches: ["label", "red", "blue"],
  entries: ["match_id", "team", "score", "note", "photo"],
};

const int64 = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -3, max: 20 }).map(BigInt) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) },
  { weight: 1, arbitrary: fc.constantFrom(2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n)) },
);

const text = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 4 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "Ünïcødé", "🤖 bot", "it's \"q\"") },
);

const real = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(2.0, 0.5, 1e300, -3.25, 0.1) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? 0 : d)) },
);

export const valsArb: fc.Arbitrary<Vals> = fc.record({
  number: int64,
  text,
  text2: text,
  small: fc.integer({ min: 0, max: 99 }).map(BigInt),
  score: real,
  photo: fc.option(fc.uint8Array({ maxLength: 6 }), { nil: null }),
  parent: fc.nat(50),
});

/**
 * Random steps for `replicas` replicas. `parentDeletes` lets matches (the parent of entries) be
 * deleted, which races with other sites adding entries to them.
 */
export function stepArb(replicas: number, opts: { parentDeletes: boolean }): fc.Arbitrary<Step> {
  const r = fc.nat(replicas - 1);
  const id = fc.option(fc.integer({ min: 1, max: 6 }), { nil: null, freq: 2 });
  const table = fc.constantFrom<RowTable>("teams", "matches", "entries");
  const deletable = opts.parentDeletes ? table : fc.constantFrom<RowTable>("teams", "entries");
  const app: fc.Arbitrary<AppOp>[] = [
    fc.record({ op: fc.constant("insert" as const), r, table: fc.constantFrom("teams" as const, "matches" as const), id, replace: fc.boolean(), v: valsArb }),
    fc.record({ op: fc.constant("insertEntry" as const), r, id, v: valsArb }),
    table.chain((t) => fc.record({ op: fc.constant("update" as const), r, table: fc.constant(t), pick: fc.nat(20), cols: fc.subarray(COLS[t], { minLength: 1 }), v: valsArb })),
    fc.record({ op: fc.constant("delete" as const), r, table: deletable, pick: fc.nat(20) }),
    fc.record({ op: fc.constant("rekey" as const), r, pick: fc.nat(20), id: fc.integer({ min: 1, max: 9 }) }),
    fc.record({ op: fc.constant("addColumn" as const), r, col: fc.constantFrom(...EXTRA_COLUMNS) }),
    fc.record({ op: fc.constant("setting" as const), r, key: fc.constantFrom("theme", "event", "k3"), value: text, del: fc.boolean() }),
    fc.record({ op: fc.constant("pit" as const), r, team: fc.integer({ min: 1, max: 3 }), event: fc.constantFrom("qual", "final"), note: text, v: valsArb, del: fc.boolean() }),
  ];
  const src = fc.nat(replicas - 1);
  const sync: fc.Arbitrary<SyncOp>[] = [
    fc.record({ op: fc.constant("capture" as const), r }),
    fc.record({
      op: fc.constant("pull" as const),
      src,
      dst: fc.nat(replicas - 2),
      limit: fc.integer({ min: 1, max: 4 }),
      mode: fc.constantFrom<DeliveryMode>("once", "once", "once", "twice", "drop", "reorder", "stale"),
    }).map((p) => ({ ...p, dst: p.dst >= p.src ? p.dst + 1 : p.dst })),
  ];
  return fc.oneof(
    { weight: 3, arbitrary: fc.oneof(app[0]!, app[1]!, app[2]!, app[2]!, app[3]!, app[4]!, app[5]!, app[6]!, app[7]!) },
    { weight: 3, arbitrary: fc.oneof(sync[0]!, sync[1]!, sync[1]!) },
  );
}

// ---------------------------------------------------------------------------------------------
// Model: which rows must exist at the end

/**
 * Every row carries a tag written once at insert and never updated. A row must survive unless
 * some replica deleted it: deletes may legitimately win (a delete beats an earlier concurrent
 * write), so a deleted row is not expected either way. INSERT OR REPLACE over an existing row
 * writes that same row (its identity stays), so its new tag joins the old row's group: the row
 * is expected (with one of its tags) unless some replica deleted it. Key-identified rows
 * (settings, pit) are tracked by key.
 */
export class Expectation {
  /** Tag → [table, group]. */
  private readonly tags = new Map<string, [RowTable, string]>();
  private readonly deletedGroups = new Set<string>();
  readonly keys = new Set<string>();
  readonly deletedKeys = new Set<string>();
  /**
   * Some replica deleted a match. An entry another site added to it concurrently may then go
   * either way (deleted with its parent, or keeping the parent alive), so entries are not
   * expected then; the dumps must still agree and foreign keys hold.
   */
  parentDeleted = false;
  private n = 0;

  /** A new tag; `sameRowAs` names the tag of the row this write replaces. */
  newTag(r: Replica, table: RowTable, sameRowAs: string | null = null): string {
    const tag = `${r.name}#${++this.n}`;
    const group = sameRowAs !== null ? (this.tags.get(sameRowAs)?.[1] ?? sameRowAs) : tag;
    this.tags.set(tag, [table, group]);
    return tag;
  }

  /** The row with this tag was deleted (or never made it into the table). */
  deleted(tag: string): void {
    this.deletedGroups.add(this.tags.get(tag)?.[1] ?? tag);
  }

  /** Rows that must be present: for each, the tags any one of which shows it is. */
  expectedRows(): string[][] {
    const groups = new Map<string, string[]>();
    for (const [tag, [table, group]] of this.tags) {
      if (this.deletedGroups.has(group) || (table === "entries" && this.parentDeleted)) continue;
      groups.set(group, [...(groups.get(group) ?? []), tag]);
    }
    return [...groups.values()];
  }

  expectedKeys(): string[] {
    return [...this.keys].filter((k) => !this.deletedKeys.has(k)).sort();
  }

  private readonly writes = new Map<string, Write[]>();

  /** The app wrote `value` into `col` of the row tagged `tag`, between wall-clock ms t0 and t1. */
  wrote(tag: string, col: string, value: Written, t0: number, t1: number): void {
    const key = `${this.tags.get(tag)?.[1] ?? tag}\u0000${col}`;
    this.writes.set(key, [...(this.writes.get(key) ?? []), { value, t0, t1 }]);
  }

  /**
   * Last writer wins, checked where the model can tell who was last: when the last write to a
   * column came at least GAP_MS after every other write to it (stamps are wall-clock based, so
   * closer writes may be ordered either way, or by site id). Rows someone deleted are skipped.
   */
  lwwViolations(dump: LogicalDump): string[] {
    const out: string[] = [];
    const matchTag = new Map<string, string>();
    for (const row of dump.matches?.rows ?? []) {
      const t = row.values.tag;
      if (t && "text" in t) matchTag.set(row.key, t.text);
    }
    const groupOf = (tag: string) => this.tags.get(tag)?.[1] ?? tag;
    for (const table of ["teams", "matches", "entries"] as const) {
      for (const row of dump[table]?.rows ?? []) {
        const t = row.values.tag;
        if (!t || !("text" in t)) continue;
        const group = groupOf(t.text);
        if (this.deletedGroups.has(group)) continue;
        for (const col of Object.keys(row.values)) {
          if (table === "entries" && col === "match_id" && this.parentDeleted) continue;
          const ws = [...(this.writes.get(`${group}\u0000${col}`) ?? [])].sort((a, b) => a.t0 - b.t0);
          const last = ws[ws.length - 1];
          if (!last || ws.slice(0, -1).some((w) => w.t1 + GAP_MS > last.t0)) continue;
          const got = row.values[col] ?? null;
          let ok: boolean;
          if (last.value !== null && "parentTag" in last.value) {
            const ref = got !== null && "ref" in got ? matchTag.get(got.ref) : undefined;
            ok = last.value.parentTag === null ? got === null : ref !== undefined && groupOf(ref) === groupOf(last.value.parentTag);
          } else {
            ok = JSON.stringify(got) === JSON.stringify(last.value);
          }
          if (!ok) out.push(`${table} ${row.key} (tag ${t.text}) ${col}: ${JSON.stringify(got)}, but the last write (${ws.length} writes) was ${JSON.stringify(last.value)}`);
        }
      }
    }
    return out;
  }
}

/** What the app wrote into a column: a stored value, or (for entries.match_id) the parent row by its tag. */
export type Written = DumpValue | { parentTag: string | null };

interface Write {
  value: Written;
  t0: number;
  t1: number;
}

/** Writes closer than this may be stamped in either order (see `lwwViolations`). */
const GAP_MS = 3;

/** The value a column holds after the app wrote `raw` into it (the columns' affinities). */
function written(col: string, raw: unknown, db: Db): Written {
  if (col === "match_id") return { parentTag: raw === null ? null : tagOf(db, "matches", raw as bigint) };
  if (raw === null || raw === undefined) return null;
  if (col === "score") return { real: String(Number(raw)) };
  if (typeof raw === "bigint") return { int: raw.toString() };
  if (typeof raw === "string") return { text: raw };
  if (raw instanceof Uint8Array) return { blob: Buffer.from(raw).toString("hex") };
  throw new Error(`no expected form for ${col} = ${String(raw)}`);
}

function ids(db: Db, table: string): bigint[] {
  return (db.prepare(`SELECT id FROM ${table} ORDER BY id`).raw(true).safeIntegers(true).all() as [bigint][]).map((r) => r[0]);
}

function tagOf(db: Db, table: string, id: bigint): string | null {
  const row = db.prepare(`SELECT tag FROM ${table} WHERE id = ?`).raw(true).get(id) as [string | null] | undefined;
  return row?.[0] ?? null;
}

export function columnsOf(db: Db, table: string): string[] {
  return (db.prepare("SELECT name FROM pragma_table_info(?)").raw(true).all(table) as [string][]).map((r) => r[0]);
}

/** Adds the column unless the replica has it already. */
export function addColumn(db: Db, col: ExtraColumn): void {
  if (!columnsOf(db, "teams").includes(col)) db.exec(`ALTER TABLE teams ADD COLUMN ${col} ${col === "rank" ? "INTEGER" : "TEXT"}`);
}

function pickFrom<T>(items: T[], n: number): T | undefined {
  return items.length ? items[n % items.length] : undefined;
}

function colValue(col: string, v: Vals, db: Db): unknown {
  switch (col) {
    case "number":
    case "red":
      return v.number;
    case "blue":
      return v.small;
    case "rank":
      return v.small;
    case "city":
      return v.text2;
    case "name":
    case "label":
    case "team":
      return v.text;
    case "note":
      return v.text2;
    case "score":
      return v.score;
    case "photo":
      return v.photo ? Buffer.from(v.photo) : null;
    case "match_id":
      return pickFrom(ids(db, "matches"), v.parent) ?? null;
    default:
      throw new Error(`no generator for column ${col}`);
  }
}

/** Runs fn as one app transaction; an app-level failure (constraint) rolls it back and is ignored. */
function appTx(db: Db, fn: () => void): boolean {
  db.exec("BEGIN IMMEDIATE");
  try {
    fn();
    db.exec("COMMIT");
    return true;
  } catch (err) {
    if (db.inTransaction) db.exec("ROLLBACK");
    if (/constraint/i.test(String(err))) return false;
    throw err;
  }
}

/**
 * Applies one app operation to a replica with plain SQL, as the app would, and records in the
 * model what it inserted and deleted. Operations that do not apply (no row to pick, an id that
 * is taken) do nothing.
 */
export function runAppOp(rep: Replica, op: AppOp, exp: Expectation): void {
  const db = rep.db;
  const run = (sql: string, ...args: unknown[]) => db.prepare(sql).run(...args);
  switch (op.op) {
    case "insert": {
      const cols = op.table === "teams" ? ["number", "name"] : ["label", "red", "blue"];
      const vals = cols.map((c) => colValue(c, op.v, db));
      const old = op.id !== null && op.replace ? tagOf(db, op.table, BigInt(op.id)) : null;
      const tag = exp.newTag(rep, op.table, old);
      const verb = op.replace ? "INSERT OR REPLACE" : "INSERT";
      const t0 = Date.now();
      const ok = appTx(db, () => {
        run(`${verb} INTO ${op.table} (id, ${cols.join(", ")}, tag) VALUES (?, ${cols.map(() => "?").join(", ")}, ?)`, op.id, ...vals, tag);
      });
      const t1 = Date.now();
      if (!ok) exp.deleted(tag); // never existed
      else {
        [...cols, "tag"].forEach((c, i) => exp.wrote(tag, c, written(c, c === "tag" ? tag : vals[i], db), t0, t1));
        // An insert writes every column this replica has: the ones it does not name become NULL.
        for (const c of EXTRA_COLUMNS) if (op.table === "teams" && columnsOf(db, "teams").includes(c)) exp.wrote(tag, c, null, t0, t1);
      }
      return;
    }
    case "insertEntry": {
      const tag = exp.newTag(rep, "entries");
      const vals = COLS.entries.map((c) => colValue(c, op.v, db));
      const before = COLS.entries.map((c, i) => written(c, vals[i], db));
      const t0 = Date.now();
      const ok = appTx(db, () => {
        run(`INSERT INTO entries (id, ${COLS.entries.join(", ")}, tag) VALUES (?, ?, ?, ?, ?, ?, ?)`, op.id, ...vals, tag);
      });
      const t1 = Date.now();
      if (!ok) exp.deleted(tag);
      else COLS.entries.forEach((c, i) => exp.wrote(tag, c, before[i]!, t0, t1));
      return;
    }
    case "update": {
      const id = pickFrom(ids(db, op.table), op.pick);
      const have = columnsOf(db, op.table);
      const cols = op.cols.filter((c) => have.includes(c));
      if (id === undefined || cols.length === 0) return;
      const vals = cols.map((c) => colValue(c, op.v, db));
      const tag = tagOf(db, op.table, id);
      const before = cols.map((c, i) => written(c, vals[i], db));
      // Capture sees changes, not statements: setting a column to the value it holds writes nothing
      // (so an app saving a whole form does not override other sites' edits of untouched fields).
      const changes = cols.map((c, i) => (db.prepare(`SELECT ${c} IS ? FROM ${op.table} WHERE id = ?`).raw(true).get(vals[i], id) as [number])[0] === 0);
      const t0 = Date.now();
      const ok = appTx(db, () => {
        run(`UPDATE ${op.table} SET ${cols.map((c) => `${c} = ?`).join(", ")} WHERE id = ?`, ...vals, id);
      });
      const t1 = Date.now();
      if (ok && tag !== null) cols.forEach((c, i) => changes[i] && exp.wrote(tag, c, before[i]!, t0, t1));
      return;
    }
    case "delete": {
      const id = pickFrom(ids(db, op.table), op.pick);
      if (id === undefined) return;
      const gone: string[] = [];
      const ok = appTx(db, () => {
        if (op.table === "matches") {
          for (const [child, tag] of db.prepare("SELECT id, tag FROM entries WHERE match_id = ?").raw(true).safeIntegers(true).all(id) as [bigint, string][]) {
            gone.push(tag);
            run("DELETE FROM entries WHERE id = ?", child);
          }
        }
        gone.push(tagOf(db, op.table, id) ?? "");
        run(`DELETE FROM ${op.table} WHERE id = ?`, id);
      });
      if (ok) for (const t of gone) exp.deleted(t);
      if (ok && op.table === "matches") exp.parentDeleted = true;
      return;
    }
    case "rekey": {
      const id = pickFrom(ids(db, "teams"), op.pick);
      if (id === undefined || tagOf(db, "teams", BigInt(op.id)) !== null || id === BigInt(op.id)) return;
      appTx(db, () => {
        run("UPDATE teams SET id = ? WHERE id = ?", op.id, id);
      });
      return;
    }
    case "addColumn":
      addColumn(db, op.col);
      return;
    case "setting": {
      const key = `settings:${op.key}`;
      if (op.del) {
        const had = db.prepare("SELECT 1 FROM settings WHERE key = ?").get(op.key) !== undefined;
        appTx(db, () => void run("DELETE FROM settings WHERE key = ?", op.key));
        if (had) exp.deletedKeys.add(key);
      } else {
        exp.keys.add(key);
        appTx(db, () => void run("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", op.key, op.value));
      }
      return;
    }
    case "pit": {
      const key = `pit:${op.team}/${op.event}`;
      if (op.del) {
        const had = db.prepare("SELECT 1 FROM pit WHERE team = ? AND event = ?").get(op.team, op.event) !== undefined;
        appTx(db, () => void run("DELETE FROM pit WHERE team = ? AND event = ?", op.team, op.event));
        if (had) exp.deletedKeys.add(key);
      } else {
        exp.keys.add(key);
        const photo = op.v.photo ? Buffer.from(op.v.photo) : null;
        appTx(db, () =>
          void run("INSERT INTO pit (team, event, note, photo) VALUES (?, ?, ?, ?) ON CONFLICT (team, event) DO UPDATE SET note = excluded.note, photo = excluded.photo", op.team, op.event, op.note, photo),
        );
      }
      return;
    }
  }
}

/** A short text of a step, for failure logs. */
export function describeStep(s: Step, names: string[]): string {
  const n = (i: number) => names[i] ?? `#${i}`;
  switch (s.op) {
    case "capture":
      return `capture ${n(s.r)}`;
    case "pull":
      return `pull ${n(s.src)}>${n(s.dst)} limit ${s.limit} ${s.mode}`;
    default: {
      const { r, v: _v, ...rest } = s as AppOp & { v?: Vals };
      return `${n(r)}: ${JSON.stringify(rest, (_k, x) => (typeof x === "bigint" ? `${x}n` : x))}`;
    }
  }
}
