/**
 * The instance folder kept identical on three real sites (scoutsync start on loopback, full
 * mesh): create, modify, delete, rename without re-sending bytes, binary, 50 MB, a burst of
 * 1,000 files, an edit-edit conflict, changes made while a site was stopped, exclusions, and
 * what the API refuses. Every wait is bounded; figures are printed, never asserted.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stamp } from "../../functions/clock/hlc.js";
import { api, filesOf, filesStatus, folderMap, quantiles, restartSite, sha256, startMesh, stopMesh, stopSite, waitSame, type RunningSite } from "./files-harness.js";
import { waitUntil } from "./site-harness.js";

let sites: RunningSite[] = [];
const [A, B, C] = [0, 1, 2] as const;
const site = (i: number) => sites[i]!;
const file = (i: number, rel: string) => path.join(site(i).instance, ...rel.split("/"));
const write = (i: number, rel: string, data: string | Uint8Array) => {
  mkdirSync(path.dirname(file(i, rel)), { recursive: true });
  writeFileSync(file(i, rel), data);
};
const figures: Record<string, unknown> = {};

// pit runs the app reload hook: a shell command that appends the changed paths to a file.
const HOOK = ["--on-change", `printf '%s\\n' "$SCOUTSYNC_CHANGED" >> hook.log`];

beforeAll(async () => {
  sites = await startMesh("files", ["north", "south", "pit"], (n) => (n === "pit" ? HOOK : []));
}, 120_000);

afterAll(async () => {
  console.log(`file sync figures: ${JSON.stringify(figures)}`);
  await stopMesh(sites);
}, 60_000);

describe("file sync between three sites", () => {
  it("creates, modifies and deletes everywhere", async () => {
    write(A, "config/settings.json", '{"event": "2024casj"}');
    write(A, "données/équipe 254.txt", "unicode names travel");
    await waitSame(sites, "the new files everywhere", (m) => filesOf(m).length === 2);
    const hookLog = path.join(site(C).root, "hook.log");
    await waitUntil("pit's reload hook to name the new files", () => existsSync(hookLog) && readFileSync(hookLog, "utf8").includes("config/settings.json"), 10_000);
    write(B, "config/settings.json", '{"event": "2024cave"}');
    await waitSame(sites, "the modification everywhere", (m) => m["config/settings.json"] === sha256('{"event": "2024cave"}'));
    rmSync(file(C, "données/équipe 254.txt"));
    const m = await waitSame(sites, "the delete everywhere", (x) => !("données/équipe 254.txt" in x));
    expect(filesOf(m)).toEqual(["config/settings.json"]);
    // Nothing left to write: the agent's idle poll gets an empty page, without reading the peer list.
    const pending = () => api(site(C), "GET", "/api/sync/files/pending");
    await waitUntil("site C's pending list to empty", async () => ((await pending()).json["files"] as unknown[]).length === 0, 10_000);
    expect((await pending()).json).toMatchObject({ files: [], peers: [] });
  });

  it("propagates a 1 KiB file in well under a second (30 tries, figures printed)", async () => {
    const times: number[] = [];
    for (let i = 0; i < 30; i++) {
      const data = randomBytes(1024);
      const rel = `latency/${i}.bin`;
      const t0 = performance.now();
      write(A, rel, data);
      // A tight poll of its own: the harness's 50 ms step would swamp what is measured.
      for (;;) {
        if (existsSync(file(B, rel)) && readFileSync(file(B, rel)).equals(data)) break;
        if (performance.now() - t0 > 10_000) throw new Error(`${rel} did not reach south within 10 s`);
        await new Promise((r) => setTimeout(r, 1));
      }
      times.push(performance.now() - t0);
      // One change at a time: let the previous one's forwarding and bookkeeping finish first.
      await new Promise((r) => setTimeout(r, 50));
    }
    figures["latency_1KiB_A_to_B_ms"] = quantiles(times);
    await waitSame(sites, "the latency files everywhere", (m) => filesOf(m).filter((p) => p.startsWith("latency/")).length === 30);
  });

  it("a received file deleted the moment it lands is deleted everywhere (10 tries)", async () => {
    for (let i = 0; i < 10; i++) {
      const rel = `inbox/${i}.json`;
      write(A, rel, `{"scan": ${i}}`);
      // As an app that consumes what arrives: delete it as soon as it exists, before the
      // materializer's report of writing it has reached south's worker.
      const t0 = performance.now();
      while (!existsSync(file(B, rel))) {
        if (performance.now() - t0 > 10_000) throw new Error(`${rel} did not reach south within 10 s`);
        await new Promise((r) => setTimeout(r, 1));
      }
      rmSync(file(B, rel));
    }
    await waitSame(sites, "every consumed file gone everywhere", (m) => filesOf(m).every((p) => !p.startsWith("inbox/")));
  });

  it("syncs a binary file and renames without sending its bytes again", async () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    write(B, "bin/all-bytes.bin", Buffer.concat([all, randomBytes(10_000), all]));
    const big = randomBytes(3 * 1024 * 1024 + 17); // bigger than what travels inline: moves as blocks
    write(A, "media/match-12.mp4", big);
    await waitSame(sites, "the binary files everywhere", (m) => m["media/match-12.mp4"] === sha256(big) && "bin/all-bytes.bin" in m, 60_000);
    const served = async () => (await Promise.all(sites.map(filesStatus))).reduce((n, s) => n + s.served.chunks, 0);
    const before = await served();
    renameSync(file(B, "media/match-12.mp4"), file(B, "media/qm12.mp4"));
    const m = await waitSame(sites, "the rename everywhere", (x) => x["media/qm12.mp4"] === sha256(big) && !("media/match-12.mp4" in x), 30_000);
    expect(m["media/qm12.mp4"]).toBe(sha256(big));
    expect(await served()).toBe(before);
  });

  it("moves a 50 MB file (figure printed)", async () => {
    const data = randomBytes(50 * 1024 * 1024);
    const t0 = performance.now();
    write(C, "media/full-event.bin", data);
    await waitSame(sites, "the 50 MB file everywhere", (m) => m["media/full-event.bin"] === sha256(data), 180_000);
    const s = (performance.now() - t0) / 1000;
    figures["50MB_C_to_all_MBps"] = Math.round((50 / s) * 10) / 10;
  }, 240_000);

  it("carries a burst of 1,000 small files (figure printed)", async () => {
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) write(B, `burst/${String(i).padStart(4, "0")}.json`, JSON.stringify({ team: i, note: "x".repeat(i % 50) }));
    await waitSame(sites, "the 1,000 files everywhere", (m) => filesOf(m).filter((p) => p.startsWith("burst/")).length === 1000, 120_000);
    figures["burst_1000_files_per_s"] = Math.round(1000 / ((performance.now() - t0) / 1000));
  }, 180_000);

  it("keeps both versions of a file edited on two sites at once, as a conflict copy everywhere", async () => {
    write(A, "notes.txt", "base");
    await waitSame(sites, "notes.txt everywhere", (m) => m["notes.txt"] === sha256("base"));
    write(A, "notes.txt", "north's edit");
    write(C, "notes.txt", "pit's edit");
    const isCopy = (p: string) => /^notes\.sync-conflict-\d{8}-\d{6}-[0-9a-f]{7}\.txt$/.test(p);
    const m = await waitSame(sites, "the conflict settled everywhere", (x) => Object.keys(x).some(isCopy));
    const copies = Object.keys(m).filter(isCopy);
    expect(copies).toHaveLength(1);
    const both = [m["notes.txt"], m[copies[0]!]].sort();
    expect(both).toEqual([sha256("north's edit"), sha256("pit's edit")].sort());
  });

  it("catches up a site that was stopped, both ways, deletes included", async () => {
    write(A, "offline/keep.txt", "keep");
    write(A, "offline/drop.txt", "drop");
    write(A, "offline/edit.txt", "v1");
    await waitSame(sites, "the offline files everywhere", (m) => "offline/edit.txt" in m && "offline/drop.txt" in m && "offline/keep.txt" in m);
    await stopSite(site(C));
    // While pit is down: changes elsewhere, and changes in pit's own folder.
    write(A, "offline/new-on-north.txt", "new");
    write(B, "offline/edit.txt", "v2 by south");
    rmSync(file(A, "offline/drop.txt"));
    write(C, "offline/new-on-pit.txt", "written while stopped");
    rmSync(file(C, "offline/keep.txt"));
    sites[C] = await restartSite(site(C));
    const m = await waitSame(
      sites,
      "pit caught up and its offline changes everywhere",
      (x) => "offline/new-on-north.txt" in x && "offline/new-on-pit.txt" in x && !("offline/drop.txt" in x) && !("offline/keep.txt" in x) && x["offline/edit.txt"] === sha256("v2 by south"),
      60_000,
    );
    expect(filesOf(m).filter((p) => p.startsWith("offline/"))).toEqual(["offline/edit.txt", "offline/new-on-north.txt", "offline/new-on-pit.txt"]);
  }, 120_000);

  it("never copies excluded files, and .syncignore itself syncs", async () => {
    write(A, ".syncignore", "secret/\n*.tmp\n");
    await waitSame(sites, ".syncignore everywhere", (m) => m[".syncignore"] === sha256("secret/\n*.tmp\n"));
    // The rules took effect on the sites that received them too.
    await new Promise((r) => setTimeout(r, 300));
    write(C, "secret/pit-notes.txt", "pit only");
    write(A, "secret/passwords.txt", "hunter2");
    write(A, "scratch.tmp", "temp");
    write(B, "app.db", "SQLite format 3");
    write(B, "logs/server.log", "log line");
    write(C, ".DS_Store", "mac");
    write(A, "after-excluded.txt", "marker");
    await waitSame(sites, "the marker written after the excluded files", (m) => "after-excluded.txt" in m);
    // Give any stray copy the time the marker needed again before looking.
    await new Promise((r) => setTimeout(r, 1_000));
    const excluded: [number, string, string][] = [
      [A, "secret/passwords.txt", "hunter2"],
      [A, "scratch.tmp", "temp"],
      [B, "app.db", "SQLite format 3"],
      [B, "logs/server.log", "log line"],
      [C, ".DS_Store", "mac"],
      [C, "secret/pit-notes.txt", "pit only"],
    ];
    for (const [owner, rel, content] of excluded) {
      expect(readFileSync(file(owner, rel), "utf8")).toBe(content);
      for (const other of [A, B, C].filter((i) => i !== owner)) expect(existsSync(file(other, rel)), `${rel} on ${site(other).name}`).toBe(false);
    }
  });

  it("refuses hostile paths from the wire with a reason, writing nothing", async () => {
    const peer = "0123456789abcdef";
    const entry = (p: string) => ({ path: p, hash: sha256("x"), size: 1, blocks: [sha256("x")], vv: { [peer]: 1 }, stamp: stamp({ ms: Date.now(), counter: 0 }, peer), deleted: false, origin: peer });
    const before = readdirSync(site(B).instance).sort();
    for (const [p, reason] of [
      ["../x", '".." segment'],
      ["/etc/passwd", "absolute path"],
      ["a\\b", "backslash"],
      ["a\u0000b", "control character U+0000"],
      ["C:/Windows/x", "drive letter"],
    ] as const) {
      const applied = await api(site(B), "POST", "/api/sync/files/apply", { from: peer, files: [entry(p)] });
      expect(applied.status, p).toBe(400);
      expect(String(applied.json["error"])).toContain(reason);
      const uploaded = await api(site(B), "POST", "/api/sync/files/upload", { path: p, size: 1, hash: sha256("x"), blocks: [sha256("x")], mtimeMs: 1 });
      expect(uploaded.status, p).toBe(400);
      expect(String(uploaded.json["error"])).toContain(reason);
    }
    const excluded = await api(site(B), "POST", "/api/sync/files/upload", { path: "data/app.db", size: 1, hash: sha256("x"), blocks: [sha256("x")], mtimeMs: 1 });
    expect(excluded).toMatchObject({ status: 400, json: { code: "excluded" } });
    expect(readdirSync(site(B).instance).sort()).toEqual(before);
    expect(existsSync(path.join(site(B).root, "x"))).toBe(false);
  });

  it("rejects bytes that do not match their hash, and hashes that do not match their blocks, writing nothing", async () => {
    const upload = await api(site(A), "POST", "/api/sync/files/upload", { path: "fake.txt", size: 4, hash: sha256("real"), blocks: [sha256("real")], mtimeMs: 1, data: Buffer.from("fake").toString("base64") });
    expect(upload).toMatchObject({ status: 400, json: { code: "hash_mismatch" } });
    expect((await api(site(A), "GET", `/api/sync/files/download?hash=${"0".repeat(64)}`)).status).toBe(404);
    expect((await api(site(A), "GET", "/api/sync/files/download?hash=../../etc/passwd")).status).toBe(400);
    // A peer announcing a file with bytes that are not it: the bytes are dropped, the file is
    // never written, and the entry shows an error once no peer can supply the real bytes.
    const peer = "fedcba9876543210";
    const claimed = sha256("what the hash says");
    const res = await api(site(A), "POST", "/api/sync/files/apply", {
      from: peer,
      files: [{ path: "forged.txt", hash: claimed, size: 18, blocks: [claimed], vv: { [peer]: 1 }, stamp: stamp({ ms: Date.now(), counter: 0 }, peer), deleted: false, origin: peer }],
      blobs: { [claimed]: Buffer.from("something else!!!!").toString("base64") },
    });
    expect(res.status).toBe(200);
    // A file of two blocks whose hash is not the one its blocks make (the SHA-256 of all its
    // bytes, say): refused on upload with the reason, and left out of a peer's batch.
    const two = [sha256("first block"), sha256("second block")];
    const notOfBlocks = sha256("first blocksecond block");
    const big = await api(site(A), "POST", "/api/sync/files/upload", { path: "two.bin", size: 2 * 1024 * 1024, hash: notOfBlocks, blocks: two, mtimeMs: 1 });
    expect(big).toMatchObject({ status: 400, json: { code: "hash_mismatch" } });
    expect(String(big.json["error"])).toContain("is not the one its blocks make");
    const pushed = await api(site(A), "POST", "/api/sync/files/apply", {
      from: peer,
      files: [{ path: "two.bin", hash: notOfBlocks, size: 2 * 1024 * 1024, blocks: two, vv: { [peer]: 2 }, stamp: stamp({ ms: Date.now(), counter: 0 }, peer), deleted: false, origin: peer }],
    });
    expect(pushed).toMatchObject({ status: 200, json: { applied: 0, refused: 1 } });
    await waitUntil("forged.txt to show as an error", async () => (await filesStatus(site(A))).errors.some((e) => e.path === "forged.txt"), 30_000);
    for (const s of sites) expect(existsSync(path.join(s.instance, "forged.txt"))).toBe(false);
    expect(Object.keys(folderMap(site(A).instance))).not.toContain("forged.txt");
    const manifest = await api(site(A), "GET", "/api/sync/files/changes?since=0&limit=1000");
    expect((manifest.json["files"] as { path: string }[]).map((f) => f.path)).not.toContain("two.bin");
  });
});
