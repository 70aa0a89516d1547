/**
 * Many rows as one bound JSON text that SQLite unpacks itself (`json_each`), instead of one bound
 * parameter per value. A page of 2,000 rows is ~40,000 parameters otherwise, each wrapped,
 * encoded, parsed and checked on both sides of the libSQL protocol: that, not SQLite, was most of
 * a bulk apply's cost.
 *
 * Only values that JSON carries exactly qualify: integers (bigint), well-formed text without
 * NUL, null, and reals sent as [m, 2^k] (SQLite's own text-to-real conversion is not always
 * exact, but m ÷ 2^k is, for every real of at most 62 binary places). Blobs and the rare real
 * beyond that do not; rows holding them are bound value by value.
 */
import { chunks, placeholders, type Arg } from "./port.js";

/**
 * `SELECT …, value->>i, … FROM json_each(?)`: the rows of a JSON array of jsonRow() texts.
 * Columns listed in `reals` may hold [m, 2^k] pairs.
 */
export function jsonRowsSelect(width: number, reals: ReadonlySet<number> = new Set()): string {
  const col = (i: number): string =>
    reals.has(i) ? `CASE json_type(value, '$[${i}]') WHEN 'array' THEN CAST(value->>'$[${i}][0]' AS REAL) / (value->>'$[${i}][1]') ELSE value->>${i} END` : `value->>${i}`;
  return `SELECT ${Array.from({ length: width }, (_, i) => col(i)).join(", ")} FROM json_each(?)`;
}

/** A real as [m, 2^k] with x = m ÷ 2^k exactly (both integers, k ≤ 62), or null when it has no such form. */
function realJson(x: number): string | null {
  if (!Number.isFinite(x) || Object.is(x, -0)) return null;
  let m = x;
  let k = 0;
  // Doubling is exact, and a real with a fraction is below 2^52: m stays an exact integer below 2^53.
  for (; !Number.isInteger(m); k++) {
    if (k === 62) return null;
    m *= 2;
  }
  // An integral real beyond 64 bits cannot travel as a JSON integer either.
  if (Math.abs(m) >= 2 ** 63) return null;
  return `[${BigInt(m).toString()},${(1n << BigInt(k)).toString()}]`;
}

/**
 * One value as JSON, or null when JSON cannot carry it exactly. A `number` is a real, or with
 * `intNumbers` an integer (scoutsync's own columns); `onReal` hears when a real was written.
 */
export function jsonValue(v: Arg, intNumbers: boolean, onReal?: () => void): string | null {
  if (v === null) return "null";
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "string") return v.includes("\u0000") || !v.isWellFormed() ? null : JSON.stringify(v);
  if (typeof v === "number") {
    if (intNumbers) return Number.isSafeInteger(v) ? String(v) : null;
    const j = realJson(v);
    if (j !== null) onReal?.();
    return j;
  }
  return null;
}

/** One row as a JSON array, or null if a value does not qualify; the indices of columns holding reals go into `reals`. */
export function jsonRow(row: readonly Arg[], reals: Set<number>, intNumbers = false): string | null {
  const cells: string[] = [];
  for (let i = 0; i < row.length; i++) {
    const j = jsonValue(row[i]!, intNumbers, () => reals.add(i));
    if (j === null) return null;
    cells.push(j);
  }
  return `[${cells.join(",")}]`;
}

/**
 * Rows JSON carries exactly, as one JSON list text (`json`: null when there are none), and the
 * rows that must stay bound values; `reals` are the cells sent as exact [m, 2^k] pairs.
 */
export function splitRows(rows: readonly (readonly Arg[])[], intNumbers = false): { json: string | null; bound: (readonly Arg[])[]; reals: Set<number> } {
  const cells: string[] = [];
  const bound: (readonly Arg[])[] = [];
  const reals = new Set<number>();
  for (const r of rows) {
    const j = jsonRow(r, reals, intNumbers);
    if (j === null) bound.push(r);
    else cells.push(j);
  }
  return { json: cells.length ? `[${cells.join(",")}]` : null, bound, reals };
}

/**
 * `insert` (an `INSERT … (cols)` head) for many rows of `width` values: the rows JSON carries
 * exactly in one statement, the others as VALUES lists, well under SQLite's 32,766 bound
 * parameters each. `onConflict`: an upsert clause for every statement.
 */
export function insertRowsStmts(insert: string, width: number, rows: readonly (readonly Arg[])[], intNumbers = false, onConflict = ""): { sql: string; args: Arg[] }[] {
  const { json, bound, reals } = splitRows(rows, intNumbers);
  const clause = onConflict === "" ? "" : ` ${onConflict}`;
  // `WHERE true`: without it SQLite would read ON CONFLICT as part of the SELECT's join.
  const out: { sql: string; args: Arg[] }[] = json === null ? [] : [{ sql: `${insert} ${jsonRowsSelect(width, reals)}${clause && ` WHERE true${clause}`}`, args: [json] }];
  const tuple = `(${Array.from({ length: width }, () => "?").join(", ")})`;
  for (const part of chunks(bound, Math.max(1, Math.min(500, Math.floor(30_000 / Math.max(1, width)))))) {
    out.push({ sql: `${insert} VALUES ${part.map(() => tuple).join(", ")}${clause}`, args: part.flat() });
  }
  return out;
}

/**
 * `IN (…)` conditions matching any of `keys`: one JSON list when JSON carries every key exactly
 * (SQLite still looks each one up in the index), else lists of placeholders in chunks.
 */
export function inKeys(keys: readonly Arg[]): { sql: string; args: Arg[] }[] {
  if (keys.length === 0) return [];
  const cells: string[] = [];
  for (const k of keys) {
    const j = jsonValue(k, true);
    if (j === null) return chunks([...keys]).map((part) => ({ sql: `IN (${placeholders(part.length)})`, args: part }));
    cells.push(j);
  }
  return [{ sql: "IN (SELECT value FROM json_each(?))", args: [`[${cells.join(",")}]`] }];
}
