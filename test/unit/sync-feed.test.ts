/**
 * The replication loop (worker/sync/feed.ts) over a real state database and a scripted peer:
 * a push the peer defers moves no checkpoint, and a pull that is streaming takes pushes over.
 */
import { createClient, type Client } from "@libsql/client";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/libsql";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import type { Services } from "../../worker/services.js";
import { migrate } from "../../worker/state/migrate.js";
import * as schema from "../../worker/state/schema.js";
import { noteServed, pullFeed, pageLimit, pullTakesOver, pushFeed, type Feed, type FeedPage } from "../../worker/sync/feed.js";
import { notePulled, rowsReached, roundDueInMs, tickPeer } from "../../worker/sync/peers.js";
// After the sync modules: the file feed and they import each other.
import { cachedBlob, dropBlobs } from "../../worker/files/blob-cache.js";
import { fileFeed } from "../../worker/files/feed.js";
import { BUSY_TICK_MS, idleTickMs, inStep, nextTickMs, onlineWindowMs, recentlySeen, retryAfterMs, syncedJustNow } from "../../worker/sync/cadence.js";

const PEER_SITE = "b".repeat(16);
const clients: Client[] = [];

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

async function servicesWithPeer(id: string): Promise<Services> {
  const client = createClient({ url: ":memory:", intMode: "number" });
  clients.push(client);
  await migrate(client as unknown as Parameters<typeof migrate>[0]);
  const db = drizzle(client, { schema });
  await db.insert(schema.peers).values({ id, url: `http://127.0.0.1:1/${id}`, addedAt: 0, remoteSite: PEER_SITE });
  return { db, siteId: "a".repeat(16) } as unknown as Services;
}

async function checkpoints(s: Services, id: string) {
  const row = await s.db.select().from(schema.peers).where(eq(schema.peers.id, id)).get();
  return { pushed: row!.pushedSeq, pulled: row!.pulledSeq };
}

/** A deferred promise: the test decides when a scripted call returns. */
function gate<T>() {
  let open!: (v: T) => void;
  const wait = new Promise<T>((r) => (open = r));
  return { wait, open };
}

/** Entries are their own sequence numbers; the peer holds `peerHead` of them, two per page. */
function scriptedFeed(opts: { peerHead: number; ourHead: number; accept: boolean; fetchGate?: (since: number) => Promise<void>; stallMs?: number; page?: number }) {
  const log = { sent: [] as number[][], fetched: [] as number[], limits: [] as number[], applied: [] as number[] };
  const feed: Feed<number> = {
    checkpoints: { pushed: "pushedSeq", pulled: "pulledSeq", remote: "remoteSeq" },
    page: opts.page ?? 2,
    ...(opts.stallMs === undefined ? {} : { stallMs: opts.stallMs }),
    async read(_s, _p, since, limit) {
      const items = Array.from({ length: Math.max(0, Math.min(limit, opts.ourHead - since)) }, (_, i) => since + i + 1);
      return { items, last: items.at(-1) ?? since, more: since + items.length < opts.ourHead };
    },
    async send(_s, _p, items) {
      log.sent.push(items);
      return opts.accept;
    },
    async fetch(_s, _p, since, limit): Promise<FeedPage<number>> {
      log.fetched.push(since);
      log.limits.push(limit);
      await opts.fetchGate?.(since);
      const items = Array.from({ length: Math.max(0, Math.min(limit, opts.peerHead - since)) }, (_, i) => since + i + 1);
      return { site: PEER_SITE, items, last: items.at(-1) ?? since, head: opts.peerHead, more: since + items.length < opts.peerHead };
    },
    async apply(_s, _from, items) {
      log.applied.push(...items);
      return items.length;
    },
  };
  return { feed, log };
}

