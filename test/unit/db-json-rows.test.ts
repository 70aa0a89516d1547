/** Rows packed as one JSON text for json_each: what qualifies, and that SQLite unpacks it exactly. */
import Database from "libsql";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { jsonRows, jsonRowsSelect, jsonValue } from "../../functions/db/json-rows.js";
import type { Arg } from "../../functions/db/port.js";

const db = new Database(":memory:");
afterAll(() => db.close());

/** What SQLite makes of a jsonRows() text, with each value's storage class. */
function unpack(json: string, width: number): { v: unknown; type: unknown }[][] {
  const cols = Array.from({ length: width }, (_, i) => `value->>${i}, typeof(value->>${i})`).join(", ");
  const rows = db.prepare(`SELECT ${cols} FROM json_each(?)`).raw(true).safeIntegers(true).all(json) as unknown[][];
  return rows.map((r) => Array.from({ length: width }, (_, i) => ({ v: r[2 * i], type: r[2 * i + 1] })));
}

const typeOf = (v: Arg): string => (v === null ? "null" : typeof v === "bigint" ? "integer" : "text");

describe("rows as one JSON text", () => {
  it("integers (64-bit), text (any well-formed unicode, quotes, escapes) and null come out exactly, with their storage class", () => {
    const text = fc.string({ unit: "grapheme", maxLength: 40 }).filter((s) => !s.includes("\u0000"));
    const value = fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), text, fc.constant(null));
    fc.assert(
      fc.property(fc.array(fc.array(value, { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 20 }), (rows) => {
        const json = jsonRows(rows);
        expect(json).not.toBeNull();
        expect(unpack(json!, 3)).toEqual(rows.map((r) => r.map((v) => ({ v, type: typeOf(v) }))));
      }),
      { seed: 20261202, numRuns: 300 },
    );
    expect(unpack(jsonRows([["say \"hi\"\\\n\t\u0001é😀", 9223372036854775807n, -9223372036854775808n]])!, 3)[0]!.map((c) => c.v)).toEqual([
      "say \"hi\"\\\n\t\u0001é😀",
      9223372036854775807n,
      -9223372036854775808n,
    ]);
  });

  it("refuses what JSON would not carry exactly: reals, blobs, NUL in text, lone surrogates", () => {
    for (const v of [0.1, 2, Number.NaN, new Uint8Array([1, 2]), "a\u0000b", "\ud800x", "x\udc00"] as Arg[]) {
      expect(jsonValue(v, false), String(v)).toBeNull();
      expect(jsonRows([["ok", v]]), String(v)).toBeNull();
    }
  });

  it("numbers count as integers only when the caller says so, and only safe ones", () => {
    expect(jsonRows([[1, 2]], true)).toBe("[[1,2]]");
    expect(jsonValue(2 ** 53, true)).toBeNull();
    expect(jsonValue(1.5, true)).toBeNull();
  });

  it("the select reads every column of every row in order", () => {
    const rows = db.prepare(jsonRowsSelect(2)).raw(true).safeIntegers(true).all(jsonRows([[1n, "a"], [2n, null]])) as unknown[][];
    expect(rows).toEqual([[1n, "a"], [2n, null]]);
  });
});
