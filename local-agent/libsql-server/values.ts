// Hrana values <-> values bound to and read from the `libsql` package.
// Integers are BigInt end to end (the statements run with safeIntegers), so 64-bit values
// round-trip exactly; JS numbers are bound by `libsql` as REAL, which keeps whole floats real.

import { RequestError } from "./errors.js";

export type HranaValue =
  | { type: "null" }
  | { type: "integer"; value: string }
  | { type: "float"; value: number }
  | { type: "text"; value: string }
  | { type: "blob"; base64: string };

/** What `libsql` accepts as a bound parameter. Never pass it anything else: it aborts the process on e.g. booleans. */
export type SqlValue = null | bigint | number | string | Buffer;

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

const INTEGER_TEXT = /^[+-]?[0-9]+$/;

export function isInt64Text(text: string): boolean {
  if (!INTEGER_TEXT.test(text) || text.length > 21) return false;
  const v = BigInt(text);
  return v >= INT64_MIN && v <= INT64_MAX;
}

export function hranaToSql(v: HranaValue): SqlValue {
  switch (v.type) {
    case "null":
      return null;
    case "integer":
      if (!isInt64Text(v.value)) {
        throw new RequestError("ARGS_INVALID", `integer value ${JSON.stringify(v.value)} is not a 64-bit integer`);
      }
      return BigInt(v.value);
    case "float":
      return v.value;
    case "text":
      return v.value;
    case "blob":
      return Buffer.from(v.base64, "base64");
  }
}

/** Converts one cell of a row read with `.raw().safeIntegers()`. */
export function sqlToHrana(v: unknown): HranaValue {
  if (v === null || v === undefined) return { type: "null" };
  switch (typeof v) {
    case "bigint":
      return { type: "integer", value: v.toString() };
    case "number":
      // Only reachable for REAL columns: integers arrive as bigint.
      return { type: "float", value: v };
    case "string":
      return { type: "text", value: v };
    default:
      break;
  }
  if (v instanceof Uint8Array) {
    return { type: "blob", base64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  }
  if (v instanceof ArrayBuffer) {
    return { type: "blob", base64: Buffer.from(v).toString("base64") };
  }
  throw new Error(`unexpected value of type ${typeof v} read from SQLite`);
}