describe("replication loop", () => {
  it("a push the peer defers ends the round without moving the push checkpoint", async () => {
    const s = await servicesWithPeer("p1");
    const { feed, log } = scriptedFeed({ peerHead: 0, ourHead: 6, accept: false });
    const peer = (await s.db.select().from(schema.peers).get())!;
    expect(await pushFeed(s, peer, feed)).toBe(0);
    expect(log.sent, "one page offered, the rest left to the peer's pull").toEqual([[1, 2]]);
    expect((await checkpoints(s, "p1")).pushed).toBe(0);
  });

  it("an accepted push moves the checkpoint page by page", async () => {
    const s = await servicesWithPeer("p2");
    const { feed, log } = scriptedFeed({ peerHead: 0, ourHead: 5, accept: true });
    const peer = (await s.db.select().from(schema.peers).get())!;
    expect(await pushFeed(s, peer, feed)).toBe(5);
    expect(log.sent).toEqual([[1, 2], [3, 4], [5]]);
    expect((await checkpoints(s, "p2")).pushed).toBe(5);
  });

  it("a push starts with a small page and doubles it up to the feed's page, so the peer starts applying at once", async () => {
    const s = await servicesWithPeer("p-slow-push");
    const { feed, log } = scriptedFeed({ peerHead: 0, ourHead: 20_000, accept: true, page: 10_000 });
    const peer = (await s.db.select().from(schema.peers).get())!;
    expect(await pushFeed(s, peer, feed)).toBe(20_000);
    expect(log.sent.map((items) => items.length)).toEqual([1000, 2000, 4000, 8000, 5000]);
    expect((await checkpoints(s, "p-slow-push")).pushed).toBe(20_000);
  });

  it("a pull starts with a small page and doubles it up to the feed's page, so the puller starts applying at once", async () => {
    expect([0, 1, 2, 3, 4, 5, 60].map((page) => pageLimit(10_000, page))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    expect(pageLimit(500, 0), "a feed with smaller pages keeps them").toBe(500);
    const s = await servicesWithPeer("p-slow");
    const { feed, log } = scriptedFeed({ peerHead: 30_000, ourHead: 0, accept: true, page: 10_000 });
    const peer = (await s.db.select().from(schema.peers).get())!;
    expect(await pullFeed(s, peer, feed)).toBe(30_000);
    expect(log.limits).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect(log.fetched).toEqual([0, 1000, 3000, 7000, 15_000, 25_000]);
    expect((await checkpoints(s, "p-slow")).pulled).toBe(30_000);
  });

  it("a pull takes pushes over only while it streams pages, and then runs one more round for them", async () => {
    const s = await servicesWithPeer("p3");
    const first = gate<void>();
    const second = gate<void>();
    let peerHead = 6;
    const { feed, log } = scriptedFeed({
      get peerHead() {
        return peerHead;
      },
      ourHead: 0,
      accept: true,
      fetchGate: (since) => (since === 0 ? first.wait : since === 2 ? second.wait : Promise.resolve()),
    });
    const peer = (await s.db.select().from(schema.peers).get())!;
    const pulling = pullFeed(s, peer, feed);
    await Promise.resolve();
    // Waiting for the first page (the peer may be unreachable): a push is applied, not deferred.
    expect(pullTakesOver(PEER_SITE, feed as Feed<unknown>)).toBe(false);
    first.open();
    for (let i = 0; i < 100 && !log.fetched.includes(2); i++) await new Promise((r) => setTimeout(r, 1));
    expect(log.fetched).toContain(2);
    // Streaming: the push is left to the pull, which is asked for one more round.
    expect(pullTakesOver(PEER_SITE, feed as Feed<unknown>)).toBe(true);
    peerHead = 8; // what the deferred push carried
    second.open();
    expect(await pulling).toBe(8);
    expect(log.applied).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(log.fetched, "the extra round asked from the checkpoint once more").toEqual([0, 2, 4, 6, 8]);
    expect((await checkpoints(s, "p3")).pulled).toBe(8);
    expect(pullTakesOver(PEER_SITE, feed as Feed<unknown>), "no flight, nothing deferred").toBe(false);
  });

  it("no pull from a peer while it streams a pull from us (it would walk back over our own rows); pulls resume with its last page", async () => {
    const s = await servicesWithPeer("p6");
    const { feed, log } = scriptedFeed({ peerHead: 3, ourHead: 0, accept: true });
    const peer = async () => (await s.db.select().from(schema.peers).get())!;
    noteServed(PEER_SITE, feed as Feed<unknown>, true);
    expect(await pullFeed(s, await peer(), feed)).toBe(0);
    expect(log.fetched, "nothing asked of the peer").toEqual([]);
    noteServed("c".repeat(16), feed as Feed<unknown>, false);
    expect(await pullFeed(s, await peer(), feed), "another site's stream changes nothing").toBe(0);
    noteServed(PEER_SITE, feed as Feed<unknown>, false);
    expect(await pullFeed(s, await peer(), feed)).toBe(3);
    expect(log.applied).toEqual([1, 2, 3]);
    expect((await checkpoints(s, "p6")).pulled).toBe(3);
  });

  it("a peer's pull says how far it applied our entries: that kind's push checkpoint moves there, never back", async () => {
    const s = await servicesWithPeer("p5");
    const row = async () => (await s.db.select().from(schema.peers).get())!;
    await notePulled(s, PEER_SITE, 7, "files");
    expect(await row()).toMatchObject({ filesPushedSeq: 7, pushedSeq: 0 });
    await notePulled(s, PEER_SITE, 3, "files");
    expect((await row()).filesPushedSeq).toBe(7);
    await notePulled(s, PEER_SITE, 4, "rows");
    expect(await row()).toMatchObject({ filesPushedSeq: 7, pushedSeq: 4 });
    expect(await rowsReached(s, PEER_SITE)).toBe(4);
    expect(await rowsReached(s, "c".repeat(16)), "a site that is not our peer").toBe(0);
  });

  it("a flight that went silent (the runtime dropped the request that ran it) is taken over by the next caller", async () => {
    const s = await servicesWithPeer("p4");
    let calls = 0;
    const { feed, log } = scriptedFeed({
      peerHead: 4,
      ourHead: 0,
      accept: true,
      stallMs: 50,
      // The first flight's fetch never answers, as a promise of a cancelled request never settles.
      fetchGate: () => (calls++ === 0 ? new Promise<void>(() => undefined) : Promise.resolve()),
    });
    const peer = (await s.db.select().from(schema.peers).get())!;
    void pullFeed(s, peer, feed);
    expect(await pullFeed(s, peer, feed), "the second caller pulled everything itself").toBe(4);
    expect(log.applied).toEqual([1, 2, 3, 4]);
    expect((await checkpoints(s, "p4")).pulled).toBe(4);
    const now = (await s.db.select().from(schema.peers).get())!;
    expect(await pullFeed(s, now, feed), "and the silent flight no longer blocks anyone").toBe(0);
  });
});

describe("the file feed", () => {
  it("a pulled page carries small files' bytes like a push: kept when they match their hash, so the wake after the apply hands them on", async () => {
    const sha = (t: string) => createHash("sha256").update(t).digest("hex");
    const good = sha("small file");
    const forged = sha("what the hash says");
    const b64 = (t: string) => Buffer.from(t).toString("base64");
    const server: Server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ site: PEER_SITE, last: 0, head: 0, more: false, files: [], blobs: { [good]: b64("small file"), [forged]: b64("something else") } }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      dropBlobs();
      const s = await servicesWithPeer("p5");
      const peer = { ...(await s.db.select().from(schema.peers).get())!, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
      await fileFeed.fetch(s, peer, 0, 10, 0);
      expect(Buffer.from(cachedBlob(good) ?? []).toString()).toBe("small file");
      expect(cachedBlob(forged), "bytes that are not what their hash says are dropped").toBeUndefined();
    } finally {
      dropBlobs();
      await new Promise((r) => server.close(r));
    }
  });
});

