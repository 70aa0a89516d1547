/** Rows packed as one JSON text for json_each: what qualifies, and that SQLite unpacks it exactly. */
import Database from "libsql";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { insertRowsStmts, jsonRow, jsonRowsSelect, jsonValue } from "../../functions/db/json-rows.js";
import type { Arg } from "../../functions/db/port.js";

const db = new Database(":memory:");
afterAll(() => db.close());

/** The rows as one JSON text and the columns holding reals, or null if a row does not qualify. */
function jsonRows(rows: Arg[][]): { json: string; reals: Set<number> } | null {
  const reals = new Set<number>();
  const out: string[] = [];
  for (const r of rows) {
    const j = jsonRow(r, reals);
    if (j === null) return null;
    out.push(j);
  }
  return { json: `[${out.join(",")}]`, reals };
}

/** What SQLite makes of the rows through jsonRowsSelect, with each value's storage class. */
function unpack(packed: { json: string; reals: Set<number> }, width: number): { v: unknown; type: unknown }[][] {
  const cols = Array.from({ length: width }, (_, i) => `c${i}, typeof(c${i})`).join(", ");
  const names = Array.from({ length: width }, (_, i) => `c${i}`).join(", ");
  const sql = `WITH t(${names}) AS (${jsonRowsSelect(width, packed.reals)}) SELECT ${cols} FROM t`;
  const rows = db.prepare(sql).raw(true).safeIntegers(true).all(packed.json) as unknown[][];
  return rows.map((r) => Array.from({ length: width }, (_, i) => ({ v: r[2 * i], type: r[2 * i + 1] })));
}

const typeOf = (v: Arg): string => (v === null ? "null" : typeof v === "bigint" ? "integer" : typeof v === "number" ? "real" : "text");

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

  it("reals come out bit for bit, as reals, whenever they qualify; everyday reals always qualify", () => {
    const check = (x: number): boolean => {
      const packed = jsonRows([[x, 1n]]);
      if (packed === null) return false;
      const [cell] = unpack(packed, 2)[0]!;
      expect(cell!.type, String(x)).toBe("real");
      expect(Object.is(cell!.v, x) || (x === 0 && cell!.v === 0), `${x} came back as ${String(cell!.v)}`).toBe(true);
      return true;
    };
    fc.assert(fc.property(fc.double({ noNaN: true }), (x) => void check(x)), { seed: 7, numRuns: 3000 });
    fc.assert(
      fc.property(fc.integer({ min: -(10 ** 9), max: 10 ** 9 }), fc.integer({ min: 0, max: 3 }), (n, places) => {
        expect(check(n / 10 ** places), `${n / 10 ** places}`).toBe(true);
      }),
      { seed: 8, numRuns: 2000 },
    );
    for (const x of [0, 3, 0.1, 1e-3, 2.5, -7.25, 1e18, 2 ** 62, -(2 ** 62)]) expect(check(x), String(x)).toBe(true);
    // Below 2^-62 a real needs more binary places than an int64 divisor has; -0 would lose its sign.
    for (const x of [1e-30, 5e-324, 2 ** 63, -0, Number.POSITIVE_INFINITY]) expect(jsonValue(x, false), String(x)).toBeNull();
  });

  it("refuses what JSON would not carry exactly: blobs, NUL in text, lone surrogates", () => {
    for (const v of [new Uint8Array([1, 2]), "a\u0000b", "\ud800x", "x\udc00", Number.NaN] as Arg[]) {
      expect(jsonValue(v, false), String(v)).toBeNull();
      expect(jsonRows([["ok", v]]), String(v)).toBeNull();
    }
  });

  it("numbers are integers instead when the caller says so (scoutsync's own columns), and only safe ones", () => {
    expect(jsonRow([1, 2], new Set(), true)).toBe("[1,2]");
    expect(jsonValue(2 ** 53, true)).toBeNull();
    expect(jsonValue(1.5, true)).toBeNull();
  });

  it("an insert of many rows takes an ON CONFLICT clause, in its JSON form and in its VALUES form alike", () => {
    db.exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v, n INTEGER)");
    db.exec("INSERT INTO kv VALUES ('a', 'old', 1), ('b', 'old', 1)");
    const rows: Arg[][] = [["a", "new", 2n], ["b", new Uint8Array([1, 2]), 2n], ["c", "new", 2n]];
    const stmts = insertRowsStmts("INSERT INTO kv (k, v, n)", 3, rows, false, "ON CONFLICT (k) DO UPDATE SET v = excluded.v, n = excluded.n");
    expect(stmts.map((s) => s.sql.includes("json_each"))).toEqual([true, false]);
    for (const s of stmts) db.prepare(s.sql).run(...s.args);
    expect(db.prepare("SELECT k, v, n FROM kv ORDER BY k").raw(true).safeIntegers(true).all()).toEqual([
      ["a", "new", 2n],
      ["b", Buffer.from([1, 2]), 2n],
      ["c", "new", 2n],
    ]);
  });
});
