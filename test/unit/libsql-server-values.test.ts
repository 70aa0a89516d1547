import Database from "libsql";
import { describe, expect, it } from "vitest";
import { RequestError } from "../../local-agent/libsql-server/errors.js";
import {
  encodeJson,
  encodePipelineResponse,
  PipelineReqBodySchema,
  type PipelineRespBody,
  type StmtResult,
} from "../../local-agent/libsql-server/protocol.js";
import { hranaToSql, isInt64Text, sqlToHrana, type HranaValue } from "../../local-agent/libsql-server/values.js";

/** Binds a Hrana value into SQLite and reads it back, as the server does. */
function roundTrip(v: HranaValue): { value: HranaValue; type: string } {
  const db = new Database(":memory:");
  try {
    const row = db.prepare("SELECT ?, typeof(?1)").raw(true).safeIntegers(true).all([hranaToSql(v)])[0] as unknown[];
    return { value: sqlToHrana(row[0]), type: String(row[1]) };
  } finally {
    db.close();
  }
}

describe("Hrana values", () => {
  it.each<[HranaValue, string]>([
    [{ type: "null" }, "null"],
    [{ type: "integer", value: "0" }, "integer"],
    [{ type: "integer", value: "9007199254740993" }, "integer"],
    [{ type: "integer", value: "9223372036854775807" }, "integer"],
    [{ type: "integer", value: "-9223372036854775808" }, "integer"],
    [{ type: "float", value: 2 }, "real"],
    [{ type: "float", value: -0.5 }, "real"],
    [{ type: "float", value: 1.7976931348623157e308 }, "real"],
    [{ type: "text", value: "" }, "text"],
    [{ type: "text", value: "naïve 日本語 🐢" }, "text"],
    [{ type: "blob", base64: "" }, "blob"],
    [{ type: "blob", base64: Buffer.from([0, 1, 2, 255]).toString("base64") }, "blob"],
  ])("round-trips %j through SQLite as %s", (v, type) => {
    expect(roundTrip(v)).toEqual({ value: v, type });
  });

  it("accepts integer strings only within 64 bits", () => {
    expect(isInt64Text("9223372036854775807")).toBe(true);
    expect(isInt64Text("9223372036854775808")).toBe(false);
    expect(isInt64Text("-9223372036854775809")).toBe(false);
    expect(isInt64Text("1.5")).toBe(false);
    expect(isInt64Text("1e3")).toBe(false);
    expect(() => hranaToSql({ type: "integer", value: "12x" })).toThrow(RequestError);
  });

  it("checks integer texts exactly as a BigInt range check would", () => {
    const byBigInt = (t: string): boolean =>
      /^[+-]?[0-9]+$/.test(t) && t.length <= 21 && BigInt(t) >= -(2n ** 63n) && BigInt(t) <= 2n ** 63n - 1n;
    const texts = ["0", "-0", "+7", "", "+", "-", " 1", "1 ", "0x10", "１", "007", "-9223372036854775808", "-09223372036854775808",
      "9223372036854775806", "9223372036854775807", "+9223372036854775807", "9223372036854775808", "-9223372036854775809",
      "9999999999999999999", "10000000000000000000", "000000000000000000001", "0000000000000000000001", "00009223372036854775807"];
    for (let i = 0; i < 300; i++) {
      const digits = Array.from({ length: 1 + (i % 22) }, (_, k) => String((i * 7 + k * 13) % 10)).join("");
      texts.push(digits, `-${digits}`);
    }
    for (const t of texts) expect([t, isInt64Text(t)]).toEqual([t, byBigInt(t)]);
  });

  it("encodes ±Infinity so that JSON.parse gives it back", () => {
    const body = { rows: [[{ type: "float", value: Infinity }, { type: "float", value: -Infinity }, { type: "text", value: '"type":"float","value":null' }]] };
    const text = encodeJson(body);
    expect(JSON.parse(text)).toEqual(body);
    expect(encodeJson({ a: 1 })).toBe('{"a":1}');
  });
});

