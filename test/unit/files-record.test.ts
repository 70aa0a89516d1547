/**
 * The worker's manifest writes over a real libSQL client on a temp file: what an upload and a
 * received batch cost in round trips (each is a few milliseconds of every change's latency),
 * and that the folder rule still sees the folders it reads in the first one.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient, type Client, type Transaction } from "@libsql/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FileEntry, FileUpload } from "../../functions/wire/files.js";
import { applyFiles } from "../../worker/files/apply.js";
import { recordUploads } from "../../worker/files/record.js";
import { ManifestWrites, readRows } from "../../worker/files/store.js";
import type { Services } from "../../worker/services.js";
import { migrate } from "../../worker/state/migrate.js";

const SITE = "a".repeat(16);
const PEER = "b".repeat(16);
const HASH = "0".repeat(64);

/** Counts the requests each write transaction makes (its batches and single statements). */
function counting(client: Client): { client: Client; trips: number[] } {
  const trips: number[] = [];
  const wrap = (tx: Transaction): Transaction => {
    const i = trips.push(0) - 1;
    return new Proxy(tx, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          if (prop === "batch" || prop === "execute" || prop === "commit") trips[i]!++;
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  };
  const proxy = new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === "transaction") return async (mode?: "write" | "read" | "deferred") => wrap(await target.transaction(mode));
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  return { client: proxy, trips };
}

function file(p: string, size = 3): FileUpload {
  return { path: p, size, hash: HASH, blocks: [HASH], mtimeMs: 1 };
}

describe("manifest writes", () => {
  let dir: string;
  let real: Client;
  let s: Services;
  let trips: number[];

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "scoutsync-record-"));
    real = createClient({ url: `file:${path.join(dir, "state.db")}`, intMode: "number" });
    await migrate(real);
    const c = counting(real);
    trips = c.trips;
    s = { state: c.client, siteId: SITE } as unknown as Services;
  });

  afterEach(() => {
    real.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("records a file deep in folders in two round trips: one read (folders included), one write with the commit", async () => {
    await recordUploads(s, [{ path: "a", dir: true }, { path: "a/b", dir: true }]);
    trips.length = 0;
    expect(await recordUploads(s, [file("a/b/c.txt")])).toMatchObject({ versions: 1 });
    expect(trips).toEqual([2]);
  });

  it("applies a received file deep in folders in two round trips", async () => {
    const entry: FileEntry = { path: "x/y/z.bin", hash: HASH, size: 3, blocks: [HASH], deleted: false, dir: false, stamp: `${"0".repeat(12)}0001${PEER}`, origin: PEER, vv: { [PEER]: 1 } };
    const out = await applyFiles(s, PEER, [entry]);
    expect(out).toMatchObject({ applied: 1, conflicts: 0 });
    expect(out.pending.map((p) => p.path)).toEqual(["x/y/z.bin"]);
    expect(trips).toEqual([2]);
  });

  it("still brings back a deleted folder when a file is recorded inside it (the folder read with the first batch)", async () => {
    await recordUploads(s, [{ path: "d", dir: true }]);
    await recordUploads(s, [{ path: "d", deleted: true }]);
    expect((await readRows(real, ["d"])).get("d")).toMatchObject({ deleted: true });
    trips.length = 0;
    expect(await recordUploads(s, [file("d/new.txt")])).toMatchObject({ versions: 2 });
    expect((await readRows(real, ["d"])).get("d")).toMatchObject({ deleted: false, dir: true });
    expect(trips).toEqual([2]);
  });

  it("writes any number of versions, disk facts and errors in one statement each, values intact", async () => {
    const w = new ManifestWrites();
    const paths = Array.from({ length: 300 }, (_, i) => `dir "q"/ünï ${i}'s.json`);
    paths.forEach((p, i) => w.version({ path: p, hash: HASH, size: i, blocks: [HASH, HASH], vv: { [SITE]: i + 1, [PEER]: 2 }, stamp: `${"0".repeat(12)}0001${PEER}`, deleted: false, dir: false, origin: PEER }, i + 1, i % 2 ? PEER : null, i % 3 ? [PEER, SITE] : []));
    paths.forEach((p, i) => w.disk(p, { hash: HASH, size: i, mtimeMs: 1733000000000.5 + i }));
    w.version({ path: "gone", hash: null, size: 0, blocks: [], vv: { [PEER]: 1 }, stamp: `${"0".repeat(12)}0002${PEER}`, deleted: true, dir: false, origin: PEER }, 301, null);
    w.version({ path: "folder", hash: null, size: 0, blocks: [], vv: { [SITE]: 1 }, stamp: `${"0".repeat(12)}0003${SITE}`, deleted: false, dir: true, origin: SITE }, 302, null);
    const stmts = w.statements();
    expect(stmts).toHaveLength(2);
    await real.batch(stmts, "write");
    const rows = await readRows(real, [...paths, "gone", "folder"]);
    expect(rows.size).toBe(302);
    expect(rows.get(paths[7]!)).toEqual({
      path: paths[7], hash: HASH, size: 7, blocks: [HASH, HASH], vv: { [SITE]: 8, [PEER]: 2 }, stamp: `${"0".repeat(12)}0001${PEER}`, deleted: false, dir: false,
      seq: 8, origin: PEER, source: PEER, heldBy: [PEER, SITE], error: null, diskHash: HASH, diskSize: 7, diskMtimeMs: 1733000000007.5,
    });
    expect(rows.get(paths[6]!)).toMatchObject({ source: null, heldBy: [] });
    expect(rows.get("gone")).toMatchObject({ hash: null, deleted: true, dir: false, seq: 301, diskHash: null });
    expect(rows.get("folder")).toMatchObject({ hash: null, deleted: false, dir: true, seq: 302 });
  });

  it("keeps the order of a path's writes: the last of the same kind wins, and an error stays only if nothing cleared it after", async () => {
    const v = (p: string, size: number) => ({ path: p, hash: HASH, size, blocks: [HASH], vv: { [SITE]: size }, stamp: `${"0".repeat(12)}0001${SITE}`, deleted: false, dir: false, origin: SITE });
    const setup = new ManifestWrites();
    ["a", "b", "c", "d"].forEach((p, i) => setup.version(v(p, 1), 10 + i, null));
    await real.batch(setup.statements(), "write");

    const w = new ManifestWrites();
    w.version(v("a", 2), 20, null);
    w.version(v("a", 3), 21, null);
    w.disk("a", { hash: HASH, size: 1, mtimeMs: 1 });
    w.disk("a", { hash: HASH, size: 3, mtimeMs: 3 });
    w.error("b", "disk full");
    w.disk("b", { hash: HASH, size: 1, mtimeMs: 1 });
    w.disk("c", { hash: HASH, size: 1, mtimeMs: 1 });
    w.error("c", "a folder is in the way");
    w.error("d", "refused");
    w.version(v("d", 4), 22, null);
    await real.batch(w.statements(), "write");
    const rows = await readRows(real, ["a", "b", "c", "d"]);
    expect(rows.get("a")).toMatchObject({ size: 3, seq: 21, diskSize: 3, diskMtimeMs: 3, error: null });
    expect(rows.get("b")).toMatchObject({ diskSize: 1, error: null });
    expect(rows.get("c")).toMatchObject({ diskSize: 1, error: "a folder is in the way" });
    expect(rows.get("d")).toMatchObject({ size: 4, error: null });
  });
});
