/** Values on the wire: blob encoding (standard base64, exact for every length, fast for photos) and the checks of row states. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64ToBytes, bytesToBase64 } from "../../functions/db/values.js";
import { ChangeBatchSchema } from "../../functions/wire/database.js";

describe("base64 for blobs", () => {
  it("matches Node's base64 and round-trips, for every length and byte", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const b64 = bytesToBase64(bytes);
        expect(b64).toBe(Buffer.from(bytes).toString("base64"));
        expect(base64ToBytes(b64)).toEqual(bytes);
      }),
      { seed: 4242, numRuns: 500 },
    );
  });

  it("round-trips an 8 MiB photo", () => {
    const photo = new Uint8Array(8 * 1024 * 1024).map((_, i) => (i * 2654435761) >>> 24);
    const b64 = bytesToBase64(photo);
    expect(b64 === Buffer.from(photo).toString("base64")).toBe(true);
    expect(Buffer.from(base64ToBytes(b64)).equals(photo)).toBe(true);
  });

  it("refuses characters outside the alphabet", () => {
    expect(() => base64ToBytes("ab$d")).toThrow(/invalid base64 character at 2/);
  });
});

describe("row states on the wire", () => {
  const stamp = "0".repeat(32);
  const change = (vals: Record<string, unknown>, clk: Record<string, unknown> = {}) => ({ from: "a".repeat(16), changes: [{ t: "teams", g: "x.1", s: { ins: stamp, clk, del: null, vals } }] });
  const problem = (body: unknown): string => {
    const r = ChangeBatchSchema.safeParse(body);
    return r.success ? "" : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
  };

  it("accepts every value shape", () => {
    expect(problem(change({ a: null, b: "text", c: 12, d: { i: "9223372036854775807" }, e: { f: 2.5 }, f: { f: "-Infinity" }, g: { b: "AAE=" }, h: { r: "x.2", t: "matches" } }, { a: stamp }))).toBe("");
  });

  it("names the column and the problem of a bad value or stamp", () => {
    expect(problem(change({ score: 2.5 }))).toBe("changes.0.s.vals.score: a real must be sent as {f}");
    expect(problem(change({ n: 2 ** 60 }))).toMatch(/vals.n: integer outside the safe range must be sent as \{i\}/);
    expect(problem(change({ n: { i: "12a" } }))).toMatch(/vals.n: integer must be decimal digits/);
    expect(problem(change({ p: { b: "not base64!" } }))).toMatch(/vals.p: blob must be base64/);
    expect(problem(change({ p: { f: "NaN" } }))).toMatch(/vals.p: real must be a finite number/);
    expect(problem(change({ p: [1] }))).toMatch(/vals.p: expected null, text, a safe integer/);
    expect(problem(change({ p: { r: "", t: "teams" } }))).toMatch(/vals.p: a row reference needs r/);
    expect(problem(change({ p: { i: "1", f: 1 } }))).toMatch(/vals.p: expected null/);
    expect(problem(change({}, { name: "yesterday" }))).toBe("changes.0.s.clk.name: stamp must be 32 lowercase hex digits");
  });

  it("names every field of a change that is missing or wrong, and ignores fields it does not know", () => {
    const one = (ch: unknown) => problem({ from: "a".repeat(16), changes: [ch] });
    const good = { t: "teams", g: "x.1", s: { ins: stamp, clk: {}, del: null, vals: {} } };
    expect(one({ ...good, extra: 1, s: { ...good.s, later: true } })).toBe("");
    expect(one({ ...good, t: "" })).toBe("changes.0.t: must be 1 to 1000 characters");
    expect(one({ ...good, g: 5 })).toBe("changes.0.g: expected text");
    expect(one({ ...good, g: "x".repeat(4001) })).toBe("changes.0.g: must be 1 to 4000 characters");
    expect(one({ ...good, s: { ...good.s, ins: "late" } })).toBe("changes.0.s.ins: stamp must be 32 lowercase hex digits");
    expect(one({ ...good, s: { ...good.s, del: 0 } })).toBe("changes.0.s.del: stamp must be 32 lowercase hex digits, or null");
    expect(one({ ...good, s: { ...good.s, del: stamp } })).toBe("");
    expect(one({ ...good, s: { ins: stamp, del: null } })).toBe("changes.0.s.clk: expected an object; changes.0.s.vals: expected an object");
    expect(one({ t: "teams", g: "x.1" })).toBe("changes.0.s: expected an object");
    expect(one([good])).toBe("changes.0: expected an object");
    expect(one(null)).toBe("changes.0: expected an object");
  });

  it("checks columns named like what every object inherits by their own values", () => {
    const parsed = JSON.parse(`{"t": "teams", "g": "x.1", "s": {"ins": "${stamp}", "clk": {"__proto__": "${stamp}"}, "del": null, "vals": {"__proto__": 1, "constructor": "c"}}}`) as unknown;
    expect(problem({ from: "a".repeat(16), changes: [parsed] })).toBe("");
    const bad = JSON.parse(`{"t": "teams", "g": "x.1", "s": {"ins": "${stamp}", "clk": {}, "del": null, "vals": {"__proto__": 2.5}}}`) as unknown;
    expect(problem({ from: "a".repeat(16), changes: [bad] })).toBe("changes.0.s.vals.__proto__: a real must be sent as {f}");
  });
});
