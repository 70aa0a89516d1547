import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { conflictName, isConflictCopy, parseConflictName } from "../../functions/files/conflict.js";
import { checkSyncPath, utf8ByteLength } from "../../functions/files/path.js";
import { createIgnoreMatcher } from "../../functions/files/ignore.js";

// 2024-03-09T07:05:04.321Z
const WHEN = Date.UTC(2024, 2, 9, 7, 5, 4, 321);
const STAMP = "20240309-070504";

describe("conflictName", () => {
  it.each([
    ["notes.txt", `notes.sync-conflict-${STAMP}-ABC1234.txt`],
    ["archive.tar.gz", `archive.tar.sync-conflict-${STAMP}-ABC1234.gz`],
    ["a.b.c.json", `a.b.c.sync-conflict-${STAMP}-ABC1234.json`],
    ["Makefile", `Makefile.sync-conflict-${STAMP}-ABC1234`],
    [".syncignore", `.syncignore.sync-conflict-${STAMP}-ABC1234`],
    [".eslintrc.json", `.eslintrc.sync-conflict-${STAMP}-ABC1234.json`],
    ["matches/q12/team 254.json", `matches/q12/team 254.sync-conflict-${STAMP}-ABC1234.json`],
    ["dir.with.dots/file", `dir.with.dots/file.sync-conflict-${STAMP}-ABC1234`],
    ["données/équipe.csv", `données/équipe.sync-conflict-${STAMP}-ABC1234.csv`],
    ["日本語/メモ.md", `日本語/メモ.sync-conflict-${STAMP}-ABC1234.md`],
  ])("%s", (path, expected) => {
    expect(conflictName(path, WHEN, "ABC1234")).toBe(expected);
  });

  it("uses UTC and pads every field", () => {
    expect(conflictName("a.txt", 0, "s")).toBe("a.sync-conflict-19700101-000000-s.txt");
    expect(conflictName("a.txt", Date.UTC(2031, 11, 31, 23, 59, 59, 999), "s"))
      .toBe("a.sync-conflict-20311231-235959-s.txt");
  });

  it("normalises the input path", () => {
    expect(conflictName("e\u0301.txt", WHEN, "s")).toBe(`é.sync-conflict-${STAMP}-s.txt`);
  });

  it("shortens a long stem so the copy is still a valid path", () => {
    const long = "é".repeat(125) + ".json"; // 255 bytes, the limit
    expect(checkSyncPath(long).ok).toBe(true);
    const c = conflictName(long, WHEN, "site01");
    expect(checkSyncPath(c).ok).toBe(true);
    expect(utf8ByteLength(c)).toBeLessThanOrEqual(255);
    expect(c.endsWith(`.sync-conflict-${STAMP}-site01.json`)).toBe(true);
    expect(isConflictCopy(c)).toBe(true);
  });

  it("keeps the total path within 4096 bytes", () => {
    const dir = Array.from({ length: 16 }, () => "d".repeat(250)).join("/"); // 4015 bytes
    const c = conflictName(`${dir}/${"f".repeat(70)}.txt`, WHEN, "s");
    expect(checkSyncPath(c).ok).toBe(true);
    expect(c.startsWith(`${dir}/f`)).toBe(true);
  });

  it("folds an extension too long to keep into the shortened name", () => {
    const c = conflictName(`a.${"x".repeat(250)}`, WHEN, "s");
    expect(checkSyncPath(c).ok).toBe(true);
    expect(c.startsWith("a.xxx")).toBe(true);
    expect(c.endsWith(`.sync-conflict-${STAMP}-s`)).toBe(true);
  });

  it("throws when no copy can fit beside the file", () => {
    const dir = [...Array.from({ length: 16 }, () => "d".repeat(250)), "e".repeat(60)].join("/");
    const p = `${dir}/${"f".repeat(4095 - utf8ByteLength(dir) - 1)}`;
    expect(utf8ByteLength(p)).toBe(4095);
    expect(() => conflictName(p, WHEN, "s")).toThrow(/too long/);
  });

  it("refuses bad input", () => {
    expect(() => conflictName("../x", WHEN, "s")).toThrow(RangeError);
    expect(() => conflictName("x", Number.NaN, "s")).toThrow(RangeError);
    expect(() => conflictName("x", -1, "s")).toThrow(RangeError);
    expect(() => conflictName("x", WHEN, "")).toThrow(RangeError);
    expect(() => conflictName("x", WHEN, "a.b")).toThrow(RangeError);
    expect(() => conflictName("x", WHEN, "a/b")).toThrow(RangeError);
  });

  it("of a database file is still ignored", () => {
    expect(createIgnoreMatcher(null).ignores(conflictName("app.db", WHEN, "s"))).toBe(true);
  });
});

describe("isConflictCopy / parseConflictName", () => {
  it("recognises copies and reads them back", () => {
    const c = conflictName("a/archive.tar.gz", WHEN, "ABC1234");
    expect(isConflictCopy(c)).toBe(true);
    expect(parseConflictName(c)).toEqual({
      original: "a/archive.tar.gz",
      whenMs: Date.UTC(2024, 2, 9, 7, 5, 4),
      site: "ABC1234",
    });
    expect(parseConflictName(`.syncignore.sync-conflict-${STAMP}-x`)?.original).toBe(".syncignore");
  });

  it("reads the outer layer of a conflict copy of a conflict copy", () => {
    const once = conflictName("n.txt", WHEN, "A");
    const twice = conflictName(once, WHEN + 1000, "B");
    expect(parseConflictName(twice)).toMatchObject({ original: once, site: "B" });
  });

  it("rejects look-alikes", () => {
    for (const p of [
      "notes.txt",
      "a.sync-conflict-2024030-070504-x.txt",
      "a.sync-conflict-20241309-070504-x.txt", // month 13
      "a.sync-conflict-20240309-250504-x.txt", // hour 25
      "a.sync-conflict-20240309-070504-.txt",
      ".sync-conflict-20240309-070504-x.txt",
      "a.sync-conflict-20240309-070504-x.txt/inside",
    ]) {
      expect(isConflictCopy(p), p).toBe(false);
    }
  });

  it("round-trips any valid path", () => {
    const seg = fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(fc.array(seg, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 4e12 }), (segs, ms) => {
        const r = checkSyncPath(segs.join("/"));
        if (!r.ok) return;
        const c = conflictName(r.path, ms, "site9");
        expect(checkSyncPath(c)).toEqual({ ok: true, path: c });
        const info = parseConflictName(c);
        expect(info?.original).toBe(r.path);
        expect(info?.site).toBe("site9");
        expect(info?.whenMs).toBe(ms - (ms % 1000));
      }),
      { numRuns: 500 },
    );
  });
});
