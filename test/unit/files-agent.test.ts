/**
 * The agent's file side on real temp folders, with the worker and the peers faked: hashing,
 * path safety, the materializer (verification, renames from local blocks, resume, refusals),
 * the uploader (no echo), the chunk server and the reload hook.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { FSWatcher } from "chokidar";
import { afterAll, describe, expect, it, vi } from "vitest";
import { CHUNK_SIZE, EMPTY_SHA256, INLINE_MAX, fileHash } from "../../functions/files/chunks.js";
import { createIgnoreMatcher, tempNameFor } from "../../functions/files/ignore.js";
import type { FileUpload, MaterializedItem, PendingFile, PendingPage } from "../../functions/wire/files.js";
import { Flusher, tempToken } from "../../local-agent/files/assemble.js";
import { startChunkServer } from "../../local-agent/files/chunk-server.js";
import { BlockBuffers } from "../../local-agent/files/block-buffers.js";
import { readLocalBlock } from "../../local-agent/files/blocks.js";
import { DiskMirror } from "../../local-agent/files/disk-mirror.js";
import type { BlockDownload } from "../../local-agent/files/fetch-block.js";
import { hashFile, StillChanging } from "../../local-agent/files/hash-file.js";
import { Materializer } from "../../local-agent/files/materializer.js";
import { OnChangeHook } from "../../local-agent/files/on-change.js";
import { InstanceRoot, PathRefused } from "../../local-agent/files/safe-fs.js";
import { Trash } from "../../local-agent/files/trash.js";
import { Uploader } from "../../local-agent/files/uploader.js";
import { FolderWatch, listFoldersOnly } from "../../local-agent/files/watcher.js";
import type { FilesApi } from "../../local-agent/files/worker-api.js";

const top = mkdtempSync(path.join(tmpdir(), "scoutsync-files-agent-"));
afterAll(() => rmSync(top, { recursive: true, force: true }));
let folders = 0;
const folder = () => {
  const d = path.join(top, `f${++folders}`);
  mkdirSync(d, { recursive: true });
  return d;
};
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const blocksOf = (b: Buffer) => Array.from({ length: Math.ceil(b.length / CHUNK_SIZE) }, (_, i) => sha(b.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE)));
/** A file's hash as sync defines it (fileHash): for more than one block, not the SHA-256 of its bytes. */
const hashOf = (b: Buffer) => fileHash(blocksOf(b), sha);
const bytes = (n: number, seed = 1) => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 10)) & 0xff;
  return b;
};
const waitFor = async (what: string, probe: () => boolean, ms = 5_000) => {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** A promise that resolves when `open` is called: holds a fake peer or worker answer back. */
const gate = () => {
  let open = (): void => undefined;
  const shut = new Promise<void>((resolve) => (open = resolve));
  return { shut, open };
};
const PEERS = [{ id: "p", url: "http://peer.invalid", site: "bbbbbbbb00000002" }];

/** A worker that only records what the agent tells it and hands out a fixed pending list. */
function fakeApi(pending: PendingFile[] = []) {
  const uploads: FileUpload[] = [];
  const materialized: MaterializedItem[] = [];
  const api: FilesApi = {
    hello: async () => undefined,
    upload: async (files) => {
      uploads.push(...files);
      return { versions: files.length, unchanged: 0, conflicts: 0 };
    },
    pending: async () => ({ peers: PEERS, files: pending.filter((f) => !materialized.some((m) => m.path === f.path && !("error" in m))) }),
    materialized: async (items) => void materialized.push(...items),
    async *manifest() {},
  };
  return { api, uploads, materialized };
}

function pendingFor(p: string, content: Buffer, over: Partial<PendingFile> = {}): PendingFile {
  return { path: p, hash: hashOf(content), size: content.length, blocks: blocksOf(content), deleted: false, dir: false, source: "bbbbbbbb00000002", disk: { hash: null, size: null, mtimeMs: null }, error: null, ...over };
}

/** A peer serving blocks from `store` (or whatever `serve` says), counting requests. */
function fakePeer(store: Map<string, Buffer>, serve?: (hash: string) => Buffer | undefined) {
  const counter = { requests: 0 };
  const download: BlockDownload = {
    get: async (url) => {
      counter.requests++;
      const hash = new URL(url).searchParams.get("hash") ?? "";
      return (serve ? serve(hash) : store.get(hash)) ?? null;
    },
  };
  return { download, counter };
}

async function materializer(dir: string, pending: PendingFile[], download: BlockDownload, extra: { foldsCase?: boolean; mirror?: DiskMirror } = {}) {
  const root = await InstanceRoot.open(dir);
  const mirror = extra.mirror ?? new DiskMirror();
  const fake = fakeApi(pending);
  const m = new Materializer({
    root,
    mirror,
    trash: new Trash(root, mirror),
    api: fake.api,
    matcher: () => createIgnoreMatcher(null),
    log: () => undefined,
    foldsCase: extra.foldsCase ?? false,
    onLanded: () => undefined,
    download,
  });
  return { m, root, mirror, ...fake };
}

describe("hashFile", () => {
  it("hashes the blocks in one pass and the file from them, keeping the bytes of small files", async () => {
    const dir = folder();
    const root = await InstanceRoot.open(dir);
    writeFileSync(path.join(dir, "empty"), "");
    const big = bytes(2 * CHUNK_SIZE + 123);
    writeFileSync(path.join(dir, "big.bin"), big);
    writeFileSync(path.join(dir, "small.txt"), "hello");
    expect(await hashFile(root, "empty")).toMatchObject({ size: 0, hash: EMPTY_SHA256, blocks: [] });
    const blocks = blocksOf(big);
    const digests = Buffer.concat(blocks.map((b) => Buffer.from(b, "hex")));
    expect(await hashFile(root, "big.bin")).toMatchObject({ size: big.length, hash: sha(digests), blocks });
    expect(sha(digests)).not.toBe(sha(big));
    expect((await hashFile(root, "big.bin"))?.data).toBeUndefined();
    const small = await hashFile(root, "small.txt");
    expect(small?.data?.toString()).toBe("hello");
    expect(small?.blocks).toEqual([small?.hash]);
    expect(await hashFile(root, "missing")).toBeNull();
  });

  it("a file that grew after it was opened (still being written) is read no further than its size then, and read again later", async () => {
    const dir = folder();
    const root = await InstanceRoot.open(dir);
    writeFileSync(path.join(dir, "growing.bin"), bytes(20 * 1024 * 1024));
    // What the open saw: the first byte of a file the writer is still filling.
    const early = Object.assign(Object.create(root) as InstanceRoot, {
      openRead: async (p: string) => {
        const opened = await root.openRead(p);
        return opened && { fd: opened.fd, stat: Object.assign(Object.create(opened.stat) as typeof opened.stat, { size: 1 }) };
      },
    });
    await expect(hashFile(early, "growing.bin")).rejects.toBeInstanceOf(StillChanging);
  });
});

describe("InstanceRoot", () => {
  it("never follows a link, in the file or on the way to it, and refuses special files", async () => {
    const dir = folder();
    const outside = folder();
    writeFileSync(path.join(outside, "secret"), "s");
    symlinkSync(path.join(outside, "secret"), path.join(dir, "link"));
    symlinkSync(outside, path.join(dir, "linkdir"));
    const root = await InstanceRoot.open(dir);
    await expect(root.openRead("link")).rejects.toBeInstanceOf(PathRefused);
    await expect(root.openRead("linkdir/secret")).rejects.toThrow(/symbolic link/);
    await expect(root.parentOf("linkdir/new.txt", true)).rejects.toBeInstanceOf(PathRefused);
    execFileSync("mkfifo", [path.join(dir, "fifo")]);
    await expect(root.openRead("fifo")).rejects.toThrow(/not a regular file/);
    expect(() => root.abs("../x")).toThrow(PathRefused);
    expect(root.rel(path.join(outside, "secret"))).toBeNull();
    expect(root.rel(path.join(dir, "a", "b.txt"))).toBe("a/b.txt");
  });
});

describe("DiskMirror", () => {
  it("finds blocks by hash and names that collide on a case-insensitive disk", () => {
    const m = new DiskMirror();
    m.set("a/One.txt", { size: 2, mtimeMs: 1, hash: "h", blocks: ["b1"] });
    m.set("two", { size: 2, mtimeMs: 1, hash: "h2", blocks: ["b2", "b1"] });
    expect(m.locate("b1").sort((x, y) => x.path.localeCompare(y.path))).toEqual([
      { path: "a/One.txt", index: 0, size: 2, mtimeMs: 1 },
      { path: "two", index: 1, size: 2, mtimeMs: 1 },
    ]);
    expect(m.caseTwin("a/one.TXT")).toBe("a/One.txt");
    expect(m.caseTwin("a/One.txt")).toBeNull();
    m.delete("two");
    expect(m.locate("b2")).toEqual([]);
  });
});

describe("readLocalBlock", () => {
  it("serves a peer a block unread by the hash while its file is as hashed, and checks it otherwise; a local copy is always checked", async () => {
    const dir = folder();
    const root = await InstanceRoot.open(dir);
    const file = path.join(dir, "a.bin");
    const content = bytes(CHUNK_SIZE + 10, 3);
    writeFileSync(file, content);
    // A whole second, which utimes sets exactly (a Date would round the stat's sub-millisecond part).
    const when = 1_700_000_000;
    utimesSync(file, when, when);
    const hashed = await hashFile(root, "a.bin");
    const mirror = new DiskMirror();
    mirror.set("a.bin", { size: hashed!.size, mtimeMs: hashed!.mtimeMs, hash: hashed!.hash, blocks: hashed!.blocks });
    const [b0, b1] = hashed!.blocks as [string, string];
    const pool = new CountingBuffers();
    expect(sha((await readLocalBlock(root, mirror, b1, pool))!)).toBe(b1);
    // Same size and mtime, other bytes (a tool that keeps the mtime): the stat cannot tell, so a
    // peer gets these bytes (and refuses them by their hash); a local copy looks and finds none.
    const other = Buffer.from(content);
    other[0] = other[0]! ^ 0xff;
    writeFileSync(file, other);
    utimesSync(file, when, when);
    expect(sha((await readLocalBlock(root, mirror, b0, pool))!)).not.toBe(b0);
    expect(await readLocalBlock(root, mirror, b0)).toBeNull();
    // A new mtime: checked for a peer too.
    utimesSync(file, when, when + 5);
    expect(pool.given).toBe(0);
    expect(await readLocalBlock(root, mirror, b0, pool)).toBeNull();
    // The block read and refused went back to the pool; the ones returned are the caller's to give.
    expect(pool.given).toBe(1);
    expect(sha((await readLocalBlock(root, mirror, b1, pool))!)).toBe(b1);
    expect(pool.taken).toBe(4);
  });
});

class CountingBuffers extends BlockBuffers {
  taken = 0;
  given = 0;
  override take(): Buffer {
    this.taken++;
    return super.take();
  }
  override give(buf: Buffer): void {
    this.given++;
    super.give(buf);
  }
}

describe("BlockBuffers", () => {
  it("hands a given buffer out again, whole, and keeps no more than it may", () => {
    const pool = new BlockBuffers(1024, 2);
    const a = pool.take();
    expect(a.length).toBe(1024);
    // A view from its start (a short last block) gives back the whole buffer.
    pool.give(a.subarray(0, 10));
    const again = pool.take();
    expect(again.buffer).toBe(a.buffer);
    expect(again.length).toBe(1024);
    // Not its own size, or a view that does not start at 0: not kept.
    pool.give(Buffer.allocUnsafeSlow(512));
    pool.give(again.subarray(10));
    expect(pool.take().buffer).not.toBe(a.buffer);
    const [x, y, z] = [pool.take(), pool.take(), pool.take()];
    for (const b of [x, y, z]) pool.give(b);
    const back = [pool.take(), pool.take(), pool.take()].map((b) => b.buffer);
    expect(back.filter((b) => b === x.buffer || b === y.buffer || b === z.buffer)).toHaveLength(2);
  });
});

describe("Materializer", () => {
  it("builds a file from peers' verified blocks, atomically, and reports it", async () => {
    const dir = folder();
    const content = bytes(2 * CHUNK_SIZE + 5, 2);
    const store = new Map(blocksOf(content).map((h, i) => [h, content.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE)] as const));
    const peer = fakePeer(store);
    const { m, materialized, mirror } = await materializer(dir, [pendingFor("sub/dir/data.bin", content)], peer.download);
    m.wake();
    await m.idle();
    expect(readFileSync(path.join(dir, "sub/dir/data.bin")).equals(content)).toBe(true);
    expect(materialized).toMatchObject([{ path: "sub/dir/data.bin", hash: hashOf(content), size: content.length }]);
    expect(m.stats.network).toBe(3);
    expect(mirror.get("sub/dir/data.bin")?.hash).toBe(hashOf(content));
    expect(readdirSync(path.join(dir, "sub/dir"))).toEqual(["data.bin"]);
  });

  it("does not hold the other blocks behind a slow one, and builds the file once it comes", async () => {
    const dir = folder();
    // 40 blocks, each different (its index in its first bytes).
    const content = bytes(40 * CHUNK_SIZE, 4);
    for (let i = 0; i < 40; i++) content.writeUInt32BE(i, i * CHUNK_SIZE);
    const blocks = blocksOf(content);
    const asked: number[] = [];
    const slow = gate();
    const download: BlockDownload = {
      get: async (url) => {
        const i = blocks.indexOf(new URL(url).searchParams.get("hash") ?? "");
        asked.push(i);
        if (i === 0) await slow.shut;
        return content.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE);
      },
    };
    const { m, materialized } = await materializer(dir, [pendingFor("big.bin", content)], download);
    m.wake();
    // Every other block is fetched while block 0 is out (nothing is hashed in order any more).
    await waitFor("every block asked for", () => asked.length >= 40);
    expect([...asked].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(materialized).toEqual([]);
    slow.open();
    await m.idle();
    expect(asked.length).toBe(40);
    expect(materialized).toMatchObject([{ path: "big.bin", hash: hashOf(content) }]);
    expect(sha(readFileSync(path.join(dir, "big.bin")))).toBe(sha(content));
  });

  it("writes up to 32 files of one block at once, and up to 8 larger ones beside them", async () => {
    const dir = folder();
    const small = Array.from({ length: 40 }, (_, i) => ({ name: `s${i}.json`, content: bytes(100, i + 1) }));
    const large = Array.from({ length: 12 }, (_, i) => ({ name: `l${i}.bin`, content: bytes(CHUNK_SIZE + 1, i + 100) }));
    const byBlock = new Map<string, { name: string; content: Buffer; block: number }>();
    for (const f of [...small, ...large]) blocksOf(f.content).forEach((h, block) => byBlock.set(h, { ...f, block }));
    const out = new Set<string>();
    const held = gate();
    const download: BlockDownload = {
      get: async (url) => {
        const f = byBlock.get(new URL(url).searchParams.get("hash") ?? "")!;
        out.add(f.name);
        await held.shut;
        return f.content.subarray(f.block * CHUNK_SIZE, (f.block + 1) * CHUNK_SIZE);
      },
    };
    const { m, materialized } = await materializer(dir, [...small, ...large].map((f) => pendingFor(f.name, f.content)), download);
    m.wake();
    const names = (prefix: string) => [...out].filter((n) => n.startsWith(prefix)).length;
    await waitFor("both lanes to fill", () => names("s") === 32 && names("l") === 8);
    // Nothing more starts while those are out.
    await new Promise((r) => setTimeout(r, 50));
    expect([names("s"), names("l")]).toEqual([32, 8]);
    held.open();
    await m.idle();
    expect(materialized.filter((i) => !("error" in i))).toHaveLength(52);
    for (const f of [...small, ...large]) expect(readFileSync(path.join(dir, f.name)).equals(f.content)).toBe(true);
  });

  it("a file stays in flight until the worker has its report: a poll listing it meanwhile leaves it alone", async () => {
    const dir = folder();
    const content = bytes(300, 3);
    const f = pendingFor("report.json", content);
    const { m, api, materialized } = await materializer(dir, [f], fakePeer(new Map([[sha(content), content]])).download);
    const record = api.materialized;
    const held = gate();
    let reports = 0;
    api.materialized = async (items) => {
      reports++;
      await held.shut;
      return record(items);
    };
    m.wake({ peers: PEERS, files: [f] });
    await waitFor("the file written and its report sent", () => reports === 1);
    expect(readFileSync(path.join(dir, "report.json")).equals(content)).toBe(true);
    // A poll now still finds it pending (the worker has no report yet).
    m.wake();
    await new Promise((r) => setTimeout(r, 50));
    held.open();
    await m.idle();
    expect(reports).toBe(1);
    expect(materialized).toMatchObject([{ path: "report.json", hash: sha(content) }]);
  });

  it("a poll whose list was asked for before a report came back leaves what that report landed", async () => {
    const dir = folder();
    const content = bytes(300, 4);
    const f = pendingFor("stale.json", content);
    const { m, api, materialized } = await materializer(dir, [f], fakePeer(new Map([[sha(content), content]])).download);
    const list = api.pending;
    const held = gate();
    let asked = 0;
    api.pending = async (limit) => {
      asked++;
      const page = await list(limit);
      await held.shut;
      return page;
    };
    m.wake();
    await waitFor("the poll to ask", () => asked === 1);
    m.wake({ peers: PEERS, files: [f] });
    await waitFor("the handed file reported", () => materialized.length === 1);
    held.open();
    await m.idle();
    expect(materialized).toHaveLength(1);
  });

  it("a first block no peer has does not hold the others back: they are fetched into the temp file, and the file waits", async () => {
    const dir = folder();
    const content = bytes(40 * CHUNK_SIZE, 5);
    for (let i = 0; i < 40; i++) content.writeUInt32BE(i, i * CHUNK_SIZE);
    const blocks = blocksOf(content);
    const asked = new Set<number>();
    const download: BlockDownload = {
      get: async (url) => {
        const i = blocks.indexOf(new URL(url).searchParams.get("hash") ?? "");
        asked.add(i);
        return i === 0 ? null : content.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE);
      },
    };
    const { m, materialized } = await materializer(dir, [pendingFor("big.bin", content)], download);
    m.wake();
    await m.idle();
    // Every block was asked for (none waited forever behind block 0), nothing was written.
    expect(asked.size).toBe(40);
    expect(materialized).toEqual([]);
    expect(existsSync(path.join(dir, "big.bin"))).toBe(false);
    // What did arrive is kept in the temp file for the next try.
    const temp = readdirSync(dir).find((n) => n !== "big.bin");
    expect(temp).toBeDefined();
    expect(statSync(path.join(dir, temp!)).size).toBe(40 * CHUNK_SIZE);
  });

  it("a handed-over file that could not be fetched is retried at the busy poll, not after the idle one", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    try {
      const dir = folder();
      const content = bytes(1000, 8);
      let serving = false;
      const peer = fakePeer(new Map([[sha(content), content]]), (h) => (serving && h === sha(content) ? content : undefined));
      const f = pendingFor("late.bin", content);
      // What the worker lists as pending: nothing until the file arrives.
      const pending: PendingFile[] = [];
      const { m } = await materializer(dir, pending, peer.download);
      m.start();
      await m.idle();
      // The start's poll finds nothing: from then on the poll is at the idle pace.
      vi.advanceTimersByTime(2_000);
      await m.idle();
      pending.push(f);
      m.wake({ peers: PEERS, files: [f] });
      await m.idle();
      expect(existsSync(path.join(dir, "late.bin")), "no peer could serve it yet").toBe(false);
      serving = true;
      vi.advanceTimersByTime(2_000);
      await m.idle();
      expect(readFileSync(path.join(dir, "late.bin")).equals(content), "fetched at the next busy poll").toBe(true);
      await m.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it("an entry no peer can supply is retried as its backoff allows, without polling at the busy pace meanwhile", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    try {
      const dir = folder();
      const peer = fakePeer(new Map());
      const { m, api } = await materializer(dir, [pendingFor("nowhere.bin", bytes(1000, 9))], peer.download);
      let polls = 0;
      const pending = api.pending.bind(api);
      api.pending = (limit) => (polls++, pending(limit));
      m.start();
      for (let s = 0; s < 120; s++) {
        await vi.advanceTimersByTimeAsync(1_000);
        await m.idle();
      }
      // Backoff 1, 2, 4 … 64 s (jittered into their upper half): about seven tries in two minutes.
      expect(peer.counter.requests, "still tried again and again").toBeGreaterThanOrEqual(5);
      expect(polls, "not a poll every 2 s (60) while it waits").toBeLessThan(20);
      expect(existsSync(path.join(dir, "nowhere.bin"))).toBe(false);
      await m.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it("refuses blocks whose bytes do not match their hash: nothing is written", async () => {
    const dir = folder();
    const content = bytes(1000, 3);
    const peer = fakePeer(new Map(), () => bytes(1000, 4));
    const { m, materialized } = await materializer(dir, [pendingFor("x.bin", content)], peer.download);
    m.wake();
    await m.idle();
    expect(existsSync(path.join(dir, "x.bin"))).toBe(false);
    expect(m.stats.corrupt).toBe(1);
    expect(materialized).toEqual([]);
  });

  it("refuses a file whose hash is not the one its blocks make: nothing is fetched or written", async () => {
    const dir = folder();
    const content = bytes(CHUNK_SIZE + 10, 5);
    const store = new Map(blocksOf(content).map((h, i) => [h, content.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE)] as const));
    const peer = fakePeer(store);
    // The SHA-256 of all its bytes, as manifests before fileHash held it: not this file's hash now.
    const { m, materialized } = await materializer(dir, [pendingFor("y.bin", content, { hash: sha(content) })], peer.download);
    m.wake();
    await m.idle();
    expect(readdirSync(dir)).toEqual([]);
    expect(peer.counter.requests).toBe(0);
    expect(materialized).toMatchObject([{ path: "y.bin", error: expect.stringMatching(/do not make its hash/) }]);
  });

  it("takes blocks from files already on disk (a rename sends no bytes) and resumes a partial temp file", async () => {
    const dir = folder();
    const content = bytes(3 * CHUNK_SIZE, 6);
    writeFileSync(path.join(dir, "old.bin"), content);
    const root = await InstanceRoot.open(dir);
    const mirror = new DiskMirror();
    const h = await hashFile(root, "old.bin");
    mirror.set("old.bin", { size: h!.size, mtimeMs: h!.mtimeMs, hash: h!.hash, blocks: h!.blocks });
    const peer = fakePeer(new Map());
    const { m } = await materializer(dir, [pendingFor("new.bin", content)], peer.download, { mirror });
    m.wake();
    await m.idle();
    expect(readFileSync(path.join(dir, "new.bin")).equals(content)).toBe(true);
    expect(peer.counter.requests).toBe(0);
    expect(m.stats.local).toBe(3);

    // Resume: the first block of another version is already in its temp file.
    const other = Buffer.concat([content.subarray(0, CHUNK_SIZE), bytes(10, 7)]);
    const f = pendingFor("again.bin", other);
    writeFileSync(path.join(dir, tempNameFor("again.bin", tempToken("again.bin", f.hash!))), other.subarray(0, CHUNK_SIZE));
    const store = new Map([[f.blocks[1]!, other.subarray(CHUNK_SIZE)]]);
    const r = await materializer(dir, [f], fakePeer(store).download);
    r.m.wake();
    await r.m.idle();
    expect(readFileSync(path.join(dir, "again.bin")).equals(other)).toBe(true);
    expect(r.m.stats).toMatchObject({ resumed: 1, network: 1 });
  });

  it("writes through no link and refuses a name that only differs by case on a case-insensitive disk", async () => {
    const dir = folder();
    const outside = folder();
    symlinkSync(outside, path.join(dir, "escape"));
    writeFileSync(path.join(dir, "Notes.txt"), "mine");
    const content = Buffer.from("theirs");
    const peer = fakePeer(new Map([[sha(content), content]]));
    const { m, materialized } = await materializer(dir, [pendingFor("escape/x.txt", content), pendingFor("notes.txt", content)], peer.download, { foldsCase: true });
    m.wake();
    await m.idle();
    expect(readdirSync(outside)).toEqual([]);
    expect(readFileSync(path.join(dir, "Notes.txt"), "utf8")).toBe("mine");
    expect(materialized).toEqual(
      expect.arrayContaining([
        { path: "escape/x.txt", error: expect.stringMatching(/symbolic link/) },
        { path: "notes.txt", error: expect.stringMatching(/case-insensitive/) },
      ]),
    );
  });

  it("does not write back a version it wrote that the app has deleted since (a stale pending list must not undo the delete)", async () => {
    const dir = folder();
    const content = Buffer.from("consumed by the app");
    const mirror = new DiskMirror();
    const entry = pendingFor("inbox/scan.json", content);
    const { m, materialized } = await materializer(dir, [entry], fakePeer(new Map([[sha(content), content]])).download, { mirror });
    m.wake();
    await m.idle();
    expect(readFileSync(path.join(dir, "inbox", "scan.json"), "utf8")).toBe("consumed by the app");
    rmSync(path.join(dir, "inbox", "scan.json"));
    // A wake listed before the write was reported hands the same entry over again.
    m.wake({ peers: PEERS, files: [entry] });
    await m.idle();
    expect(existsSync(path.join(dir, "inbox", "scan.json"))).toBe(false);
    expect(materialized).toHaveLength(1);

    // The same after the uploader's report of the delete was recorded (the mirror forgot the file).
    mirror.noteDeleted("inbox/scan.json", sha(content));
    mirror.delete("inbox/scan.json");
    m.wake({ peers: PEERS, files: [entry] });
    await m.idle();
    expect(existsSync(path.join(dir, "inbox", "scan.json"))).toBe(false);
    expect(materialized).toHaveLength(1);
  });

  it("remembers a recorded local delete for a while only (the same content sent again later is written)", () => {
    const mirror = new DiskMirror();
    mirror.noteDeleted("a.json", "h1", 1_000);
    mirror.noteDeleted("b.json", "h2", 5_000);
    expect(mirror.deletedLately("a.json", 10_000, 9_000)).toBe("h1");
    expect(mirror.deletedLately("a.json", 10_000, 11_000)).toBeUndefined();
    expect(mirror.deletedLately("b.json", 10_000, 11_000)).toBe("h2");
  });

  it("never replaces a file changed since the manifest saw it, and deletes into the trash", async () => {
    const dir = folder();
    writeFileSync(path.join(dir, "edited.txt"), "local edit not uploaded yet");
    writeFileSync(path.join(dir, "gone.txt"), "bye");
    const root = await InstanceRoot.open(dir);
    const mirror = new DiskMirror();
    const g = await hashFile(root, "gone.txt");
    mirror.set("gone.txt", { size: g!.size, mtimeMs: g!.mtimeMs, hash: g!.hash, blocks: g!.blocks });
    const content = Buffer.from("remote");
    const pending = [
      pendingFor("edited.txt", content, { disk: { hash: "a".repeat(64), size: 3, mtimeMs: 1 } }),
      { ...pendingFor("gone.txt", Buffer.alloc(0)), hash: null, size: 0, blocks: [], deleted: true, disk: { hash: g!.hash, size: g!.size, mtimeMs: g!.mtimeMs } },
    ];
    const { m, materialized } = await materializer(dir, pending, fakePeer(new Map([[sha(content), content]])).download, { mirror });
    m.wake();
    await m.idle();
    expect(readFileSync(path.join(dir, "edited.txt"), "utf8")).toBe("local edit not uploaded yet");
    expect(existsSync(path.join(dir, "gone.txt"))).toBe(false);
    expect(readFileSync(path.join(dir, ".scoutsync/trash", g!.hash), "utf8")).toBe("bye");
    expect(materialized).toEqual([{ path: "gone.txt", hash: null, size: 0, mtimeMs: 0 }]);
  });
});

describe("after a conflict", () => {
  it("the upload that met received versions says so, and the version put off by that local edit is written at once, not after its backoff", async () => {
    const dir = folder();
    writeFileSync(path.join(dir, "scores.json"), "ours");
    const theirs = Buffer.from("theirs");
    // Received while our edit was on its way: put off (the edit wins over a version it never saw).
    const pending = [pendingFor("scores.json", theirs, { disk: { hash: "a".repeat(64), size: 3, mtimeMs: 1 } })];
    const { m, root, mirror, api } = await materializer(dir, pending, fakePeer(new Map([[sha(theirs), theirs]])).download);
    m.wake();
    await m.idle();
    expect(readFileSync(path.join(dir, "scores.json"), "utf8")).toBe("ours");

    // Our upload meets it: the worker keeps "theirs" at the path (and ours as a conflict copy) and answers so.
    const conflicted: string[] = [];
    const upload = api.upload;
    api.upload = async (files) => ({ ...(await upload(files)), conflicts: files.length });
    const up = new Uploader({ root, mirror, api, matcher: () => createIgnoreMatcher(null), log: () => undefined, settleMs: 1, onConflicts: (paths) => {
      conflicted.push(...paths);
      const ours = statSync(path.join(dir, "scores.json"));
      pending[0] = { ...pending[0]!, disk: { hash: sha(Buffer.from("ours")), size: ours.size, mtimeMs: ours.mtimeMs } };
      m.retryNow(paths);
    } });
    up.notice("scores.json");
    await up.idle();
    await m.idle();
    expect(conflicted).toEqual(["scores.json"]);
    expect(readFileSync(path.join(dir, "scores.json"), "utf8"), "written by the retry, with no poll running").toBe("theirs");
    await up.stop();
  });
});

describe("Uploader", () => {
  it("reports new, changed and deleted files once, and not what it already knows", async () => {
    const dir = folder();
    const root = await InstanceRoot.open(dir);
    const mirror = new DiskMirror();
    const { api, uploads } = fakeApi();
    const up = new Uploader({ root, mirror, api, matcher: () => createIgnoreMatcher(null), log: () => undefined, settleMs: 1, recheckMs: 5 });
    writeFileSync(path.join(dir, "a.txt"), "one");
    writeFileSync(path.join(dir, "app.db"), "never");
    up.notice("a.txt");
    up.notice("app.db");
    await up.idle();
    expect(uploads).toMatchObject([{ path: "a.txt", hash: sha(Buffer.from("one")), data: Buffer.from("one").toString("base64") }]);
    up.notice("a.txt");
    await up.idle();
    expect(uploads).toHaveLength(1);
    writeFileSync(path.join(dir, "a.txt"), "two!");
    up.notice("a.txt");
    await up.idle();
    rmSync(path.join(dir, "a.txt"));
    up.notice("a.txt");
    await up.idle();
    // Each report says what the agent knew there before (the worker's disk columns may lag behind it).
    expect(uploads[0]).not.toHaveProperty("was");
    expect(uploads.slice(1)).toEqual([
      expect.objectContaining({ path: "a.txt", hash: sha(Buffer.from("two!")), was: sha(Buffer.from("one")) }),
      { path: "a.txt", deleted: true, was: sha(Buffer.from("two!")) },
    ]);
    expect(mirror.get("a.txt")).toBeUndefined();
    const big = bytes(INLINE_MAX + 1);
    writeFileSync(path.join(dir, "big"), big);
    up.noticeNow(["big"]);
    await up.idle();
    expect(uploads.at(-1)).toMatchObject({ path: "big", hash: hashOf(big) });
    expect(uploads.at(-1)).not.toHaveProperty("data");
    await up.stop();
  });

  it("uploads a batch in order while the rest is still being hashed, and sends again whatever a failed upload did not record", async () => {
    const dir = folder();
    const root = await InstanceRoot.open(dir);
    const names = Array.from({ length: 12 }, (_, i) => `f${String(i).padStart(2, "0")}.bin`);
    for (const [i, n] of names.entries()) writeFileSync(path.join(dir, n), bytes(INLINE_MAX * 4, i));
    const calls: string[][] = [];
    const { api } = fakeApi();
    const recorded: string[] = [];
    api.upload = async (files) => {
      calls.push(files.map((f) => f.path));
      if (calls.length === 2) throw new Error("worker restarting");
      recorded.push(...files.map((f) => f.path));
      return { versions: files.length, unchanged: 0, conflicts: 0 };
    };
    const log: string[] = [];
    // One file at a time: the first is uploaded while the second is being read.
    const up = new Uploader({ root, mirror: new DiskMirror(), api, matcher: () => createIgnoreMatcher(null), log: (l) => log.push(l), settleMs: 1, recheckMs: 5, concurrency: 1 });
    up.noticeNow(names);
    await waitFor("every file recorded", () => recorded.length >= names.length);
    await up.idle();
    expect(calls[0]!.length).toBeLessThan(names.length);
    expect(calls.length).toBeGreaterThan(2);
    // Each recorded once, in order; the failed call's files were sent again.
    expect(recorded).toEqual(names);
    expect(calls.flat().length).toBe(names.length + calls[1]!.length);
    await up.stop();
  });
});

describe("Uploader and files being written", () => {
  it("holds back an empty file changed a moment ago (an app that opened it and has not written yet), and reports it once it stays empty", async () => {
    const dir = folder();
    const { api, uploads } = fakeApi();
    const root = await InstanceRoot.open(dir);
    const waiting = new Uploader({ root, mirror: new DiskMirror(), api, matcher: () => createIgnoreMatcher(null), log: () => undefined, settleMs: 1, recheckMs: 5, emptySettleMs: 60_000 });
    writeFileSync(path.join(dir, "scan.json"), "");
    waiting.notice("scan.json");
    for (let i = 0; i < 500 && waiting.emptyDeferred === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(waiting.emptyDeferred).toBe(1);
    writeFileSync(path.join(dir, "scan.json"), '{"scan": 1}');
    waiting.notice("scan.json");
    await waiting.idle();
    expect(uploads).toMatchObject([{ path: "scan.json", size: 11, hash: sha(Buffer.from('{"scan": 1}')) }]);
    await waiting.stop();

    const prompt = new Uploader({ root, mirror: new DiskMirror(), api, matcher: () => createIgnoreMatcher(null), log: () => undefined, settleMs: 1, recheckMs: 5, emptySettleMs: 20 });
    writeFileSync(path.join(dir, "empty.txt"), "");
    prompt.notice("empty.txt");
    await prompt.idle();
    expect(uploads.at(-1)).toMatchObject({ path: "empty.txt", size: 0, hash: sha(Buffer.alloc(0)) });
    await prompt.stop();
  });
});

describe("Uploader and new folders", () => {
  it("asks for a new folder's listing unless the caller listed it already (a rescan's own folders)", async () => {
    const dir = folder();
    mkdirSync(path.join(dir, "scanned", "deeper"), { recursive: true });
    mkdirSync(path.join(dir, "moved-in"));
    const { api, uploads } = fakeApi();
    const listings: string[] = [];
    const up = new Uploader({ root: await InstanceRoot.open(dir), mirror: new DiskMirror(), api, matcher: () => createIgnoreMatcher(null), log: () => undefined, settleMs: 1, recheckMs: 5, onFolder: (p) => listings.push(p) });
    up.noticeNow(["scanned", "scanned/deeper"], new Set(["scanned", "scanned/deeper"]));
    await up.idle();
    up.notice("moved-in");
    await up.idle();
    // The second report of a listed folder (a watcher event) is listed as usual.
    up.notice("scanned");
    await up.idle();
    expect(listings).toEqual(["moved-in", "scanned"]);
    expect(uploads.map((u) => u.path).sort()).toEqual(["moved-in", "scanned", "scanned/deeper"]);
    await up.stop();
  });
});

describe("FolderWatch", () => {
  it("counts the raw events of each drain of inotify's queue, excluded and temp names too (the burst rule of functions/files/rescan.ts)", async () => {
    const dir = folder();
    const drains: number[] = [];
    const seen = new Set<string>();
    const w = new FolderWatch({ root: await InstanceRoot.open(dir), ignores: () => false, onPath: (p) => seen.add(p), onError: () => undefined, onDrain: (n) => drains.push(n) });
    await w.start();
    try {
      // Written in one turn of this event loop, so the queue fills before the watcher reads it: one drain.
      for (let i = 0; i < 50; i++) writeFileSync(path.join(dir, `f${i}.json`), "{}");
      writeFileSync(path.join(dir, tempNameFor("f0.json", "0".repeat(32))), "{}");
      for (let i = 0; i < 300 && !seen.has("f49.json"); i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setImmediate(r));
      expect(seen.size).toBe(50);
      // Each write is at least a create and a modify (the temp file's too, though it is never named).
      expect(drains.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(102);
      expect(Math.max(...drains), "one drain holds the whole burst").toBeGreaterThanOrEqual(102);
    } finally {
      w.close();
    }
  });

  it("lists a new folder's entries once more after it appeared (files written before any watch on it was up are not left to the 60 s rescan)", async () => {
    const dir = folder();
    const outside = folder();
    const seen = new Set<string>();
    const w = new FolderWatch({ root: await InstanceRoot.open(dir), ignores: () => false, onPath: (p) => seen.add(p), onError: () => undefined, onDrain: () => undefined });
    await w.start();
    try {
      // Moved in whole: no event names the file inside, only the folder's listing can.
      mkdirSync(path.join(outside, "burst"));
      writeFileSync(path.join(outside, "burst", "a.json"), "{}");
      renameSync(path.join(outside, "burst"), path.join(dir, "burst"));
      for (let i = 0; i < 300 && !seen.has("burst/a.json"); i++) await new Promise((r) => setTimeout(r, 10));
      expect(seen, "named by the late listing").toContain("burst/a.json");
      // chokidar found the new folder in a listing of folders only, and watches it.
      writeFileSync(path.join(dir, "burst", "b.json"), "{}");
      for (let i = 0; i < 300 && !seen.has("burst/b.json"); i++) await new Promise((r) => setTimeout(r, 10));
      expect(seen, "heard through the new folder's watch").toContain("burst/b.json");
    } finally {
      w.close();
    }
  });
});

describe("chokidar's folder listings", () => {
  it("hold folders only, each with its directory entry for stats, and never look at a file", async () => {
    const dir = folder();
    for (const sub of ["a", "b"]) mkdirSync(path.join(dir, sub));
    for (let i = 0; i < 50; i++) writeFileSync(path.join(dir, `f${i}.json`), "{}");
    symlinkSync(path.join(dir, "f0.json"), path.join(dir, "link.json"));
    // The hook this relies on: a chokidar that lists some other way must fail here, not go slow.
    expect(typeof FSWatcher.prototype._readdirp).toBe("function");
    const w = new FSWatcher({});
    try {
      listFoldersOnly(w);
      const filtered: string[] = [];
      const fileFilter = vi.fn(() => true);
      const stream = w._readdirp(dir, {
        fileFilter,
        directoryFilter: (entry) => {
          filtered.push(`${entry.basename}:${entry.stats?.isDirectory()}`);
          return true;
        },
      });
      const listed: string[] = [];
      for await (const entry of stream ?? []) {
        const e = entry as { basename: string; stats?: { isDirectory(): boolean; isSymbolicLink(): boolean } };
        listed.push(`${e.basename}:${e.stats?.isDirectory()}:${e.stats?.isSymbolicLink()}`);
      }
      expect(listed.sort()).toEqual(["a:true:false", "b:true:false"]);
      expect(filtered.sort()).toEqual(["a:true", "b:true"]);
      expect(fileFilter).not.toHaveBeenCalled();
    } finally {
      await w.close();
    }
  });

  it("give chokidar each folder's name and full path, leave out what the filter refuses, and list a folder that is gone as empty", async () => {
    const dir = folder();
    for (const sub of ["keep", "skip"]) mkdirSync(path.join(dir, sub));
    const w = new FSWatcher({});
    try {
      listFoldersOnly(w);
      const list = async (root: string) => {
        const out: string[] = [];
        for await (const entry of w._readdirp(root, { directoryFilter: (e) => e.basename !== "skip" }) ?? []) {
          const e = entry as { path: string; fullPath: string };
          out.push(`${e.path} ${e.fullPath}`);
        }
        return out;
      };
      expect(await list(dir)).toEqual([`keep ${path.join(dir, "keep")}`]);
      expect(await list(path.join(dir, "gone"))).toEqual([]);
      writeFileSync(path.join(dir, "file"), "");
      expect(await list(path.join(dir, "file")), "a folder that became a file").toEqual([]);
    } finally {
      await w.close();
    }
    expect(w._readdirp(dir), "no listing once closed").toBeUndefined();
  });
});

/** The inotify watches this process holds (Linux: one line per watch in its inotify descriptors' fdinfo). */
function inotifyWatches(): number {
  let n = 0;
  for (const fd of readdirSync("/proc/self/fdinfo")) {
    try {
      n += readFileSync(`/proc/self/fdinfo/${fd}`, "utf8").split("\n").filter((l) => l.startsWith("inotify wd:")).length;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

describe("FolderWatch and files", () => {
  it("hears files through their folder's watch: creates, edits, deletes and both names of a rename, with one inotify watch per folder", async () => {
    const dir = folder();
    for (const sub of ["a", "b"]) {
      mkdirSync(path.join(dir, sub));
      for (let i = 0; i < 100; i++) writeFileSync(path.join(dir, sub, `f${i}.json`), "{}");
    }
    const seen = new Set<string>();
    const before = inotifyWatches();
    const w = new FolderWatch({ root: await InstanceRoot.open(dir), ignores: () => false, onPath: (p) => seen.add(p), onError: () => undefined, onDrain: () => undefined });
    await w.start();
    try {
      expect(inotifyWatches() - before, "the root and two folders, not 200 files").toBe(3);
      const waitFor = async (p: string) => {
        for (let i = 0; i < 300 && !seen.has(p); i++) await new Promise((r) => setTimeout(r, 10));
        expect(seen, p).toContain(p);
      };
      writeFileSync(path.join(dir, "top.txt"), "new");
      await waitFor("top.txt");
      writeFileSync(path.join(dir, "a", "f1.json"), '{"edited":true}');
      await waitFor("a/f1.json");
      rmSync(path.join(dir, "b", "f2.json"));
      await waitFor("b/f2.json");
      renameSync(path.join(dir, "a", "f3.json"), path.join(dir, "b", "moved.json"));
      await waitFor("a/f3.json");
      await waitFor("b/moved.json");
      // The materializer's temp file is never named; its rename into place is.
      const temp = tempNameFor("a/landed.json", "0".repeat(32));
      writeFileSync(path.join(dir, ...temp.split("/")), "{}");
      renameSync(path.join(dir, ...temp.split("/")), path.join(dir, "a", "landed.json"));
      await waitFor("a/landed.json");
      expect([...seen].filter((p) => p.includes(".scoutsync-tmp-"))).toEqual([]);
      expect(inotifyWatches() - before, "new files bring no watches of their own").toBe(3);
    } finally {
      w.close();
    }
  });
});

describe("chunk server", () => {
  it("serves verified blocks to the token holder only, says when each is sent, and passes wakes on", async () => {
    const blocks = new Map([["a".repeat(64), Buffer.from("block")]]);
    const wakes: (PendingPage | null)[] = [];
    const sent: Buffer[] = [];
    const srv = await startChunkServer({ token: "t".repeat(64), getBlock: async (h) => blocks.get(h) ?? null, sent: (b) => sent.push(b), onWake: (p) => wakes.push(p), log: () => undefined });
    const base = `http://127.0.0.1:${srv.port}`;
    const auth = { authorization: `Bearer ${"t".repeat(64)}` };
    try {
      expect((await fetch(`${base}/chunk/${"a".repeat(64)}`)).status).toBe(403);
      const ok = await fetch(`${base}/chunk/${"a".repeat(64)}`, { headers: auth });
      expect(await ok.text()).toBe("block");
      // Its buffer may be reused once the whole of it was handed to the socket.
      await waitFor("the block reported sent", () => sent.length > 0);
      expect(sent).toEqual([blocks.get("a".repeat(64))]);
      expect((await fetch(`${base}/chunk/${"b".repeat(64)}`, { headers: auth })).status).toBe(404);
      expect((await fetch(`${base}/chunk/nothex`, { headers: auth })).status).toBe(400);
      await fetch(`${base}/wake`, { method: "POST", headers: auth });
      const page: PendingPage = { peers: [], files: [] };
      await fetch(`${base}/wake`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify(page) });
      expect(wakes).toEqual([null, page]);
      expect(srv.stats).toMatchObject({ chunks: 1, misses: 1 });
    } finally {
      await srv.close();
    }
  });
});

describe("OnChangeHook", () => {
  it("runs the command and posts the paths once per burst", async () => {
    const dir = folder();
    const posted: unknown[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        posted.push(JSON.parse(body));
        res.end("ok");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const lines: string[] = [];
    const out = path.join(dir, "ran.txt");
    const hook = new OnChangeHook({
      command: `printf '%s' "$SCOUTSYNC_CHANGED_COUNT" >> ${JSON.stringify(out)}; echo done`,
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/reload`,
      log: (l) => lines.push(l),
      debounceMs: 20,
    });
    hook.add(["b.txt"]);
    hook.add(["a.txt", "b.txt"]);
    await waitFor("the hook to run", () => hook.runs === 1);
    expect(readFileSync(out, "utf8")).toBe("2");
    expect(posted).toEqual([{ paths: ["a.txt", "b.txt"] }]);
    expect(lines).toContain("[on-change] done");
    await hook.stop();
    server.close();
  });
});

describe("FileSync (watcher, scan, uploader together)", () => {
  it("reports files, folders moved in and out, deletes, and honours .syncignore and links", async () => {
    const { FileSync } = await import("../../local-agent/files/file-sync.js");
    const dir = folder();
    writeFileSync(path.join(dir, "before-start.txt"), "found by the startup scan");
    const { api, uploads } = fakeApi();
    const fs = await FileSync.start({ instance: dir, api, token: "t".repeat(64), log: () => undefined, settleMs: 5, foldsCase: false });
    const seen = (p: string, deleted = false) => uploads.some((u) => u.path === p && (u.deleted === true) === deleted);
    try {
      await fs.ready();
      expect(seen("before-start.txt")).toBe(true);
      writeFileSync(path.join(dir, "a.txt"), "a");
      await waitFor("a.txt", () => seen("a.txt"));
      mkdirSync(path.join(dir, "d/sub"), { recursive: true });
      writeFileSync(path.join(dir, "d/x.txt"), "x");
      writeFileSync(path.join(dir, "d/sub/y.txt"), "y");
      await waitFor("d/x.txt and d/sub/y.txt", () => seen("d/x.txt") && seen("d/sub/y.txt"));
      execFileSync("mv", [path.join(dir, "d"), path.join(dir, "e")]);
      await waitFor("the folder move", () => seen("d/x.txt", true) && seen("d/sub/y.txt", true) && seen("e/x.txt") && seen("e/sub/y.txt"));
      rmSync(path.join(dir, "e"), { recursive: true });
      await waitFor("the folder removal", () => seen("e/x.txt", true) && seen("e/sub/y.txt", true));
      writeFileSync(path.join(dir, ".syncignore"), "*.draft\n");
      await waitFor(".syncignore", () => seen(".syncignore"));
      await new Promise((r) => setTimeout(r, 200));
      writeFileSync(path.join(dir, "plan.draft"), "not yet");
      writeFileSync(path.join(dir, "notes.db"), "never");
      symlinkSync("/etc/hostname", path.join(dir, "link"));
      writeFileSync(path.join(dir, "marker.txt"), "after");
      await waitFor("marker.txt", () => seen("marker.txt"));
      await new Promise((r) => setTimeout(r, 100));
      expect(uploads.map((u) => u.path)).not.toEqual(expect.arrayContaining(["plan.draft"]));
      expect(uploads.map((u) => u.path)).not.toContain("notes.db");
      expect(uploads.map((u) => u.path)).not.toContain("link");
    } finally {
      await fs.stop();
    }
  });
});

describe("Flusher (a large received file is flushed to disk as it arrives)", () => {
  function flushes() {
    const started: (() => void)[] = [];
    const failWith: { err: Error | null } = { err: null };
    const flush = () =>
      new Promise<void>((resolve, reject) => {
        started.push(() => (failWith.err ? reject(failWith.err) : resolve()));
      });
    return { started, failWith, flusher: new Flusher(flush, 100) };
  }

  it("starts a flush every `every` bytes, never two at once, and waits for the one running", async () => {
    const { started, flusher } = flushes();
    flusher.wrote(60);
    expect(started).toHaveLength(0);
    flusher.wrote(60);
    expect(started).toHaveLength(1);
    // 300 more bytes while it runs: no second flush beside it.
    flusher.wrote(300);
    expect(started).toHaveLength(1);
    let idle = false;
    const waiting = flusher.idle().then(() => (idle = true));
    await Promise.resolve();
    expect(idle).toBe(false);
    started[0]!();
    await waiting;
    // The bytes written meanwhile start the next one.
    flusher.wrote(1);
    expect(started).toHaveLength(2);
    started[1]!();
    await expect(flusher.settle()).resolves.toBeUndefined();
  });

  it("keeps a flush's failure for settle, so the file is not taken as written", async () => {
    const { started, failWith, flusher } = flushes();
    failWith.err = new Error("EIO");
    flusher.wrote(100);
    started[0]!();
    await flusher.idle();
    await expect(flusher.settle()).rejects.toThrow("EIO");
  });
});
