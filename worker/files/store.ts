/**
 * The file manifest in the state database: typed reads and the statements that write it.
 * Writes happen in one interactive transaction per request (upload, apply, materialized), and
 * inside an isolate they are also queued behind each other, so the file clock and sequence are
 * read and advanced without SQLITE_BUSY retries.
 */
import type { Client, InStatement, ResultSet, Row, Transaction } from "@libsql/client/web";
import { formatHlc, parseHlc, stamp, tick, observe, stampHlc, type Hlc, type Stamp } from "../../functions/clock/hlc.js";
import { ancestorsOf } from "../../functions/files/folders.js";
import { versionOf, type StoredFile } from "../../functions/files/local-change.js";
import { vvFromJson, vvToJson } from "../../functions/files/vector.js";
import type { FileVersion } from "../../functions/files/version.js";
import { settledWithin } from "../shared.js";

export type Reader = Pick<Client | Transaction, "execute">;

const COLUMNS = "path, hash, size, blocks, vv, stamp, deleted, seq, origin, disk_hash, disk_size, disk_mtime_ms, source, error, held_by, dir";

/**
 * "The version is not on disk yet": diskKey (functions/files/version.ts) in SQL, written exactly
 * as the partial index files_pending states it, so that SQLite uses the index.
 */
const PENDING = "(CASE WHEN dir = 1 AND deleted = 0 THEN 'dir' ELSE hash END) IS NOT disk_hash";

export interface ManifestRow extends StoredFile {
  seq: number;
  source: string | null;
  error: string | null;
  /** See schema.ts: [sender, ...sites the sender also pushed this version to]. */
  heldBy: string[];
}

const num = (v: unknown): number => (typeof v === "bigint" ? Number(v) : Number(v ?? 0));
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));

export function toManifestRow(r: Row): ManifestRow {
  return {
    path: String(r[0]),
    hash: str(r[1]),
    size: num(r[2]),
    blocks: JSON.parse(String(r[3] ?? "[]")) as string[],
    vv: vvFromJson(String(r[4] ?? "{}")),
    stamp: String(r[5]),
    deleted: num(r[6]) !== 0,
    seq: num(r[7]),
    origin: String(r[8]),
    diskHash: str(r[9]),
    diskSize: numOrNull(r[10]),
    diskMtimeMs: numOrNull(r[11]),
    source: str(r[12]),
    error: str(r[13]),
    heldBy: str(r[14])?.split(",") ?? [],
    dir: num(r[15]) !== 0,
  };
}

function rowsStmts(paths: readonly string[]): InStatement[] {
  const unique = [...new Set(paths)];
  const out: InStatement[] = [];
  for (let i = 0; i < unique.length; i += 400) {
    const part = unique.slice(i, i + 400);
    out.push({ sql: `SELECT ${COLUMNS} FROM files WHERE path IN (${part.map(() => "?").join(", ")})`, args: part });
  }
  return out;
}

function collectRows(results: readonly ResultSet[]): Map<string, ManifestRow> {
  const out = new Map<string, ManifestRow>();
  for (const rs of results) {
    for (const r of rs.rows) {
      const row = toManifestRow(r);
      out.set(row.path, row);
    }
  }
  return out;
}

export async function readRows(db: Reader, paths: readonly string[]): Promise<Map<string, ManifestRow>> {
  const results: ResultSet[] = [];
  for (const stmt of rowsStmts(paths)) results.push(await db.execute(stmt));
  return collectRows(results);
}

/**
 * The file clock and the rows of `paths` and of every folder above them, in one round trip (the
 * first of a write transaction): the folder rule asks for those folders, and a second round trip
 * for them was on the latency path of every change (B1). `lookup` reads what is still missing.
 */
export async function readMetaAndRows(
  tx: Transaction,
  paths: readonly string[],
): Promise<{ meta: FileMeta; rows: Map<string, ManifestRow>; lookup: (paths: readonly string[]) => Promise<Map<string, FileVersion>> }> {
  const read = new Set(paths);
  for (const p of paths) for (const a of ancestorsOf(p)) read.add(a);
  const [meta, ...rest] = await tx.batch([META_SQL, ...rowsStmts([...read])]);
  const rows = collectRows(rest);
  return { meta: toMeta(meta), rows, lookup: rowLookup(tx, rows, read) };
}

/** The file clock and sequence, kept in settings beside the rest of the site's state. */
export interface FileMeta {
  hlc: Hlc;
  seq: number;
}

const META_SQL = "SELECT (SELECT value FROM settings WHERE key = 'files_hlc'), (SELECT value FROM settings WHERE key = 'files_seq')";

function toMeta(rs: ResultSet | undefined): FileMeta {
  const r = rs?.rows[0];
  return { hlc: parseHlc(str(r?.[0])), seq: num(r?.[1] ?? 0) };
}

