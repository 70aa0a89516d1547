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

// Magnitudes of the 64-bit limits, as digits: texts of equal length compare like the numbers.
const INT64_MAX_DIGITS = "9223372036854775807";
const INT64_MIN_DIGITS = "9223372036854775808";

/**
 * A decimal integer text (`[+-]digits`, at most 21 characters) within 64 bits. Runs for every
 * integer argument, hence by hand rather than with a regex and a BigInt.
 */
export function isInt64Text(text: string): boolean {
  const n = text.length;
  if (n === 0 || n > 21) return false;
  const sign = text.charCodeAt(0);
  const digitsStart = sign === 0x2b /* + */ || sign === 0x2d /* - */ ? 1 : 0;
  if (digitsStart === n) return false;
  for (let i = digitsStart; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  let first = digitsStart;
  while (first < n - 1 && text.charCodeAt(first) === 0x30) first++;
  const digits = n - first;
  if (digits !== INT64_MAX_DIGITS.length) return digits < INT64_MAX_DIGITS.length;
  return text.slice(first) <= (sign === 0x2d ? INT64_MIN_DIGITS : INT64_MAX_DIGITS);
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * Why `v` is not a Hrana value (the field at fault and what is wrong with it), or undefined if
 * it is. By hand rather than a zod union: it runs for every argument of every statement.
 */
export function hranaValueProblem(v: unknown): { field?: string; message: string } | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { message: "expected a value object with a `type`" };
  const o = v as Record<string, unknown>;
  switch (o.type) {
    case "null":
      return undefined;
    case "integer":
      return typeof o.value === "string" && isInt64Text(o.value)
        ? undefined
        : { field: "value", message: "expected a 64-bit integer as a decimal string" };
    case "float":
      // JSON.parse turns 1e999 into Infinity, which SQLite stores as a REAL: accept it.
      return typeof o.value === "number" && !Number.isNaN(o.value) ? undefined : { field: "value", message: "expected a number" };
    case "text":
      return typeof o.value === "string" ? undefined : { field: "value", message: "expected a string" };
    case "blob":
      return typeof o.base64 === "string" && BASE64.test(o.base64) ? undefined : { field: "base64", message: "expected base64" };
    default:
      return { field: "type", message: `expected type null, integer, float, text or blob, got ${JSON.stringify(o.type ?? null)}` };
  }
}

/** The value to bind for `v`, which passed hranaValueProblem (ValueSchema): nothing is checked twice. */
export function hranaToSql(v: HranaValue): SqlValue {
  switch (v.type) {
    case "null":
      return null;
    case "integer":
      try {
        return BigInt(v.value);
      } catch {
        // Only reachable for values that bypassed the schema (direct callers).
        throw new RequestError("ARGS_INVALID", `integer value ${JSON.stringify(v.value)} is not a 64-bit integer`);
      }
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

