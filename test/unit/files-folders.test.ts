/** Folders as entries (issue #5): the merge of folder entries, the folder-vs-file rule, local folder changes, the revival rule and the wire. */
import { describe, expect, it } from "vitest";
import { stamp } from "../../functions/clock/hlc.js";
import { ancestorsOf, foldersToCheck, isInside, mustRevive, revivedFolder } from "../../functions/files/folders.js";
import { planLocalChange, type StoredFile } from "../../functions/files/local-change.js";
import { conflictPathFor, mergeBatch, mergeVersions } from "../../functions/files/merge.js";
import { orderPending } from "../../functions/files/pending.js";
import { DIR_MARK, diskKey, folderVersion, sameContent, tombstone, type FileVersion } from "../../functions/files/version.js";
import { FileEntrySchema, FileUploadSchema, MaterializedItemSchema } from "../../functions/wire/files.js";

const A = "aaaaaaaa00000001";
const B = "bbbbbbbb00000002";
const T0 = Date.UTC(2024, 2, 9, 7, 5, 4);
const H1 = "1".repeat(64);
const st = (ms: number, site: string) => stamp({ ms, counter: 0 }, site);
const file = (path: string, hash: string, vv: Record<string, number>, origin: string, ms: number): FileVersion => ({
  path,
  hash,
  size: 1,
  blocks: [hash],
  vv,
  stamp: st(ms, origin),
  deleted: false,
  dir: false,
  origin,
});

describe("folder entries merge like files", () => {
  const base = folderVersion("docs", { [A]: 1 }, st(T0, A), A);

  it("a later folder version or tombstone that saw ours wins; concurrent folders are one folder", () => {
    const del = tombstone("docs", { [A]: 2 }, st(T0 + 1, A), A, true);
    expect(mergeVersions(base, del)).toEqual({ winner: del, changed: true, conflict: null });
    const mine = folderVersion("docs", { [A]: 1, [B]: 1 }, st(T0 + 5, B), B);
    const theirs = folderVersion("docs", { [A]: 2 }, st(T0 + 9, A), A);
    const out = mergeVersions(mine, theirs);
    expect(out).toMatchObject({ changed: true, conflict: null, winner: { dir: true, deleted: false, vv: { [A]: 2, [B]: 1 } } });
    expect(mergeVersions(theirs, mine).winner).toEqual(out.winner);
  });

  it("a folder made again beats a concurrent delete of it (edits beat deletes)", () => {
    const del = tombstone("docs", { [A]: 2 }, st(T0 + 9, A), A, true);
    const again = folderVersion("docs", { [A]: 1, [B]: 1 }, st(T0 + 1, B), B);
    expect(mergeVersions(del, again).winner).toMatchObject({ dir: true, deleted: false, origin: B });
    expect(mergeVersions(again, del).winner).toMatchObject({ dir: true, deleted: false, origin: B });
  });

  it("content: folders equal folders, never files; tombstones equal tombstones", () => {
    expect(sameContent(base, folderVersion("docs", { [B]: 1 }, st(T0, B), B))).toBe(true);
    expect(sameContent(base, file("docs", H1, { [B]: 1 }, B, T0))).toBe(false);
    expect(sameContent(tombstone("x", {}, st(T0, A), A, true), tombstone("x", {}, st(T0, B), B, false))).toBe(true);
    expect(diskKey(base)).toBe(DIR_MARK);
    expect(diskKey({ ...base, deleted: true })).toBe(null);
    expect(diskKey(file("x", H1, {}, A, T0))).toBe(H1);
  });
});

