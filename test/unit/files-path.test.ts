import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  SyncPath,
  baseName,
  caseFoldKey,
  checkSyncPath,
  joinSyncPath,
  parentDir,
  utf8ByteLength,
} from "../../functions/files/path.js";

// [input, a fragment the reason must contain]
const HOSTILE: [string, string][] = [
  ["", "empty"],
  ["/", "absolute"],
  ["/etc/passwd", "absolute"],
  ["/a/b", "absolute"],
  ["\\x", "absolute"],
  ["\\windows\\system32", "absolute"],
  ["C:", "drive"],
  ["c:\\windows", "drive"],
  ["C:/x", "drive"],
  ["z:relative", "drive"],
  ["\\\\server\\share\\x", "UNC"],
  ["//server/share/x", "UNC"],
  ["\\\\?\\C:\\x", "UNC"],
  ["a\\b", "backslash"],
  ["a/b\\..\\..\\c", "backslash"],
  ["..", "\"..\""],
  ["../x", "\"..\""],
  ["a/../b", "\"..\""],
  ["a/b/..", "\"..\""],
  [".", "\".\""],
  ["./a", "\".\""],
  ["a/./b", "\".\""],
  ["a//b", "empty path segment"],
  ["a/", "trailing slash"],
  ["a/b/", "trailing slash"],
  ["a\u0000b", "U+0000"],
  ["a/b\u0000.txt", "U+0000"],
  ["a\nb", "U+000A"],
  ["a\rb", "U+000D"],
  ["tab\there", "U+0009"],
  ["bell\u0007", "U+0007"],
  ["esc\u001b[31m", "U+001B"],
  ["del\u007f", "U+007F"],
  ["c1\u0085", "U+0085"],
  ["CON", "device"],
  ["con", "device"],
  ["con.txt", "device"],
  ["a/Con.tar.gz", "device"],
  ["PRN", "device"],
  ["aux.json", "device"],
  ["NUL", "device"],
  ["nul.txt", "device"],
  ["COM1", "device"],
  ["com9.log", "device"],
  ["LPT1", "device"],
  ["lpt9.txt", "device"],
  ["COM¹", "device"],
  ["con .txt", "device"],
  ["a/conout$          .log", "device"],
  ["CONIN$", "device"],
  ["dir/x.", "dot"],
  ["dir./x", "dot"],
  ["x...", "dot"],
  ["x ", "space"],
  ["dir /x", "space"],
  ["ab:c", "\":\""],
  ["file.txt:stream", "\":\""],
  ["what?.txt", "\"?\""],
  ["star*.txt", "\"*\""],
  ["a<b", "\"<\""],
  ["a>b", "\">\""],
  ["a|b", "\"|\""],
  ['a"b', '"\\""'],
  ["x".repeat(256), "255"],
  ["é".repeat(128), "255"],
  [("a".repeat(200) + "/").repeat(21) + "a", "4096"],
  ["x".repeat(20000), "4096"],
  ["a\ud800b", "surrogate"],
  ["\udc00", "surrogate"],
  ["a/\ud83d", "surrogate"],
  ["\ude00\ud83d", "surrogate"],
];

const GOOD: [string, string][] = [
  ["a", "a"],
  ["a/b.json", "a/b.json"],
  ["match data/team 254.json", "match data/team 254.json"],
  ["archive.tar.gz", "archive.tar.gz"],
  [".syncignore", ".syncignore"],
  [".hidden/.also", ".hidden/.also"],
  ["...x", "...x"],
  ["a..b", "a..b"],
  [" leading space", " leading space"],
  ["ünïcödé/日本語/файл.txt", "ünïcödé/日本語/файл.txt"],
  ["emoji 🤖.png", "emoji 🤖.png"],
  ["e\u0301te\u0301.txt", "été.txt"], // NFD in, NFC out
  ["console.txt", "console.txt"],
  ["com10", "com10"],
  ["lpt0.txt", "lpt0.txt"],
  ["auxiliary/nullable", "auxiliary/nullable"],
  ["x".repeat(255), "x".repeat(255)],
  ["é".repeat(127), "é".repeat(127)],
  [Array.from({ length: 60 }, (_, i) => `d${i}`).join("/") + "/f", Array.from({ length: 60 }, (_, i) => `d${i}`).join("/") + "/f"],
  ["#notes#x", "#notes#x"],
  ["[brackets]/!bang/@at/%pct/&amp;/+plus,comma;semi=eq", "[brackets]/!bang/@at/%pct/&amp;/+plus,comma;semi=eq"],
];