/**
 * Versions by path over `rows` (the rows this transaction read), reading the rest on demand;
 * `looked` holds the paths already asked for, found or not, so a missing path is read once.
 */
function rowLookup(tx: Transaction, rows: Map<string, ManifestRow>, looked: Set<string>): (paths: readonly string[]) => Promise<Map<string, FileVersion>> {
  return async (paths) => {
    const unread = paths.filter((p) => !rows.has(p) && !looked.has(p));
    for (const p of unread) looked.add(p);
    if (unread.length > 0) for (const [p, r] of await readRows(tx, unread)) rows.set(p, r);
    const out = new Map<string, FileVersion>();
    for (const p of paths) {
      const row = rows.get(p);
      if (row) out.set(p, versionOf(row));
    }
    return out;
  };
}

export async function readMeta(db: Reader): Promise<FileMeta> {
  return toMeta(await db.execute(META_SQL));
}

export function writeMetaStmts(m: FileMeta): InStatement[] {
  const put = "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
  return [
    { sql: put, args: ["files_hlc", formatHlc(m.hlc)] },
    { sql: put, args: ["files_seq", String(m.seq)] },
  ];
}

/** The clock as one request uses it: new local stamps, and stamps seen from elsewhere. */
export class FileClock {
  constructor(
    readonly meta: FileMeta,
    private readonly site: string,
    private readonly now: () => number = Date.now,
  ) {}

  next(): Stamp {
    this.meta.hlc = tick(this.meta.hlc, this.now());
    return stamp(this.meta.hlc, this.site);
  }

  /** Later local edits must stamp after every version this site has seen. */
  saw(s: Stamp): void {
    this.meta.hlc = observe(this.meta.hlc, stampHlc(s));
  }

  nextSeq(): number {
    return ++this.meta.seq;
  }
}

/**
 * The manifest writes of one request, sent as one statement per kind whatever their number:
 * every version, then every path's disk facts, then every error, each row a JSON array that the
 * statement reads back with json_each. A statement per row cost the worker ~30 ms of CPU per 500
 * files in encoding alone (the SQL text again and every value as a Hrana object, profiled), and
 * the database as much to decode and run. The kinds write different columns (a version keeps the
 * disk columns), so only their order for one path matters, which the methods keep: each clears
 * an error set before it, as its own statement would have.
 */
export class ManifestWrites {
  private readonly versions: unknown[][] = [];
  private readonly disks = new Map<string, unknown[]>();
  private readonly errors = new Map<string, string>();

  /** A version (keeping the disk columns) under a new sequence. `source`: the peer whose disk has its bytes; `heldBy`: peers that have exactly this version. */
  version(v: FileVersion, seq: number, source: string | null, heldBy: readonly string[] = []): void {
    this.errors.delete(v.path);
    this.versions.push([v.path, v.hash, v.size, JSON.stringify(v.blocks), vvToJson(v.vv), v.stamp, v.deleted ? 1 : 0, v.dir ? 1 : 0, seq, v.origin, source, heldBy.length ? heldBy.join(",") : null]);
  }

  /** What the agent says is on disk at `path` now. */
  disk(path: string, disk: DiskFacts): void {
    this.errors.delete(path);
    this.disks.set(path, [path, disk.hash, disk.size, disk.mtimeMs]);
  }

  /** Why the agent could not bring `path` to disk. */
  error(path: string, message: string): void {
    this.errors.set(path, message);
  }

  get size(): number {
    return this.versions.length + this.disks.size + this.errors.size;
  }

  statements(): InStatement[] {
    const out: InStatement[] = [];
    if (this.versions.length > 0) {
      out.push({
        // `WHERE true`: SQLite's grammar needs it between a SELECT and ON CONFLICT.
        sql: `INSERT INTO files (path, hash, size, blocks, vv, stamp, deleted, dir, seq, origin, source, held_by, error)
              SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7, value->>8, value->>9, value->>10, value->>11, NULL
              FROM json_each(?) WHERE true
              ON CONFLICT (path) DO UPDATE SET hash = excluded.hash, size = excluded.size, blocks = excluded.blocks,
                vv = excluded.vv, stamp = excluded.stamp, deleted = excluded.deleted, dir = excluded.dir, seq = excluded.seq,
                origin = excluded.origin, source = excluded.source, held_by = excluded.held_by, error = NULL`,
        args: [JSON.stringify(this.versions)],
      });
    }
    if (this.disks.size > 0) {
      out.push({
        sql: "UPDATE files SET disk_hash = j.value->>1, disk_size = j.value->>2, disk_mtime_ms = j.value->>3, error = NULL FROM json_each(?) AS j WHERE files.path = j.value->>0",
        args: [JSON.stringify([...this.disks.values()])],
      });
    }
    if (this.errors.size > 0) {
      out.push({ sql: "UPDATE files SET error = j.value->>1 FROM json_each(?) AS j WHERE files.path = j.value->>0", args: [JSON.stringify([...this.errors])] });
    }
    return out;
  }
}