describe("a folder and a file at one path", () => {
  const folder = folderVersion("clash", { [A]: 1 }, st(T0, A), A);

  it("the folder keeps the path whatever the stamps; the file becomes its conflict copy, same on both sides", () => {
    for (const ms of [T0 - 5000, T0 + 5000]) {
      const f = file("clash", H1, { [B]: 1 }, B, ms);
      const here = mergeVersions(folder, f);
      const there = mergeVersions(f, folder);
      expect(here.winner).toMatchObject({ path: "clash", dir: true, vv: { [A]: 1, [B]: 1 } });
      expect(there.winner).toEqual(here.winner);
      expect(here.conflict).toEqual({ ...f, path: conflictPathFor(f) });
      expect(there.conflict).toEqual(here.conflict);
      expect(here.conflict?.path).toMatch(/^clash\.sync-conflict-\d{8}-\d{6}-bbbbbbb$/);
    }
  });

  it("converges in any delivery order, the file's bytes kept at the conflict path", async () => {
    const f = file("clash", H1, { [B]: 1 }, B, T0 + 1);
    const run = async (first: FileVersion, second: FileVersion) => {
      const store = new Map<string, FileVersion>([[first.path, first]]);
      const out = await mergeBatch([second], (p) => store.get(p) ?? null);
      for (const w of out.writes) store.set(w.path, w);
      return [...store.values()].sort((x, y) => (x.path < y.path ? -1 : 1));
    };
    const one = await run(folder, f);
    expect(await run(f, folder)).toEqual(one);
    expect(one.map((v) => [v.path, v.dir, v.hash])).toEqual([
      ["clash", true, null],
      [conflictPathFor(f), false, H1],
    ]);
  });
});

describe("local folder changes", () => {
  let n = 0;
  const next = () => st(T0 + ++n, A);
  const stored = (v: FileVersion, diskHash: string | null): StoredFile => ({ ...v, diskHash, diskSize: diskHash === null ? null : 0, diskMtimeMs: diskHash === null ? null : 0 });

  it("a new folder is a version; a known one, or one whose received delete waits, is not", () => {
    expect(planLocalChange(null, { path: "d", dir: true }, A, next)).toMatchObject({ kind: "version", version: { path: "d", dir: true, deleted: false, vv: { [A]: 1 } }, conflict: null });
    const known = folderVersion("d", { [B]: 1 }, st(T0, B), B);
    expect(planLocalChange(stored(known, DIR_MARK), { path: "d", dir: true }, A, next)).toEqual({ kind: "disk" });
    expect(planLocalChange(stored({ ...known, deleted: true }, DIR_MARK), { path: "d", dir: true }, A, next)).toEqual({ kind: "disk" });
    // Deleted here and made again later: a new version over the tombstone.
    expect(planLocalChange(stored({ ...known, deleted: true }, null), { path: "d", dir: true }, A, next)).toMatchObject({ kind: "version", version: { dir: true, vv: { [A]: 1, [B]: 1 } } });
  });

  it("deleting a folder writes a folder tombstone", () => {
    const known = folderVersion("d", { [B]: 1 }, st(T0, B), B);
    expect(planLocalChange(stored(known, DIR_MARK), { path: "d", deleted: true }, A, next)).toMatchObject({ kind: "version", version: { deleted: true, dir: true, vv: { [A]: 1, [B]: 1 } } });
    // Made here a moment ago, the report of it not recorded yet: still a delete.
    expect(planLocalChange(stored(known, null), { path: "d", deleted: true }, A, next)).toMatchObject({ kind: "version", version: { deleted: true, dir: true } });
    // A file was here and the folder waits to replace it: the folder will be made.
    expect(planLocalChange(stored(known, H1), { path: "d", deleted: true }, A, next)).toEqual({ kind: "disk" });
  });

  it("a folder over a received file never written here keeps the file as a conflict copy", () => {
    const received = file("x", H1, { [B]: 1 }, B, T0);
    const plan = planLocalChange(stored(received, null), { path: "x", dir: true }, A, next);
    expect(plan).toMatchObject({ kind: "version", version: { path: "x", dir: true }, conflict: { ...received, path: conflictPathFor(received) } });
  });

  it("a file over a received folder not made here yet goes beside it as its conflict copy", () => {
    const received = folderVersion("x", { [B]: 1 }, st(T0, B), B);
    const plan = planLocalChange(stored(received, null), { path: "x", hash: H1, size: 1, blocks: [H1], mtimeMs: 1 }, A, next);
    expect(plan.kind).toBe("version");
    if (plan.kind !== "version") return;
    expect(plan.version).toMatchObject({ hash: H1, dir: false, vv: { [A]: 1 } });
    expect(plan.version.path).toBe(conflictPathFor({ ...plan.version, path: "x" }));
    expect(plan.conflict).toBe(null);
  });
});

