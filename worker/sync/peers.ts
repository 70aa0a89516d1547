/**
 * Replication with peers: push our changes the moment we have them, pull theirs as
 * anti-entropy. Both directions keep a checkpoint per peer (CouchDB-style), so a peer that was
 * away resumes where it stopped instead of rescanning, and since every delivery is idempotent,
 * a lost acknowledgement only costs a duplicate.
 */
import { and, eq, gte, lt, max, sql } from "drizzle-orm";
import type { AppliedBatch } from "../../functions/db/apply.js";
import { applyRemote, captureLocal, type CaptureResult } from "../../functions/db/engine.js";
import { ApplyResultSchema, ChangesPageSchema, MAX_CHANGES_PER_BATCH, type ChangeBatch, type RowChange } from "../../functions/wire/database.js";
import { PingSchema } from "../../functions/wire/ping.js";
import { fileFeed } from "../files/feed.js";
import type { Services } from "../services.js";
import { peers } from "../state/schema.js";
import { logEvent } from "./events.js";
import { inStep, recentlySeen, retryAfterMs, syncedJustNow, type Heads } from "./cadence.js";
import { knownPeers } from "./known-peers.js";
import { readRowPage } from "./row-pages.js";
import { call, noteServed, postJson, pullFeed, pullTakesOver, pushFeed, type Feed } from "./feed.js";

export type Peer = typeof peers.$inferSelect;

export async function listPeers(s: Services): Promise<Peer[]> {
  return s.db.select().from(peers).all();
}

/** Database rows as a replication feed (worker/sync/feed.ts); files are the other feed. */
const rowFeed: Feed<RowChange> = {
  checkpoints: { pushed: "pushedSeq", pulled: "pulledSeq", remote: "remoteSeq" },
  page: MAX_CHANGES_PER_BATCH,
  async read(s, peer, since, limit) {
    const batch = await readRowPage(s, { since, limit, reader: peer.remoteSite === null ? null : { site: peer.remoteSite, hints: true } });
    return { items: batch.changes, last: batch.last, more: batch.more };
  },
  async send(s, peer, items) {
    // Our other peers get the same rows from us: the receiver need not forward them there.
    const also = (await knownPeers(s)).map((p) => p.site).filter((x): x is string => x !== null && x !== peer.remoteSite && x !== s.siteId);
    const body: ChangeBatch = { from: s.siteId, changes: items, ...(also.length ? { also } : {}) };
    return !ApplyResultSchema.parse(await call(`${peer.url}/api/sync/database/apply`, postJson(body))).deferred;
  },
  async fetch(s, peer, since, limit, applied) {
    const body = ChangesPageSchema.parse(await call(`${peer.url}/api/sync/database/changes?since=${since}&limit=${limit}&for=${s.siteId}&applied=${applied}`));
    return { site: body.site, items: body.changes, last: body.last, head: body.head, more: body.more };
  },
  async apply(s, from, items) {
    return (await applyPulled(s, from, items)).applied;
  },
};

