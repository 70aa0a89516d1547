/**
 * The database engine's three operations, each one transaction on the app's database:
 * capture local writes, hand out changes after a sequence, and apply received changes.
 * Shells (the worker) call these; tests call them on in-process databases.
 */
import { formatHlc, ZERO_HLC } from "../clock/hlc.js";
import type { RowChange } from "../wire/database.js";
import { applyChanges, lookupStmts, type AppliedBatch } from "./apply.js";
import { changesSince, type ChangePage, type PageRequest, type Reader } from "./changes.js";
import { parseMeta, READ_META_SQL, readMeta, writeMetaStmts, type Meta } from "./meta.js";
import { query, type SqlDb, type SqlExec, type Stmt } from "./port.js";
import { raiseHighWaterStmts } from "./capture.js";
import { currentSchema, ensureCapture, quietCheck, quietMeta, type CaptureState, type EngineContext, type Schema } from "./schema.js";

export type { EngineContext } from "./schema.js";

export interface CaptureResult {
  captured: number;
  seq: number;
}

/**
 * Transactions one capture call may take: 1,000 pages of 1,000 writes. What is left (an app
 * that writes faster than that, forever) waits for the next call.
 */
const MAX_CAPTURE_STEPS = 1000;

/**
 * Captures writes made by any process since the last call, one page per transaction: the app
 * shares this database's write lock, and a long capture must not stall its writes.
 * `pending`: the caller saw writes waiting (the agent looks before it asks), so the read that
 * checks whether there is anything to do is skipped: it would find there is, a round trip late
 * on the path of every change the app makes.
 */
export async function captureLocal(db: SqlDb, ctx: EngineContext, opts: { pending?: boolean } = {}): Promise<CaptureResult> {
  const cached = ctx.cache.captured;
  if (cached && !opts.pending) {
    // A failed check (a table the app dropped since) is no answer: the capture below reflects again.
    const quiet = await unlessFailed(ctx, db.snapshot(quietCheck(cached))).then((rows) => quietMeta(ctx, rows), () => null);
    if (quiet !== null) return { captured: 0, seq: quiet.seq };
  }
  let captured = 0;
  let seq = 0;
  for (let step = 0; step < MAX_CAPTURE_STEPS; step++) {
    const r = await captureStep(db, ctx);
    captured += r.captured;
    seq = r.seq;
    if (!r.more) break;
  }
  return { captured, seq };
}

async function captureStep(db: SqlDb, ctx: EngineContext): Promise<CaptureResult & { more: boolean }> {
  return captureWrite(db, ctx, { pages: 1 }, async (tx, { schema, meta, captured, more, changed, parked }) => {
    const before = meta.seq;
    // A local write may have made room for a parked row (freed a UNIQUE value, created a parent).
    const retryParked = parked && (captured > 0 || changed.length > 0);
    if (changed.length || retryParked) {
      await applyChanges(tx, ctx, schema, meta, { from: null, also: [], changes: [] }, { parked: retryParked, tables: changed }, {
        after: () => [...(more ? [] : raiseHighWaterStmts(schema)), ...(meta.seq !== before ? writeMetaStmts(meta) : [])],
      });
    } else if (meta.seq !== before) await tx.batch(writeMetaStmts(meta));
    return { captured, seq: meta.seq, more };
  });
}

/**
 * Merges row states received from site `from` (which delivers them to `also` too). Local writes
 * not captured yet are captured first, in the same transaction, so a received change always
 * meets the newest local write; a long backlog of them is captured a page per transaction before
 * (the app's writes wait for one page at most), and the apply runs once what is left fits in one page.
 */
export async function applyRemote(db: SqlDb, ctx: EngineContext, sender: { from: string; also?: string[] }, changes: RowChange[]): Promise<AppliedBatch & CaptureResult> {
  let drained = 0;
  // The apply's first reads go with the capture check: one round trip fewer per apply (B3).
  const ahead = lookupStmts(changes);
  for (let step = 0; ; step++) {
    const last = step + 1 >= MAX_CAPTURE_STEPS;
    const result = await captureWrite(db, ctx, { ...(last ? {} : { pages: 1 }), ahead }, async (tx, { schema, meta, captured, more, changed, parked, ahead: looked }) => {
      // Tables that changed shape must have their held values placed in this same transaction.
      if (more && !last && changed.length === 0) return { captured };
      const retryParked = parked && (changes.length > 0 || captured > 0 || changed.length > 0);
      const applied = await applyChanges(tx, ctx, schema, meta, { from: sender.from, also: sender.also ?? [], changes }, { parked: retryParked, tables: changed }, {
        ...(looked ? { looked } : {}),
        after: () => [...(more ? [] : raiseHighWaterStmts(schema)), ...writeMetaStmts(meta)],
      });
      return { ...applied, captured, seq: meta.seq };
    });
    drained += result.captured;
    if ("seq" in result) return { ...result, captured: drained };
  }
}