describe("checkSyncPath", () => {
  it("has at least 40 hostile cases", () => expect(HOSTILE.length).toBeGreaterThanOrEqual(40));

  const label = (s: string): string => JSON.stringify(s).slice(0, 40);

  it.each(HOSTILE.map(([p, f]) => [label(p), p, f] as const))("refuses %s", (_, input, fragment) => {
    const r = checkSyncPath(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(fragment);
  });

  it.each(GOOD.map(([p, c]) => [label(p), p, c] as const))("accepts %s", (_, input, canonical) => {
    expect(checkSyncPath(input)).toEqual({ ok: true, path: canonical });
  });

  it("refuses every C0 control character and DEL", () => {
    for (let c = 0; c <= 0x1f; c++) expect(checkSyncPath(`a${String.fromCharCode(c)}b`).ok).toBe(false);
    expect(checkSyncPath("a\u007fb").ok).toBe(false);
  });

  it("refuses a path that is over 4096 bytes only once encoded", () => {
    const seg = "日".repeat(80); // 240 bytes
    const p = Array.from({ length: 17 }, () => seg).join("/"); // 17*240+16 = 4096
    expect(checkSyncPath(p).ok).toBe(true);
    expect(checkSyncPath(p + "x").ok).toBe(false);
  });

  it("is idempotent, and accepted paths hold no .., . or control characters", () => {
    const unit = fc.oneof(
      fc.constantFrom("a", "B", ".", "..", "/", "\\", " ", ":", "\u0000", "\n", "é", "e\u0301", "con", "日", "🤖", "\ud800"),
      fc.string({ unit: "binary", maxLength: 3 }),
    );
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 12 }).map((xs) => xs.join("")), (p) => {
        const r = checkSyncPath(p);
        if (!r.ok) return;
        expect(checkSyncPath(r.path)).toEqual(r);
        expect(r.path.normalize("NFC")).toBe(r.path);
        const segs = r.path.split("/");
        expect(segs.every((s) => s !== ".." && s !== "." && s !== "")).toBe(true);
        expect(/[\u0000-\u001f\u007f\\]/.test(r.path)).toBe(false);
        expect(utf8ByteLength(r.path)).toBeLessThanOrEqual(4096);
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws on arbitrary UTF-16", () => {
    const raw = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });
    fc.assert(
      fc.property(raw, (p) => {
        const r = checkSyncPath(p);
        if (r.ok) expect(() => encodeURIComponent(r.path)).not.toThrow();
      }),
    );
  });
});

describe("helpers", () => {
  it("utf8ByteLength matches TextEncoder", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(utf8ByteLength(s)).toBe(new TextEncoder().encode(s).length);
      }),
    );
  });

  it("caseFoldKey folds case and normalisation", () => {
    expect(caseFoldKey("Notes/README.txt")).toBe(caseFoldKey("notes/readme.TXT"));
    expect(caseFoldKey("E\u0301TE\u0301")).toBe(caseFoldKey("été"));
    expect(caseFoldKey("a/b")).not.toBe(caseFoldKey("a/c"));
  });

  it("parentDir / baseName / joinSyncPath", () => {
    expect(parentDir("a/b/c.txt")).toBe("a/b");
    expect(parentDir("c.txt")).toBe("");
    expect(baseName("a/b/c.txt")).toBe("c.txt");
    expect(baseName("c.txt")).toBe("c.txt");
    expect(joinSyncPath("", "c.txt")).toBe("c.txt");
    expect(joinSyncPath("a/b", "c.txt")).toBe("a/b/c.txt");
    expect(() => joinSyncPath("a", "..")).toThrow(RangeError);
  });
});

describe("SyncPath schema", () => {
  it("outputs the canonical path", () => {
    expect(SyncPath.parse("e\u0301.txt")).toBe("é.txt");
  });
  it("fails with the reason", () => {
    const r = SyncPath.safeParse("../etc/passwd");
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toContain("..");
    expect(SyncPath.safeParse(42).success).toBe(false);
  });
});