export async function markPeer(s: Services, peer: Peer, error: unknown): Promise<void> {
  const now = Date.now();
  if (error === null) {
    await s.db.update(peers).set({ lastSeenAt: now, lastSyncAt: now, lastError: null, failures: 0 }).where(eq(peers.id, peer.id));
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  await s.db.update(peers).set({ lastError: message, failures: sql`${peers.failures} + 1` }).where(eq(peers.id, peer.id));
  // Log the first failure of a run and every tenth after it, not every tick.
  if (peer.failures % 10 === 0) await logEvent(s, "warn", "peer", `${peer.name ?? peer.url}: ${message}`);
}

export type FeedKind = "rows" | "files";
const FEEDS = { rows: rowFeed, files: fileFeed } as const;

/** Whether a push from site `from` can be left to our running pull from it (worker/sync/feed.ts). */
export function leaveToPull(from: string, kind: FeedKind): boolean {
  return pullTakesOver(from, FEEDS[kind] as Feed<unknown>);
}

/** A page of one kind was served to `site` (its pull, more behind it or not): see noteServed in worker/sync/feed.ts. */
export function servedPage(site: string, kind: FeedKind, more: boolean): void {
  noteServed(site, FEEDS[kind] as Feed<unknown>, more);
}

/** What a round moved, and whether it failed (the peer's failure count went up by one). */
type RoundResult = { sent: number; applied: number; files: { sent: number; applied: number }; failed: boolean };
const NOTHING_MOVED: RoundResult = { sent: 0, applied: 0, files: { sent: 0, applied: 0 }, failed: false };

/** One round with one peer: push, then pull, rows and files side by side (neither waits for the other). */
export async function syncPeer(
  s: Services,
  peer: Peer,
  direction: { push: boolean; pull: boolean },
  kinds: readonly FeedKind[] = ["rows", "files"],
): Promise<RoundResult> {
  lastRound.set(peer.id, Date.now());
  const round = async <T>(kind: FeedKind, feed: Feed<T>) =>
    kinds.includes(kind)
      ? { sent: direction.push ? await pushFeed(s, peer, feed) : 0, applied: direction.pull ? await pullFeed(s, peer, feed) : 0 }
      : { sent: 0, applied: 0 };
  // Settled, not all: this request must outlive every flight it started, or the runtime drops
  // the ones still running when it ends, and whoever waits on them waits for nothing (worker/shared.ts).
  const [rows, files] = await Promise.allSettled([round("rows", FEEDS.rows), round("files", FEEDS.files)]);
  if (rows.status === "fulfilled" && files.status === "fulfilled") {
    if (!syncedJustNow(peer, Date.now())) await markPeer(s, peer, null);
    return { ...rows.value, files: files.value, failed: false };
  }
  await markPeer(s, peer, [rows, files].find((r): r is PromiseRejectedResult => r.status === "rejected")?.reason);
  return { ...NOTHING_MOVED, failed: true };
}

/**
 * When this isolate last started a round with each peer (by id): a push or a tick's full round.
 * A tick's ping alone needs no entry: only a peer without failures gets it, and that peer is due
 * whatever the entry says; a ping that fails goes on to the full round.
 */
const lastRound = new Map<string, number>();

/**
 * In how many ms the next round with this peer (one of `peers`) is due: 0 now, later for one
 * that keeps failing (retryAfterMs). Ticks and pushes both wait for it: a peer that is away cost
 * every change a page read, a failed call and a write, beside the push to the peers that answer.
 */
export function roundDueInMs(peer: Peer, peers: number, now: number): number {
  const last = lastRound.get(peer.id);
  return last === undefined ? 0 : Math.max(0, last + retryAfterMs(peer.failures, peers) - now);
}

/**
 * A tick's round with one peer: only a ping when the two sites are in step (its heads against
 * our checkpoints, see worker/sync/cadence.ts), the full round otherwise. An idle round read
 * empty pages of both feeds on both sites: ~40 statements and four requests per peer, every
 * idle tick (B7).
 */
export async function tickPeer(s: Services, peer: Peer, ours: Heads, peerCount: number): Promise<RoundResult> {
  if (peer.remoteSite !== null && peer.failures === 0) {
    try {
      const ping = PingSchema.parse(await call(`${peer.url}/api/sync/ping`));
      if (ping.site === peer.remoteSite && inStep(peer, ours, { rows: ping.seq, files: ping.filesSeq })) {
        if (!recentlySeen(peer, peerCount, Date.now())) await markPeer(s, peer, null);
        return NOTHING_MOVED;
      }
    } catch {
      // The full round finds out what is wrong, and reports it.
    }
  }
  return syncPeer(s, peer, { push: true, pull: true });
}

/**
 * Pushes one kind of change (or both) to every peer now. A push already running to a peer is
 * asked for one more round instead (worker/sync/feed.ts), so a change captured while it runs is
 * not left for the next tick. A peer that keeps failing is skipped until its next round is due
 * (roundDueInMs); it pulls what it missed when it is back. `listed`: the peer list, when the
 * caller read it already.
 */
export async function pushAll(s: Services, kinds: readonly FeedKind[] = ["rows", "files"], listed: Promise<Peer[]> = listPeers(s)): Promise<void> {
  const all = await listed;
  const now = Date.now();
  const due = all.filter((p) => roundDueInMs(p, all.length, now) === 0);
  await Promise.all(due.flatMap((p) => kinds.map((kind) => syncPeer(s, p, { push: true, pull: false }, [kind]))));
}

/**
 * Captures the app's latest writes; what that finds goes to every peer at once (`push`, for the
 * caller to run in the background). Whichever route captures a write owns its push: the agent's
 * own capture call then finds nothing left, and a write captured by a peer's pull used to wait
 * for the next tick to reach everyone else (B3: 2–3 s). `pending`: see captureLocal.
 */
export async function captureAndPush(s: Services, pending = false): Promise<{ result: CaptureResult; push: Promise<void> | null }> {
  // Writes known to be waiting will be pushed: the peer list is read beside the capture, not after it.
  const listed = pending ? listPeers(s) : null;
  listed?.catch(() => undefined);
  const result = await captureLocal(s.appDb, s.engine, { pending });
  return { result, push: result.captured > 0 ? pushAll(s, ["rows"], listed ?? listPeers(s)) : null };
}

/**
 * A peer that pulled our entries of one kind up to `applied` holds them: our pushes to it may
 * skip that far (it pulls what it lacks, we push what is new; neither sends the other's pages again).
 */
export async function notePulled(s: Services, site: string, applied: number, kind: FeedKind): Promise<void> {
  await pushedUpTo(s, site, kind, applied, 0);
}

/** Moves our push checkpoint for `site` to `upTo`, if it had reached `from` (0: whatever it was). */
async function pushedUpTo(s: Services, site: string, kind: FeedKind, upTo: number, from: number): Promise<void> {
  if (upTo <= from) return;
  const key = FEEDS[kind].checkpoints.pushed;
  await s.db
    .update(peers)
    .set({ [key]: upTo })
    .where(and(eq(peers.remoteSite, site), lt(peers[key], upTo), gte(peers[key], from)));
}

/**
 * Applies a page of rows pulled from a peer. When it changed nothing here beyond what the peer
 * sent, the sequences it took are all rows that peer holds: our push checkpoint for it moves
 * past them, as long as it had reached them. Otherwise our next push reads them all only to skip
 * them: after an initial sync, 116,000 rows that a site stopped soon after read before its first
 * pull when it came back (B8). Pushes to us are left out: each is small, and this would cost
 * every one of them a write of the peer's row.
 */
export async function applyPulled(s: Services, from: string, changes: RowChange[]): Promise<AppliedBatch & CaptureResult> {
  const result = await applyRemote(s.appDb, s.engine, { from }, changes);
  if (result.unheld === 0) await pushedUpTo(s, from, "rows", result.seq, result.seqBase);
  return result;
}

/** How far our rows have reached that site, by its pulls or our pushes. */
export async function rowsReached(s: Services, site: string): Promise<number> {
  const row = await s.db.select({ pushed: max(peers.pushedSeq) }).from(peers).where(eq(peers.remoteSite, site)).get();
  return row?.pushed ?? 0;
}
