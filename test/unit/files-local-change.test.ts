/** What an agent's report means for the manifest, which entries are pending, the block shape and the wire schemas. */
import { describe, expect, it } from "vitest";
import { stamp } from "../../functions/clock/hlc.js";
import { CHUNK_SIZE, EMPTY_SHA256, blockCount, blockRange, contentShapeError } from "../../functions/files/chunks.js";
import { planLocalChange, type StoredFile } from "../../functions/files/local-change.js";
import { fetchOrder, isPending, orderPending } from "../../functions/files/pending.js";
import { FileApplyBatchSchema, UploadBodySchema } from "../../functions/wire/files.js";

const SELF = "aaaaaaaa00000001";
const PEER = "bbbbbbbb00000002";
const T0 = Date.UTC(2024, 0, 1);
const H1 = "1".repeat(64);
const H2 = "2".repeat(64);
const H3 = "3".repeat(64);
let n = 0;
const next = () => stamp({ ms: T0 + ++n, counter: 0 }, SELF);

function row(over: Partial<StoredFile>): StoredFile {
  return {
    path: "n.txt",
    hash: H1,
    size: 1,
    blocks: [H1],
    vv: { [PEER]: 1 },
    stamp: stamp({ ms: T0, counter: 0 }, PEER),
    deleted: false,
    dir: false,
    origin: PEER,
    diskHash: H1,
    diskSize: 1,
    diskMtimeMs: 1000,
    ...over,
  };
}
const editTo = (hash: string) => ({ path: "n.txt", hash, size: 1, blocks: [hash], mtimeMs: 2000 });

describe("planLocalChange", () => {
  it("a new file becomes version 1 of this site", () => {
    const p = planLocalChange(null, editTo(H2), SELF, next);
    expect(p).toMatchObject({ kind: "version", conflict: null, version: { path: "n.txt", hash: H2, vv: { [SELF]: 1 }, origin: SELF, deleted: false } });
  });

  it("an edit builds on the current vector", () => {
    const p = planLocalChange(row({}), editTo(H2), SELF, next);
    expect(p).toMatchObject({ kind: "version", conflict: null, version: { vv: { [PEER]: 1, [SELF]: 1 } } });
  });

  it("the manifest's own hash (a file the materializer wrote) only updates the disk columns: no echo", () => {
    expect(planLocalChange(row({ diskHash: null }), editTo(H1), SELF, next)).toEqual({ kind: "disk" });
  });

  it("the hash the disk already had (a touch, a stale event) is not a new version", () => {
    expect(planLocalChange(row({ hash: H2, blocks: [H2], diskHash: H1 }), editTo(H1), SELF, next)).toEqual({ kind: "disk" });
  });

  it("an edit over a received version that never reached the disk keeps that version as a conflict copy", () => {
    const p = planLocalChange(row({ hash: H2, blocks: [H2], diskHash: H1 }), editTo(H3), SELF, next);
    expect(p.kind).toBe("version");
    if (p.kind !== "version") return;
    expect(p.version).toMatchObject({ hash: H3, vv: { [PEER]: 1, [SELF]: 1 } });
    expect(p.conflict).toMatchObject({ hash: H2, origin: PEER, path: "n.sync-conflict-20240101-000000-bbbbbbb.txt" });
    expect(p.conflict).not.toHaveProperty("diskHash");
  });

  it("deletes: a tombstone for a file that was on disk, nothing for one that never was", () => {
    expect(planLocalChange(row({}), { path: "n.txt", deleted: true }, SELF, next)).toMatchObject({ kind: "version", version: { deleted: true, hash: null, vv: { [PEER]: 1, [SELF]: 1 } } });
    expect(planLocalChange(null, { path: "n.txt", deleted: true }, SELF, next)).toEqual({ kind: "none" });
    expect(planLocalChange(row({ diskHash: null }), { path: "n.txt", deleted: true }, SELF, next)).toEqual({ kind: "none" });
    expect(planLocalChange(row({ deleted: true, hash: null, blocks: [] }), { path: "n.txt", deleted: true }, SELF, next)).toEqual({ kind: "disk" });
  });

  it("deleting an old copy while a newer received version waits does not delete it everywhere (edits win)", () => {
    expect(planLocalChange(row({ hash: H2, blocks: [H2], diskHash: H1 }), { path: "n.txt", deleted: true }, SELF, next)).toEqual({ kind: "disk" });
    expect(planLocalChange(row({ hash: H2, blocks: [H2], diskHash: null }), { path: "n.txt", deleted: true, was: H1 }, SELF, next)).toEqual({ kind: "disk" });
  });

  it("a received file deleted at once, before the report of writing it landed, is deleted everywhere (the agent says it had it)", () => {
    const arrived = row({ diskHash: null, diskSize: null, diskMtimeMs: null });
    expect(planLocalChange(arrived, { path: "n.txt", deleted: true, was: H1 }, SELF, next)).toMatchObject({ kind: "version", version: { deleted: true, vv: { [PEER]: 1, [SELF]: 1 } } });
  });

  it("a received file edited at once, before the report of writing it landed, is an edit of it, not a conflict", () => {
    const arrived = row({ diskHash: null, diskSize: null, diskMtimeMs: null });
    expect(planLocalChange(arrived, { ...editTo(H2), was: H1 }, SELF, next)).toMatchObject({ kind: "version", conflict: null, version: { hash: H2, vv: { [PEER]: 1, [SELF]: 1 } } });
    // Without the agent's word the received version may never have been seen: it is kept.
    expect(planLocalChange(arrived, editTo(H2), SELF, next)).toMatchObject({ kind: "version", conflict: { hash: H1 } });
  });
});