describe("the revival rule", () => {
  it("names the folders above a path, and what is inside a folder", () => {
    expect(ancestorsOf("a/b/c.txt")).toEqual(["a", "a/b"]);
    expect(ancestorsOf("top")).toEqual([]);
    expect(isInside("a/b", "a")).toBe(true);
    expect(isInside("ab/c", "a")).toBe(false);
    expect(isInside("a", "a")).toBe(false);
  });

  it("checks deleted folders and the folders above live writes, deepest first", () => {
    const writes = [tombstone("x", {}, st(T0, A), A, true), file("a/b/f.txt", H1, {}, A, T0), tombstone("gone.txt", {}, st(T0, A), A), tombstone("p/q", {}, st(T0, A), A, true)];
    expect(foldersToCheck(writes)).toEqual(["a/b", "p/q", "a", "x"]);
  });

  it("revives a deleted folder that still holds a live entry, after the delete it saw", () => {
    const del = tombstone("d", { [A]: 2 }, st(T0, A), A, true);
    expect(mustRevive(del, true)).toBe(true);
    expect(mustRevive(del, false)).toBe(false);
    expect(mustRevive(tombstone("d", {}, st(T0, A), A, false), true)).toBe(false);
    expect(mustRevive(folderVersion("d", {}, st(T0, A), A), true)).toBe(false);
    const back = revivedFolder(del, B, st(T0 + 1, B));
    expect(back).toMatchObject({ path: "d", dir: true, deleted: false, origin: B, vv: { [A]: 2, [B]: 1 } });
    // It saw the delete, so it wins over it on every site.
    expect(mergeVersions(del, back).winner).toEqual(back);
  });
});

describe("pending order", () => {
  it("makes folders outermost first before files, and removes them innermost last", () => {
    const row = (path: string, dir: boolean, deleted: boolean) => ({ path, hash: dir || deleted ? null : H1, deleted, dir, diskHash: null, error: null });
    const rows = [row("a/b", true, true), row("f", false, true), row("a", true, true), row("n/m", true, false), row("n/m/x", false, false), row("n", true, false)];
    expect(orderPending(rows).map((r) => `${r.deleted ? "-" : "+"}${r.path}`)).toEqual(["+n", "+n/m", "+n/m/x", "-f", "-a/b", "-a"]);
  });
});

describe("the wire", () => {
  const entry = { path: "docs", hash: null, size: 0, blocks: [], vv: { [A]: 1 }, stamp: st(T0, A), deleted: false, dir: true, origin: A };

  it("accepts folder entries and reads a missing flag as a file", () => {
    expect(FileEntrySchema.parse(entry)).toEqual(entry);
    expect(FileEntrySchema.parse({ ...entry, dir: undefined, hash: H1, size: 1, blocks: [H1] }).dir).toBe(false);
    expect(FileEntrySchema.safeParse({ ...entry, path: "../docs" }).success).toBe(false);
  });

  it("refuses a folder with content, and folder reports with file fields", () => {
    expect(FileEntrySchema.safeParse({ ...entry, hash: H1 }).success).toBe(false);
    expect(FileEntrySchema.safeParse({ ...entry, size: 3 }).success).toBe(false);
    expect(FileEntrySchema.safeParse({ ...entry, dir: "yes" }).success).toBe(false);
    expect(FileUploadSchema.parse({ path: "d", dir: true })).toEqual({ path: "d", dir: true });
    expect(FileUploadSchema.safeParse({ path: "d", dir: true, hash: H1 }).success).toBe(false);
    expect(FileUploadSchema.safeParse({ path: "d", dir: true, deleted: true }).success).toBe(false);
    expect(MaterializedItemSchema.parse({ path: "d", dir: true, kept: true })).toEqual({ path: "d", dir: true, kept: true });
    expect(MaterializedItemSchema.safeParse({ path: "d", dir: true, hash: H1 }).success).toBe(false);
  });
});
