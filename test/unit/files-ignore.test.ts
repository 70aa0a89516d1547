import { describe, expect, it } from "vitest";
import {
  BUILTIN_PATTERNS,
  createIgnoreMatcher,
  isTempName,
  tempNameFor,
} from "../../functions/files/ignore.js";
import { checkSyncPath } from "../../functions/files/path.js";

const none = createIgnoreMatcher(null);

describe("built-in exclusions", () => {
  const ignored = [
    "app.db", "app.db-wal", "app.db-shm", "app.db-journal", "app-journal", "x.sqlite",
    "x.sqlite3", "x.sqlite-wal", "x.sqlite-shm", "x.sqlite3-journal", "x.sqlite3-wal", "x.sqlitedb",
    "server.log", "a.swp", ".a.txt.swp", "a.swo", "notes.txt~", ".#notes.txt", "#notes.txt#",
    ".DS_Store", "Thumbs.db", "desktop.ini", "~$report.docx", ".~lock.sheet.ods#", "._photo.jpg",
    ".scoutsync-tmp-abc123", ".scoutsync", ".scoutsync/state.json",
  ];
  it.each(ignored)("ignores %s at the root and nested", (p) => {
    expect(none.ignores(p)).toBe(true);
    expect(none.reason(p)).toMatch(/^built-in: /);
    if (!p.startsWith(".scoutsync/") && p !== ".scoutsync") {
      expect(none.ignores(`deep/er/${p}`)).toBe(true);
    }
  });

  it("matches case-insensitively", () => {
    for (const p of ["APP.DB", "Data.SQLite", "x.LOG", ".ds_store", "THUMBS.DB", "Desktop.INI"]) {
      expect(none.ignores(p)).toBe(true);
    }
  });

  it("excludes everything inside a matching directory", () => {
    expect(none.ignores("logs.log/today.txt")).toBe(true);
    expect(none.ignores("a/.scoutsync-tmp-x/y")).toBe(true);
  });

  it(".scoutsync is special only at the root", () => {
    expect(none.ignores("sub/.scoutsync/state.json")).toBe(false);
  });

  it("lets ordinary files through", () => {
    for (const p of [
      "team254.json", "matches/q12.csv", "db/notes.txt", "database.json", "x.dbx", "journal.txt",
      "journal", "log.txt", "logs/today.txt", "my.sqlit", "a~b", "#x", "x#", "scoutsync-tmp-x",
      "config.ini", "photo.jpg",
    ]) {
      expect(none.ignores(p), p).toBe(false);
      expect(none.reason(p), p).toBeNull();
    }
  });

  it("lists every documented pattern", () => {
    for (const g of ["*.db", "*.db-wal", "*.db-shm", "*.db-journal", "*-journal", "*.sqlite",
      "*.sqlite3", "*.sqlite-*", "*.sqlite3-*", "*.log", "*.swp", "*.swo", "*~", ".#*", "#*#",
      ".DS_Store", "Thumbs.db", "desktop.ini"]) {
      expect(BUILTIN_PATTERNS).toContain(g);
    }
  });
});

describe("user patterns from .syncignore", () => {
  const text = [
    "# scratch files",
    "*.tmp",
    "",
    "build/",
    "/rootonly.txt",
    "secret*",
    "!secret-but-shared.txt",
    "photos/**/*.raw",
    "\\#literal-hash",
    "trailing-spaces.txt   ",
  ].join("\r\n");
  const m = createIgnoreMatcher("\uFEFF" + text);

  it("applies globs anywhere", () => {
    expect(m.ignores("a.tmp")).toBe(true);
    expect(m.ignores("x/y/a.tmp")).toBe(true);
    expect(m.reason("x/a.tmp")).toBe(".syncignore: *.tmp");
    expect(m.ignores("a.tmpl")).toBe(false);
  });

  it("directory patterns match the folder and its content, not a file of that name", () => {
    expect(m.ignores("build", true)).toBe(true);
    expect(m.ignores("build")).toBe(false);
    expect(m.ignores("build/out.js")).toBe(true);
    expect(m.ignores("sub/build/out.js")).toBe(true);
  });

  it("anchored patterns match only at the root", () => {
    expect(m.ignores("rootonly.txt")).toBe(true);
    expect(m.ignores("sub/rootonly.txt")).toBe(false);
  });

  it("negation re-includes", () => {
    expect(m.ignores("secret.txt")).toBe(true);
    expect(m.ignores("secret-but-shared.txt")).toBe(false);
  });

  it("** and escaped characters", () => {
    expect(m.ignores("photos/2024/day1/a.raw")).toBe(true);
    expect(m.ignores("photos/a.raw")).toBe(true);
    expect(m.ignores("a.raw")).toBe(false);
    expect(m.ignores("#literal-hash")).toBe(true);
    expect(m.ignores("trailing-spaces.txt")).toBe(true);
  });

  it("comments and blank lines are not patterns", () => {
    expect(m.ignores("# scratch files")).toBe(false);
    expect(m.errors).toEqual([]);
  });

  it("matches case-insensitively so every site agrees", () => {
    expect(m.ignores("A.TMP")).toBe(true);
    expect(m.ignores("Build/x")).toBe(true);
  });

  it("cannot un-ignore built-ins", () => {
    const evil = createIgnoreMatcher("!*.db\n!app.db\n!*.log\n!.scoutsync/\n!.scoutsync-tmp-*\n");
    expect(evil.ignores("app.db")).toBe(true);
    expect(evil.ignores("x/app.db-wal")).toBe(true);
    expect(evil.ignores("server.log")).toBe(true);
    expect(evil.ignores(".scoutsync/x")).toBe(true);
    expect(evil.ignores(".scoutsync-tmp-1")).toBe(true);
  });

  it("never ignores the root .syncignore itself", () => {
    const all = createIgnoreMatcher("*\n.syncignore\n");
    expect(all.ignores(".syncignore")).toBe(false);
    expect(all.ignores("anything.txt")).toBe(true);
    expect(all.ignores("sub/.syncignore")).toBe(true);
  });

  it("treats an empty or missing file the same", () => {
    expect(createIgnoreMatcher("").ignores("a.txt")).toBe(false);
    expect(createIgnoreMatcher(null).ignores("a.txt")).toBe(false);
  });
});

describe("invalid paths", () => {
  it("are ignored with the path rule's reason", () => {
    expect(none.ignores("../escape.txt")).toBe(true);
    expect(none.reason("/etc/passwd")).toMatch(/^invalid path: absolute/);
    expect(none.reason("")).toMatch(/^invalid path: /);
  });
});

describe("temp files", () => {
  it("sit in the same folder, are valid paths and are always ignored", () => {
    const t = tempNameFor("matches/q1.json", "k3Y_9-z");
    expect(t).toBe("matches/.scoutsync-tmp-k3Y_9-z");
    expect(checkSyncPath(t)).toEqual({ ok: true, path: t });
    expect(none.ignores(t)).toBe(true);
    expect(isTempName(t)).toBe(true);
    expect(tempNameFor("top.json", "abc")).toBe(".scoutsync-tmp-abc");
    expect(isTempName("matches/q1.json")).toBe(false);
  });

  it("refuse bad tokens", () => {
    for (const bad of ["", "../x", "a/b", "a b", "x".repeat(65)]) {
      expect(() => tempNameFor("a.txt", bad)).toThrow(RangeError);
    }
  });
});