describe("pending", () => {
  it("is pending when the disk does not hold the version", () => {
    expect(isPending({ path: "n", hash: H1, deleted: false, dir: false, diskHash: H1 })).toBe(false);
    expect(isPending({ path: "n", hash: H1, deleted: false, dir: false, diskHash: null })).toBe(true);
    expect(isPending({ path: "n", hash: H2, deleted: false, dir: false, diskHash: H1 })).toBe(true);
    expect(isPending({ path: "n", hash: null, deleted: true, dir: false, diskHash: H1 })).toBe(true);
    expect(isPending({ path: "n", hash: null, deleted: true, dir: false, diskHash: null })).toBe(false);
  });

  it("orders writes before deletes (a rename reuses the old file's blocks) and failed entries last", () => {
    const rows = [
      { path: "old", hash: null, deleted: true, dir: false, diskHash: H1, error: null },
      { path: "bad", hash: H2, deleted: false, dir: false, diskHash: null, error: "no peer" },
      { path: "new", hash: H1, deleted: false, dir: false, diskHash: null, error: null },
    ];
    expect(orderPending(rows).map((r) => r.path)).toEqual(["new", "old", "bad"]);
  });

  it("fetches from the source peer first", () => {
    const peers = [{ site: "x" }, { site: PEER }, { site: null }];
    expect(fetchOrder(PEER, peers).map((p) => p.site)).toEqual([PEER, "x", null]);
    expect(fetchOrder(null, peers)).toEqual(peers);
  });
});

describe("blocks", () => {
  it("counts and places 1 MiB blocks", () => {
    expect([0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 50 * CHUNK_SIZE].map(blockCount)).toEqual([0, 1, 1, 2, 50]);
    expect(blockRange(CHUNK_SIZE + 10, 1)).toEqual({ offset: CHUNK_SIZE, length: 10 });
  });

  it("refuses shapes no file has", () => {
    expect(contentShapeError(0, EMPTY_SHA256, [])).toBeNull();
    expect(contentShapeError(0, H1, [])).toMatch(/empty file/);
    expect(contentShapeError(5, H1, [H1])).toBeNull();
    expect(contentShapeError(5, H2, [H1])).toMatch(/one block/);
    expect(contentShapeError(CHUNK_SIZE + 1, H3, [H1])).toMatch(/2 blocks/);
    expect(contentShapeError(-1, H1, [])).toMatch(/whole number/);
  });
});

describe("wire", () => {
  it("hostile paths are refused with the reason", () => {
    for (const [path, reason] of [
      ["../x", '".." segment'],
      ["/etc/passwd", "absolute path"],
      ["a\\b", "backslash"],
      ["a\u0000b", "control character U+0000"],
      ["C:/x", "drive letter"],
    ] as const) {
      const r = UploadBodySchema.safeParse({ path, size: 1, hash: H1, blocks: [H1], mtimeMs: 1 });
      expect(r.success).toBe(false);
      expect(r.error?.issues[0]?.message).toContain(reason);
    }
  });

  it("accepts one report or a batch, normalises paths to NFC, and checks the shape", () => {
    const one = UploadBodySchema.parse({ path: "e\u0301.txt", size: 1, hash: H1, blocks: [H1], mtimeMs: 1 });
    expect(one.files[0]?.path).toBe("é.txt");
    expect(UploadBodySchema.safeParse({ path: "x", size: 1 }).error?.issues[0]).toMatchObject({ path: ["files", 0, "hash"] });
    expect(UploadBodySchema.safeParse({ files: [{ path: "x", deleted: true }] }).success).toBe(true);
    expect(UploadBodySchema.safeParse({ path: "x", size: 1, hash: H2, blocks: [H1], mtimeMs: 1 }).success).toBe(false);
    expect(UploadBodySchema.parse({ path: "x", deleted: true, was: H1 }).files[0]).toEqual({ path: "x", deleted: true, was: H1 });
    expect(UploadBodySchema.safeParse({ path: "x", dir: true, was: H1 }).error?.issues[0]).toMatchObject({ path: ["files", 0, "was"], message: expect.stringMatching(/not with "dir"/) });
    expect(UploadBodySchema.safeParse({ path: "x", deleted: true, was: "nope" }).error?.issues[0]).toMatchObject({ path: ["files", 0, "was"] });
  });

  it("apply entries: tombstones carry nothing, files need a hash", () => {
    const base = { path: "x", size: 0, blocks: [], vv: { [PEER]: 1 }, stamp: stamp({ ms: T0, counter: 0 }, PEER), origin: PEER };
    expect(FileApplyBatchSchema.safeParse({ from: PEER, files: [{ ...base, hash: null, deleted: true }] }).success).toBe(true);
    expect(FileApplyBatchSchema.safeParse({ from: PEER, files: [{ ...base, hash: null, deleted: false }] }).success).toBe(false);
    expect(FileApplyBatchSchema.safeParse({ from: PEER, files: [{ ...base, hash: H1, size: 1, blocks: [H1], deleted: true }] }).success).toBe(false);
    expect(FileApplyBatchSchema.safeParse({ from: PEER, files: [{ ...base, hash: EMPTY_SHA256, deleted: false }] }).success).toBe(true);
  });
});
