import Database from "libsql";
import { describe, expect, it } from "vitest";
import { RequestError } from "../../local-agent/libsql-server/errors.js";
import { encodeJson, PipelineReqBodySchema } from "../../local-agent/libsql-server/protocol.js";
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
    [{ baton: 3, requests: [] }, "baton"],
    [{ requests: [{ type: "batch", batch: { steps: [{ condition: { type: "not", cond: { type: "nope" } }, stmt: { sql: "x" } }] } }] }, "requests[0].batch.steps[0].condition"],
  ])("refuses %j", (body, path) => {
    const parsed = PipelineReqBodySchema.safeParse(body);
    expect(parsed.success).toBe(false);
    if (!parsed.success) expect(parsed.error.issues[0]?.path.join(".")).toBe(path.replace(/\[(\d+)\]/g, ".$1"));
  });
});
