/**
 * Many rows as one bound JSON text that SQLite unpacks itself (`json_each`), instead of one bound
 * parameter per value. A page of 2,000 rows is ~40,000 parameters otherwise, each wrapped,
 * encoded, parsed and checked on both sides of the libSQL protocol: that, not SQLite, was most of
 * a bulk apply's cost.
 *
 * Only values that JSON carries exactly qualify: integers (bigint), well-formed text without
 * NUL, and null. Reals do not (SQLite's text-to-real conversion is not always exact), nor blobs;
 * rows holding them are bound value by value as before.
 */
import { chunks, placeholders, type Arg } from "./port.js";

/** `SELECT value->>0, …, value->>(width-1) FROM json_each(?)`: the rows of a jsonRows() text. */
export function jsonRowsSelect(width: number): string {
  return `SELECT ${Array.from({ length: width }, (_, i) => `value->>${i}`).join(", ")} FROM json_each(?)`;
}

/** One value as JSON, or null when JSON cannot carry it exactly. `number` counts as an integer only when `intNumbers`. */
export function jsonValue(v: Arg, intNumbers: boolean): string | null {
  if (v === null) return "null";
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "string") return v.includes("\u0000") || !v.isWellFormed() ? null : JSON.stringify(v);
  if (typeof v === "number" && intNumbers && Number.isSafeInteger(v)) return String(v);
  return null;
}

/** The rows as a JSON array of arrays, or null if a value does not qualify. */
export function jsonRows(rows: readonly (readonly Arg[])[], intNumbers = false): string | null {
  const out: string[] = [];
  for (const row of rows) {
    const cells: string[] = [];
    for (const v of row) {
      const j = jsonValue(v, intNumbers);
      if (j === null) return null;
      cells.push(j);
    }
    out.push(`[${cells.join(",")}]`);
  }
  return `[${out.join(",")}]`;
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