describe("cadence", () => {
  it("the idle tick grows with the number of peers (each tick pulls from all), from 10 s to the agent's 30 s cap; online means seen within 2.5 ticks", () => {
    expect([0, 1, 3, 4, 9, 50].map(idleTickMs)).toEqual([10_000, 10_000, 10_000, 12_000, 27_000, 30_000]);
    expect(onlineWindowMs(2)).toBe(25_000);
    expect(onlineWindowMs(9)).toBe(67_500);
    expect(BUSY_TICK_MS).toBeLessThan(idleTickMs(0));
  });

  it("an in-step peer's row is written every other idle tick, and always shows online in between", () => {
    const now = 1_000_000;
    const ok = { failures: 0, lastError: null };
    const seenAgo = (ms: number) => ({ ...ok, lastSeenAt: now - ms });
    expect(recentlySeen(seenAgo(idleTickMs(1)), 1, now), "one tick ago").toBe(true);
    expect(recentlySeen(seenAgo(1.5 * idleTickMs(1)), 1, now), "an idle tick and a half ago").toBe(false);
    expect(recentlySeen({ ...ok, lastSeenAt: null }, 1, now), "never").toBe(false);
    expect(recentlySeen({ ...seenAgo(0), failures: 1 }, 1, now), "a failure to clear").toBe(false);
    expect(recentlySeen({ ...seenAgo(0), lastError: "timeout" }, 1, now), "an error to clear").toBe(false);
    // Skipped at one tick, written at the next: the row is at most two ticks old, inside the online window.
    expect(2 * idleTickMs(9)).toBeLessThan(onlineWindowMs(9));
  });

  it("a round that succeeded leaves the peer's row alone when it says the peer is fine and was synced within the last second", () => {
    const now = 1_000_000;
    const ok = { failures: 0, lastError: null, lastSyncAt: now - 999 };
    expect(syncedJustNow(ok, now)).toBe(true);
    expect(syncedJustNow({ ...ok, lastSyncAt: now - 1_000 }, now), "a second ago").toBe(false);
    expect(syncedJustNow({ ...ok, lastSyncAt: null }, now), "never").toBe(false);
    expect(syncedJustNow({ ...ok, failures: 1 }, now), "a failure to clear").toBe(false);
    expect(syncedJustNow({ ...ok, lastError: "timeout" }, now), "an error to clear").toBe(false);
  });

  it("a peer that keeps failing (more than a blip) is tried after the busy tick, doubling up to the idle tick; the next tick waits for the first one due", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 100].map((f) => retryAfterMs(f, 1))).toEqual([0, 0, 0, 2_000, 4_000, 8_000, 10_000, 10_000]);
    expect(retryAfterMs(7, 9), "as often as a quiet peer of a bigger mesh").toBe(idleTickMs(9));
    expect(nextTickMs(1, true, [25_000]), "something moved").toBe(BUSY_TICK_MS);
    expect(nextTickMs(1, false, []), "all quiet").toBe(idleTickMs(1));
    expect(nextTickMs(1, false, [7_000, 25_000]), "a failing peer due in 7 s").toBe(7_000);
    expect(nextTickMs(1, false, [0]), "one due now: a busy tick, never sooner").toBe(BUSY_TICK_MS);
  });

  it("a tick with a peer is only a ping when every checkpoint is at the heads it names; anything newer on either side needs the full round", () => {
    const at = { pushedSeq: 10, filesPushedSeq: 4, pulledSeq: 7, filesPulledSeq: 3 };
    const ours = { rows: 10, files: 4 };
    const theirs = { rows: 7, files: 3 };
    expect(inStep(at, ours, theirs)).toBe(true);
    expect(inStep(at, { rows: 9, files: 2 }, theirs), "checkpoints ahead of a head (a restored site) move nothing").toBe(true);
    expect(inStep(at, { ...ours, rows: 11 }, theirs), "a row of ours not pushed yet").toBe(false);
    expect(inStep(at, { ...ours, files: 5 }, theirs), "a file version of ours not pushed yet").toBe(false);
    expect(inStep(at, ours, { ...theirs, rows: 8 }), "a row of theirs not pulled yet").toBe(false);
    expect(inStep(at, ours, { ...theirs, files: 4 }), "a file version of theirs not pulled yet").toBe(false);
  });
});

