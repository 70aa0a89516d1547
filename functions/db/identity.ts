/**
 * Row identities (gid). Rowid tables: "<origin site>.<origin key>", so two sites' row 42 are
 * different rows; each site maps the identity to a local rowid of its own (lk), preferring the
 * origin key when it is free there, so ids match across sites unless two sites collided.
 * Primary-key tables: the canonical encoding of the key values, the same everywhere.
 */
import { decodeVal, encodeVal, type SqlValue, type Val } from "./values.js";
import type { Arg } from "./port.js";

export function rowGid(site: string, key: bigint | number, suffix?: string): string {
  return suffix ? `${site}.${key}.${suffix}` : `${site}.${key}`;
}

/** The key a rowid identity had on its origin site, to reuse locally when free. */
export function originKey(gid: string): bigint | null {
  const m = /^[0-9a-f]{16}\.(-?\d{1,19})(?:\.|$)/.exec(gid);
  return m ? BigInt(m[1]!) : null;
}

export function pkGid(vals: Val[]): string {
  return JSON.stringify(vals);
}

export function pkGidFromRow(values: SqlValue[]): string {
  return pkGid(values.map((v) => encodeVal(v)));
}

export function pkArgs(gid: string): Arg[] {
  const vals = JSON.parse(gid) as Val[];
  return vals.map(decodeVal);
}