export interface DiskFacts {
  hash: string | null;
  size: number | null;
  mtimeMs: number | null;
}

/** Versions after `since`, in sequence order (what peers pull and what we push). */
export async function versionsSince(db: Client, since: number, limit: number): Promise<{ rows: ManifestRow[]; last: number; more: boolean; head: number }> {
  const [rs, meta] = await db.batch([{ sql: `SELECT ${COLUMNS} FROM files WHERE seq > ? ORDER BY seq LIMIT ?`, args: [since, limit + 1] }, META_SQL], "read");
  const rows = (rs?.rows ?? []).map(toManifestRow);
  const more = rows.length > limit;
  if (more) rows.pop();
  return { rows, last: rows.at(-1)?.seq ?? Math.max(since, 0), more, head: toMeta(meta).seq };
}

export async function pendingRows(db: Reader, limit: number): Promise<ManifestRow[]> {
  // PENDING is the partial index's own condition, so only pending rows are read.
  const rs = await db.execute({
    sql: `SELECT ${COLUMNS} FROM files WHERE ${PENDING} ORDER BY error IS NOT NULL, seq LIMIT ?`,
    args: [limit],
  });
  return rs.rows.map(toManifestRow);
}

export async function manifestPage(db: Reader, after: string, limit: number): Promise<ManifestRow[]> {
  const rs = await db.execute({
    sql: `SELECT ${COLUMNS} FROM files WHERE path > ? AND disk_hash IS NOT NULL ORDER BY path LIMIT ?`,
    args: [after, limit],
  });
  return rs.rows.map(toManifestRow);
}

export async function counts(db: Reader): Promise<{ files: number; deleted: number; pending: number; failing: number; errors: { path: string; error: string }[] }> {
  const rs = await db.execute(
    `SELECT count(*) FILTER (WHERE deleted = 0), count(*) FILTER (WHERE deleted = 1), (SELECT count(*) FROM files WHERE ${PENDING}), count(*) FILTER (WHERE error IS NOT NULL) FROM files`,
  );
  const errs = await db.execute("SELECT path, error FROM files WHERE error IS NOT NULL ORDER BY path LIMIT 100");
  const r = rs.rows[0];
  return {
    files: num(r?.[0]),
    deleted: num(r?.[1]),
    pending: num(r?.[2]),
    failing: num(r?.[3]),
    errors: errs.rows.map((e) => ({ path: String(e[0]), error: String(e[1]) })),
  };
}

let queue: Promise<unknown> = Promise.resolve();
/** How long a write waits for the one before it; past that it starts anyway, and the server's busy wait orders them. */
const QUEUE_WAIT_MS = 15_000;

/** A write transaction whose last batch also commits, saving the round trip of a separate COMMIT. */
export interface FilesTx {
  tx: Transaction;
  /** Runs the final statements and COMMIT in one request. */
  finish(stmts: InStatement[]): Promise<void>;
}

/**
 * Runs fn in one write transaction, after every earlier one of this isolate has finished. The
 * queue makes concurrent uploads wait their turn here instead of bouncing off SQLITE_BUSY.
 */
export function writeFiles<T>(client: Client, fn: (w: FilesTx) => Promise<T>): Promise<T> {
  const run = async (): Promise<T> => {
    const tx = await client.transaction("write");
    let committed = false;
    try {
      const out = await fn({
        tx,
        finish: async (stmts) => {
          await tx.batch([...stmts, "COMMIT"]);
          committed = true;
        },
      });
      if (!committed) await tx.commit();
      return out;
    } catch (err) {
      if (!tx.closed && !committed) await tx.rollback().catch(() => undefined);
      throw err;
    } finally {
      tx.close();
    }
  };
  const prior = queue;
  // The queue only spares SQLITE_BUSY retries: an earlier write whose request is gone must not hold this one forever.
  const result = settledWithin(prior, QUEUE_WAIT_MS).then(run);
  queue = result.catch(() => undefined);
  return result;
}

/** Up to `limit` paths of live entries inside folder `dir`. */
export async function liveInside(db: Reader, dir: string, limit: number): Promise<string[]> {
  // Every path inside "d" sorts between "d/" and "d0" ("0" follows "/"): a range of the primary key.
  const rs = await db.execute({ sql: "SELECT path FROM files WHERE path > ? AND path < ? AND deleted = 0 LIMIT ?", args: [`${dir}/`, `${dir}0`, limit] });
  return rs.rows.map((r) => String(r[0]));
}
