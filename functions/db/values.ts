/**
 * SQLite values on the wire and in scoutsync's JSON columns.
 * JSON cannot tell 2 from 2.0, holds no bytes and loses integers past 2^53, so:
 *   null -> null, text -> "string", safe integer -> number, other integer -> {i:"decimal"},
 *   real -> {f:number}, blob -> {b:"base64"}.
 * The form is canonical: one SQLite value has exactly one encoding, so encodings compare as strings.
 */

/**
 * `{r, t}` is a reference to the row with identity r in table t: a foreign key into a rowid
 * table, whose local value differs from site to site.
 */
export type Val = null | string | number | { i: string } | { f: number | "Infinity" | "-Infinity" } | { b: string } | { r: string; t: string };

const INT_TEXT = /^-?\d{1,19}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const SHAPES = "expected null, text, a safe integer, {i}, {f}, {b} or {r, t}";

/**
 * Why `v` is not a Val, or null if it is. Checked by hand because values are most of every
 * page: a zod union tries each of the seven shapes in turn and builds an issue for every miss.
 */
export function valProblem(v: unknown): string | null {
  if (v === null || typeof v === "string") return null;
  if (typeof v === "number") return Number.isSafeInteger(v) ? null : Number.isInteger(v) ? "integer outside the safe range must be sent as {i}" : "a real must be sent as {f}";
  if (typeof v !== "object" || Array.isArray(v)) return SHAPES;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    switch (keys[0]) {
      case "i":
        return typeof o.i === "string" && INT_TEXT.test(o.i) ? null : "integer must be decimal digits";
      case "f":
        // JSON has no infinities; SQLite's REAL does.
        return (typeof o.f === "number" && Number.isFinite(o.f)) || o.f === "Infinity" || o.f === "-Infinity" ? null : "real must be a finite number, \"Infinity\" or \"-Infinity\"";
      case "b":
        return typeof o.b === "string" && BASE64.test(o.b) ? null : "blob must be base64";
    }
  }
  if (keys.length === 2 && "r" in o && "t" in o) {
    return typeof o.r === "string" && o.r.length >= 1 && o.r.length <= 200 && typeof o.t === "string" && o.t.length >= 1 ? null : "a row reference needs r (1 to 200 characters) and t (a table name)";
  }
  return SHAPES;
}

/** A value as the libSQL client hands it over (intMode "bigint") or takes it as an argument. */
export type SqlValue = null | string | number | bigint | ArrayBuffer | Uint8Array;

const MIN_I64 = -(2n ** 63n);
const MAX_I64 = 2n ** 63n - 1n;

export function encodeVal(v: SqlValue | boolean | undefined): Val {
  if (v === null || v === undefined) return null;
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "bigint") {
    if (v < MIN_I64 || v > MAX_I64) throw new RangeError(`integer out of 64-bit range: ${v}`);
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : { i: v.toString() };
  }
  // With intMode "bigint" every JS number from the client is a SQLite REAL.
  if (typeof v === "number") return realVal(v);
  const bytes = v instanceof Uint8Array ? v : new Uint8Array(v);
  return { b: bytesToBase64(bytes) };
}

function realVal(n: number): Val {
  if (Number.isFinite(n)) return { f: n };
  return { f: n > 0 ? "Infinity" : "-Infinity" };
}

/** Turns a Val into a client argument: integers become bigint so the client sends them as INTEGER. */
export function decodeVal(v: Val): null | string | number | bigint | Uint8Array {
  if (v === null || typeof v === "string") return v;
  if (typeof v === "number") return BigInt(v);
  if ("i" in v) return BigInt(v.i);
  if ("f" in v) return typeof v.f === "number" ? v.f : v.f === "Infinity" ? Infinity : -Infinity;
  if ("r" in v) throw new Error(`row reference ${v.r} must be translated to a local key before it is written`);
  return base64ToBytes(v.b);
}

/** Canonical text of a value, for equality and deterministic tie-breaks. */
export function valKey(v: Val): string {
  return JSON.stringify(v);
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_CODES = Uint8Array.from(B64, (c) => c.charCodeAt(0));
const B64_VALUES = new Uint8Array(128).fill(255);
B64_CODES.forEach((code, i) => (B64_VALUES[code] = i));
const ASCII = new TextDecoder("latin1");

/** Standard base64 with padding, in linear time (photos are megabytes; btoa wants a binary string first). */
export function bytesToBase64(bytes: Uint8Array): string {
  const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
  let o = 0;
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = B64_CODES[n >> 18]!;
    out[o++] = B64_CODES[(n >> 12) & 63]!;
    out[o++] = B64_CODES[(n >> 6) & 63]!;
    out[o++] = B64_CODES[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest > 0) {
    const n = (bytes[i]! << 16) | (rest === 2 ? bytes[i + 1]! << 8 : 0);
    out[o++] = B64_CODES[n >> 18]!;
    out[o++] = B64_CODES[(n >> 12) & 63]!;
    out[o++] = rest === 2 ? B64_CODES[(n >> 6) & 63]! : 61;
    out[o++] = 61;
  }
  return ASCII.decode(out);
}

/** The inverse of bytesToBase64; the wire schema has already checked the alphabet and padding. */
export function base64ToBytes(b64: string): Uint8Array {
  let end = b64.length;
  while (end > 0 && b64.charCodeAt(end - 1) === 61) end--;
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < end; i++) {
    const v = B64_VALUES[b64.charCodeAt(i) & 127]!;
    if (v === 255) throw new Error(`invalid base64 character at ${i}`);
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 255;
    }
  }
  return out;
}

/**
 * Decodes the typed list that capture triggers build in SQL (see sql/triggers.ts `typedList`):
 * a JSON array of [type, text] pairs, where text is SQLite's exact rendering of the value.
 */
export function decodeTypedList(json: string): Val[] {
  const arr: unknown = JSON.parse(json);
  if (!Array.isArray(arr)) throw new Error(`malformed typed value list: ${json.slice(0, 80)}`);
  return arr.map((pair: unknown, i) => {
    if (!Array.isArray(pair) || pair.length !== 2) throw new Error(`malformed typed value at ${i}`);
    const [type, text] = pair as [unknown, unknown];
    if (type === "null") return null;
    if (typeof text !== "string") throw new Error(`malformed typed value at ${i}: ${JSON.stringify(pair)}`);
    switch (type) {
      case "text":
        return text;
      case "integer":
        return encodeVal(BigInt(text));
      case "real":
        return realVal(/inf/i.test(text) ? (text.startsWith("-") ? -Infinity : Infinity) : Number(text));
      case "blob":
        return { b: bytesToBase64(hexToBytes(text)) };
      default:
        throw new Error(`unknown SQLite type ${JSON.stringify(type)} at ${i}`);
    }
  });
}

/** Nibble values of hex digits, either case (SQLite's hex() writes upper case). */
const NIBBLE = new Uint8Array(128);
for (let i = 0; i < 16; i++) {
  NIBBLE["0123456789ABCDEF".charCodeAt(i)] = i;
  NIBBLE["0123456789abcdef".charCodeAt(i)] = i;
}

/** Bytes of SQLite's hex() text; by table lookup, as a page of photos is megabytes of it. */
export function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = (NIBBLE[hex.charCodeAt(2 * i)]! << 4) | NIBBLE[hex.charCodeAt(2 * i + 1)]!;
  return out;
}