/**
 * One write transaction that starts by bringing capture up to date (ensureCapture). A schema it
 * reflected is cached once committed, not before: a concurrent read trusting it could look for
 * capture tables its snapshot does not have yet.
 */
async function captureWrite<T>(db: SqlDb, ctx: EngineContext, opts: { pages?: number; ahead?: Stmt[] }, fn: (tx: SqlExec, state: CaptureState) => Promise<T>): Promise<T> {
  const staged: { schema?: Schema } = {};
  const out = await unlessFailed(
    ctx,
    db.write(async (tx) => {
      const state = await ensureCapture(tx, ctx, opts);
      if (state.reflected) staged.schema = state.schema;
      return fn(tx, state);
    }),
  );
  if (staged.schema) ctx.cache.captured = ctx.cache.schema = staged.schema;
  return out;
}

/** Changes after `since`, without what `reader` (when known) holds already: see changesSince. */
export async function readChanges(db: SqlDb, ctx: EngineContext, since: number, limit: number, reader: Reader | null = null): Promise<ChangePage> {
  const [page] = await readChangePages(db, ctx, [{ since, limit, reader }]);
  return page!;
}

/** Several pages (for several readers) in one read transaction: see changesSince. */
export async function readChangePages(db: SqlDb, ctx: EngineContext, requests: readonly PageRequest[]): Promise<ChangePage[]> {
  return unlessFailed(ctx, db.read(async (tx) => {
    // Once a schema was read, the capture tables exist (a replaced file fails this read, and the next capture makes them again).
    if (ctx.cache.schema === undefined && !(await captureInstalled(tx))) return requests.map((r) => ({ changes: [], last: r.since, more: false, head: 0 }));
    return changesSince(tx, (version) => currentSchema(tx, ctx, version), requests);
  }));
}

/**
 * A failed transaction may have rolled back what the cached schema stands for (the capture
 * tables, their triggers, a new table): forget it, so the next call reflects again instead of
 * failing the same way forever.
 */
async function unlessFailed<T>(ctx: EngineContext, op: Promise<T>): Promise<T> {
  try {
    return await op;
  } catch (err) {
    delete ctx.cache.captured;
    delete ctx.cache.schema;
    throw err;
  }
}

/**
 * This site's clock and sequence, for pings and status. Once a schema was read the capture
 * tables exist, and one statement in one round trip does (every peer pings every idle tick, B7);
 * before that, or when that read fails (a replaced file), a read transaction checks for them first.
 */
export async function readClock(db: SqlDb, ctx: EngineContext): Promise<{ hlc: string; seq: number }> {
  const known = ctx.cache.schema === undefined ? null : await unlessFailed(ctx, db.snapshot([{ sql: READ_META_SQL }])).catch(() => null);
  const meta = known ? parseMeta(known[0]?.[0] ?? []) : await db.read(readMetaIfPresent);
  return { hlc: formatHlc(meta.hlc), seq: meta.seq };
}

async function readMetaIfPresent(tx: SqlExec): Promise<Meta> {
  return (await captureInstalled(tx)) ? readMeta(tx) : { hlc: ZERO_HLC, seq: 0 };
}

/** Capture tables appear with the first write transaction; reads before that see an empty site. */
const CAPTURE_INSTALLED_SQL = "SELECT count(*) FROM sqlite_schema WHERE name IN ('_scoutsync_meta', '_scoutsync_rows')";

async function captureInstalled(tx: SqlExec): Promise<boolean> {
  const rows = await query(tx, CAPTURE_INSTALLED_SQL);
  return Number(rows[0]?.[0] ?? 0) === 2;
}
