/** Reads "changes after sequence N": full row states, so that any peer can merge them in any order. */
import { addTo } from "../util/multimap.js";
import { PAGE_VALUE_BYTES, type RowChange } from "../wire/database.js";
import { SCHEMA_VERSION_SQL, type TableInfo } from "../sql/reflect.js";
import { readTablesValues } from "./local-values.js";
import type { Arg, SqlExec, Stmt } from "./port.js";
import { isAlive, type RowState } from "./row-state.js";
import type { Schema } from "./schema.js";
import { VERSION_JSON, parseVersionRow, stateOf, type VersionRow } from "./version-rows.js";

/** Sequence numbers one read looks through at most, so skipping what the reader holds never stalls the database. */
const SCAN_WINDOW = 20_000;

/**
 * Who reads a page: rows whose state came from `site` unchanged are skipped (it holds them
 * already); with `hints`, rows another site said it delivers to `site` as well; with `pushed`,
 * rows up to that sequence that our pushes delivered to `site` (a push skipped only the hinted ones).
 */
export interface Reader {
  site: string;
  hints: boolean;
  pushed?: number;
}

/** One page asked for: changes after `since`, at most `limit`, for `reader` (null: everything). */
export interface PageRequest {
  since: number;
  limit: number;
  reader: Reader | null;
}

export interface ChangePage {
  changes: RowChange[];
  last: number;
  more: boolean;
  /** The newest sequence: how far behind the reader is. */
  head: number;
}

/**
 * Pages of changes, one per request, read in one round trip for the version rows and one for
 * the values (a row on several pages is read once): a change pushed to nine peers at once is
 * read once, not nine times (B3). For each page: skipped rows still move `last` past them, so a
 * page may be empty while `more` is true. SQLite does the skipping, over at most SCAN_WINDOW
 * sequence numbers per page (after a big initial sync, a million rows the reader sent). A page
 * ends early once its values pass PAGE_VALUE_BYTES (rows of photos), so it always fits in one request.
 */
export async function changesSince(tx: SqlExec, schemaAt: (version: number) => Promise<Schema>, requests: readonly PageRequest[]): Promise<ChangePage[]> {
  const n = requests.length;
  const results = await tx.batch([
    ...requests.map(pageQuery),
    { sql: "SELECT v FROM _scoutsync_meta WHERE k = 'seq'" },
    // Asked here, not in a round trip of its own: the schema is nearly always the cached one.
    { sql: SCHEMA_VERSION_SQL },
  ]);
  const head = Number(results[n]?.[0]?.[0] ?? 0);
  const schema = await schemaAt(Number(results[n + 1]?.[0]?.[0] ?? 0));
  const pages = requests.map((_, i) => (results[i] ?? []).map(parseVersionRow));
  const stateOfRow = await statesOf(tx, schema, pages.flat());
  return requests.map((req, i) => pageOf(req, pages[i]!, stateOfRow, head));
}

function pageQuery({ since, limit, reader }: PageRequest): Stmt {
  const skip: { sql: string; args: Arg[] }[] = [];
  if (reader !== null) skip.push({ sql: "(src IS NULL OR src <> ?)", args: [reader.site] });
  // Site ids are fixed-length hex, so a substring match of one in the comma-separated list is exact.
  if (reader?.hints) skip.push({ sql: "(also IS NULL OR instr(also, ?) = 0)", args: [reader.site] });
  // A pull need not fetch again what our pushes delivered, but it does fetch what those pushes
  // left to another sender's promise: pulls are how a broken promise heals.
  else if (reader?.pushed) skip.push({ sql: "(seq > ? OR instr(also, ?) > 0)", args: [reader.pushed, reader.site] });
  return {
    sql: `SELECT ${VERSION_JSON} FROM _scoutsync_rows WHERE seq > ? AND seq <= ?${skip.map((x) => ` AND ${x.sql}`).join("")} ORDER BY seq LIMIT ?`,
    args: [since, since + SCAN_WINDOW, ...skip.flatMap((x) => x.args), limit],
  };
}

function pageOf({ since, limit }: PageRequest, rows: VersionRow[], stateOfRow: (v: VersionRow) => RowState | null, head: number): ChangePage {
  // A full page goes on after its last row; a short one has seen all of its window.
  const full = rows.length === limit;
  const seen = full ? rows[rows.length - 1]!.seq : Math.max(since, Math.min(since + SCAN_WINDOW, head));
  const changes: RowChange[] = [];
  let bytes = 0;
  for (let i = 0; i < rows.length; i++) {
    const state = stateOfRow(rows[i]!);
    // A live row missing from its table was moved or deleted by a write not captured yet; the
    // capture gives it a new sequence, so it is sent then, with its values, instead of empty now.
    if (state === null) continue;
    if (changes.length && bytes + valueBytes(state) > PAGE_VALUE_BYTES) {
      return { changes, last: rows[i - 1]!.seq, more: true, head };
    }
    bytes += valueBytes(state);
    changes.push({ t: rows[i]!.tbl, g: rows[i]!.gid, s: state });
  }
  return { changes, last: seen, more: full || seen < head, head };
}

/** About how many bytes a state's values take on the wire. */
function valueBytes(s: RowState): number {
  let n = 0;
  for (const v of Object.values(s.vals)) {
    if (typeof v === "string") n += v.length;
    else if (v !== null && typeof v === "object" && "b" in v) n += v.b.length;
    else n += 16;
  }
  return n;
}

/**
 * States of version rows (null: a live row missing from its table), from the table's values for
 * materialized live rows and from x for the rest. Each row's values are read once, however often it is listed.
 */
async function statesOf(tx: SqlExec, schema: Schema, rows: VersionRow[]): Promise<(v: VersionRow) => RowState | null> {
  const byTable = new Map<TableInfo, (bigint | string)[]>();
  for (const v of rows) if (isMaterialized(schema, v)) addTo(byTable, schema.tables.get(v.tbl)!, v.lk!);
  const values = await readTablesValues(tx, schema, new Map([...byTable].map(([t, lks]) => [t, [...new Set(lks)]])));
  return (v) => {
    if (!isMaterialized(schema, v)) return stateOf(v, null);
    const vals = values.get(schema.tables.get(v.tbl)!)?.get(String(v.lk));
    return vals ? stateOf(v, vals) : null;
  };
}

/** A row whose values are in its table (not parked, not deleted, table present). */
export function isMaterialized(schema: Schema, v: VersionRow): boolean {
  return v.lk !== null && v.why === null && schema.tables.has(v.tbl) && isAlive({ ins: v.ins, clk: v.clk, del: v.del, vals: {} });
}