describe("a tick with one peer", () => {
  /** A peer that answers only its ping, with what the test says; every request is logged. */
  async function pingingPeer(body: () => unknown): Promise<{ url: string; asked: string[]; server: Server }> {
    const asked: string[] = [];
    const server = createServer((req, res) => {
      asked.push(req.url ?? "");
      res.writeHead(req.url === "/api/sync/ping" ? 200 : 404, { "content-type": "application/json" });
      res.end(JSON.stringify(req.url === "/api/sync/ping" ? body() : { error: "not here" }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked, server };
  }
  const ping = (seq: number, filesSeq: number) => ({ site: PEER_SITE, name: "b", version: "0", clock: { wallMs: 0, hlc: "0.0" }, uptime: 1, seq, filesSeq });

  it("is only a ping when both sites are in step, and a full round when anything is newer or the ping makes no sense", async () => {
    let answer: unknown = ping(7, 3);
    const peer = await pingingPeer(() => answer);
    try {
      const s = await servicesWithPeer("t1");
      await s.db.update(schema.peers).set({ url: peer.url, pushedSeq: 10, filesPushedSeq: 4, pulledSeq: 7, filesPulledSeq: 3 });
      const row = async () => (await s.db.select().from(schema.peers).get())!;
      const ours = { rows: 10, files: 4 };

      expect(await tickPeer(s, await row(), ours, 1)).toEqual({ sent: 0, applied: 0, files: { sent: 0, applied: 0 }, failed: false });
      expect(peer.asked).toEqual(["/api/sync/ping"]);
      expect(await row(), "seen, without a round").toMatchObject({ failures: 0, lastError: null, lastSeenAt: expect.any(Number) });
      // Seen a moment ago: the next in-step ping leaves the row alone; seen an idle tick and a half ago, it is written again.
      const seenAt = (await row()).lastSeenAt!;
      await tickPeer(s, await row(), ours, 1);
      expect((await row()).lastSeenAt, "not written again a moment later").toBe(seenAt);
      await s.db.update(schema.peers).set({ lastSeenAt: Date.now() - 1.5 * idleTickMs(1) });
      await tickPeer(s, await row(), ours, 1);
      expect((await row()).lastSeenAt!, "written again when it would soon look offline").toBeGreaterThan(Date.now() - idleTickMs(1));

      // The full round needs this site's databases, which this test does not give it: it fails
      // and says so on the peer's row, which is how the test sees that it ran.
      answer = ping(8, 3);
      // The tick counts on `failed` to know the peer's new failure count without reading it again.
      expect((await tickPeer(s, await row(), ours, 1)).failed).toBe(true);
      expect((await row()).failures, "a row of theirs not pulled yet").toBe(1);

      await s.db.update(schema.peers).set({ failures: 0 });
      answer = { site: PEER_SITE, seq: "many" };
      await tickPeer(s, await row(), ours, 1);
      expect((await row()).failures, "a ping that does not parse").toBe(1);

      await s.db.update(schema.peers).set({ failures: 0 });
      answer = ping(7, 3);
      const before = Date.now();
      await tickPeer(s, await row(), { rows: 11, files: 4 }, 1);
      expect((await row()).failures, "a row of ours not pushed yet").toBe(1);
      expect(peer.asked.filter((u) => u !== "/api/sync/ping"), "only pings ever reached the peer").toEqual([]);

      // One failed round is a blip: the next goes ahead. A peer that keeps failing is due a busy
      // tick after its last round was tried, not before.
      expect(roundDueInMs(await row(), 1, Date.now()), "a blip").toBe(0);
      const away = { ...(await row()), failures: 3 };
      expect(roundDueInMs(away, 1, before)).toBeGreaterThan(0);
      expect(roundDueInMs(away, 1, Date.now() + retryAfterMs(3, 1))).toBe(0);
      expect(roundDueInMs({ ...(await row()), failures: 0 }, 1, Date.now()), "a peer that answers is due at every tick").toBe(0);
    } finally {
      peer.server.close();
    }
  });
});