describe("pipeline request schema", () => {
  it("accepts what @libsql/client sends", () => {
    const body = {
      requests: [
        { type: "store_sql", sql_id: 1, sql: "SELECT ?" },
        {
          type: "batch",
          batch: {
            steps: [
              { stmt: { sql: "BEGIN", args: [], named_args: [], want_rows: false } },
              { condition: { type: "ok", step: 0 }, stmt: { sql_id: 1, args: [{ type: "integer", value: "1" }], named_args: [], want_rows: true } },
              { condition: { type: "not", cond: { type: "and", conds: [{ type: "ok", step: 1 }, { type: "is_autocommit" }] } }, stmt: { sql: "ROLLBACK" } },
            ],
          },
        },
        { type: "close" },
      ],
      unknown_field: "ignored",
    };
    expect(PipelineReqBodySchema.safeParse(body).success).toBe(true);
  });

  it.each([
    [{ requests: [{ type: "bogus" }] }, "requests[0].type"],
    [{ requests: [{ type: "execute", stmt: { sql: "x", sql_id: 1 } }] }, "requests[0].stmt"],
    [{ requests: [{ type: "execute", stmt: { sql: "x", args: [{ type: "integer", value: 5 }] } }] }, "requests[0].stmt.args[0].value"],
    [{ requests: [{ type: "execute", stmt: { sql: "x", args: [{ type: "blob", base64: "%%" }] } }] }, "requests[0].stmt.args[0].base64"],
    [{ requests: [{ type: "execute", stmt: { sql: "x", args: [{ type: "date", value: "today" }] } }] }, "requests[0].stmt.args[0].type"],
    [{ requests: [{ type: "execute", stmt: { sql: "x", args: ["plain"] } }] }, "requests[0].stmt.args[0]"],
    [{ requests: [{ type: "execute", stmt: { sql: "x", named_args: [{ name: "a", value: { type: "text", value: 1 } }] } }] }, "requests[0].stmt.named_args[0].value.value"],
    [{ baton: 3, requests: [] }, "baton"],
    [{ requests: [{ type: "batch", batch: { steps: [{ condition: { type: "not", cond: { type: "nope" } }, stmt: { sql: "x" } }] } }] }, "requests[0].batch.steps[0].condition"],
  ])("refuses %j", (body, path) => {
    const parsed = PipelineReqBodySchema.safeParse(body);
    expect(parsed.success).toBe(false);
    if (!parsed.success) expect(parsed.error.issues[0]?.path.join(".")).toBe(path.replace(/\[(\d+)\]/g, ".$1"));
  });
});

describe("pipeline response encoding", () => {
  const cells: unknown[] = [
    null,
    0n,
    -(2n ** 63n),
    2n ** 63n - 1n,
    1.5,
    -0,
    2,
    1e300,
    5e-324,
    Infinity,
    -Infinity,
    "",
    "plain",
    'quote " backslash \\ newline \n tab \t nul \u0000',
    "naïve 日本語 🐢",
    "lone \ud800 surrogate",
    '"type":"float","value":null',
    Buffer.from([]),
    Buffer.from([0, 1, 2, 255]),
    new Uint8Array([9, 8, 7]).subarray(1),
  ];

  it("writes the JSON that JSON.stringify gives for the same body with Hrana values", () => {
    const stmt = (rows: unknown[][]): StmtResult => ({
      cols: [{ name: "a", decltype: "INTEGER" }, { name: null, decltype: null }],
      rows,
      affected_row_count: 1,
      last_insert_rowid: "9223372036854775807",
      rows_read: rows.length,
      rows_written: 1,
      query_duration_ms: 0.123,
    });
    const body: PipelineRespBody = {
      baton: "b",
      base_url: null,
      results: [
        { type: "ok", response: { type: "execute", result: stmt([cells, cells.slice(3)]) } },
        { type: "ok", response: { type: "batch", result: { step_results: [stmt([]), null, stmt([[1n]])], step_errors: [null, { message: "no", code: "X" }, null] } } },
        { type: "error", error: { message: "boom \"quoted\"", code: "SQLITE_ERROR" } },
        { type: "ok", response: { type: "get_autocommit", is_autocommit: true } },
        { type: "ok", response: { type: "close" } },
      ],
    };
    const asHrana = (s: StmtResult): unknown => ({ ...s, rows: s.rows.map((row) => row.map(sqlToHrana)) });
    const expected = encodeJson({
      ...body,
      results: body.results.map((r) => {
        if (r.type !== "ok") return r;
        if (r.response.type === "execute") return { ...r, response: { ...r.response, result: asHrana(r.response.result) } };
        if (r.response.type === "batch") {
          const { step_results, step_errors } = r.response.result;
          return { ...r, response: { ...r.response, result: { step_results: step_results.map((s) => (s === null ? null : asHrana(s))), step_errors } } };
        }
        return r;
      }),
    });
    const bytes = encodePipelineResponse(body);
    expect(bytes.toString("utf8")).toBe(expected);
    expect(bytes.length).toBe(Buffer.byteLength(expected));
  });

  it("grows its buffer for bodies larger than the first allocation", () => {
    const rows = Array.from({ length: 3_000 }, (_, i) => [BigInt(i), `row ${i} 🐢`, i / 3]);
    const result: StmtResult = { cols: [], rows, affected_row_count: 0, last_insert_rowid: null, rows_read: 3_000, rows_written: 0, query_duration_ms: 1 };
    const bytes = encodePipelineResponse({ baton: null, base_url: null, results: [{ type: "ok", response: { type: "execute", result } }] });
    const json = JSON.parse(bytes.toString("utf8")) as { results: { response: { result: { rows: unknown[][] } } }[] };
    expect(json.results[0]?.response.result.rows[2999]).toEqual([{ type: "integer", value: "2999" }, { type: "text", value: "row 2999 🐢" }, { type: "float", value: 2999 / 3 }]);
  });
});
